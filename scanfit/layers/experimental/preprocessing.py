"""tf.keras 2's `keras.layers.experimental.preprocessing`: the preprocessing layers scanfit has, under the path
that tf.keras 2.1-2.5 tutorials (Hands-on ML's second edition among them) import them from."""
from scanfit.layers.augmentation import (
    RandomBrightness,
    RandomContrast,
    RandomFlip,
    RandomRotation,
    RandomTranslation,
    RandomZoom,
)
from scanfit.layers.category_encoding import CategoryEncoding
from scanfit.layers.discretization import Discretization
from scanfit.layers.hashed_crossing import HashedCrossing
from scanfit.layers.hashing import Hashing
from scanfit.layers.index_lookup import IntegerLookup, StringLookup
from scanfit.layers.normalization import Normalization
from scanfit.layers.resizing import CenterCrop, RandomCrop, Resizing
from scanfit.layers.simple import Rescaling
from scanfit.layers.text_vectorization import TextVectorization

__all__ = [
    "CategoryEncoding", "CenterCrop", "Discretization", "HashedCrossing", "Hashing", "IntegerLookup", "Normalization",
    "RandomBrightness",
    "RandomContrast", "RandomCrop", "RandomFlip", "RandomRotation", "RandomTranslation", "RandomZoom", "Rescaling",
    "Resizing", "StringLookup", "TextVectorization",
]
