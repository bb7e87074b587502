"""`keras.applications`: Keras's ImageNet models with their names, layers and weights (`VGG16`, `VGG19`), each
module with its `preprocess_input` and `decode_predictions`."""
from scanfit.applications import imagenet_utils, vgg16, vgg19
from scanfit.applications.vgg16 import VGG16
from scanfit.applications.vgg19 import VGG19

__all__ = ["VGG16", "VGG19", "imagenet_utils", "vgg16", "vgg19"]
