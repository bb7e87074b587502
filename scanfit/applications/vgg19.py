"""`keras.applications.vgg19`: `VGG19`, its `preprocess_input` ('caffe' mode) and `decode_predictions`."""
from scanfit.applications.imagenet_utils import decode_predictions
from scanfit.applications.vgg import VGG19, preprocess_input

__all__ = ["VGG19", "decode_predictions", "preprocess_input"]
