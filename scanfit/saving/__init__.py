"""Model files and configs (`keras.saving`)."""
