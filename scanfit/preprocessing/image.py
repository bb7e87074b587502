"""tf.keras 2's `keras.preprocessing.image`: `load_img`, `img_to_array`, `array_to_img`, `save_img` (the same
functions as in `keras.utils`)."""
from scanfit.utils.image_files import array_to_img, img_to_array, load_img, save_img

__all__ = ["array_to_img", "img_to_array", "load_img", "save_img"]
