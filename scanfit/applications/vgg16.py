"""`keras.applications.vgg16`: `VGG16`, and its `preprocess_input` ('caffe' mode) and `decode_predictions`."""
from scanfit.applications import imagenet_utils
from scanfit.applications.imagenet_utils import decode_predictions
from scanfit.applications.vgg import build_vgg


def VGG16(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None, classes=1000,  # noqa: N802
          classifier_activation="softmax", name="vgg16"):
    """Keras's VGG16: five blocks of 3 x 3 convolutions and max pooling, then (`include_top`) two Dense(4096) and
    the `classes`-way classifier; without the top, `pooling` None, 'avg' or 'max'. `weights`: 'imagenet'
    (Keras's file, downloaded once), None (random), or a weights file's path."""
    return build_vgg("vgg16", include_top, weights, input_tensor, input_shape, pooling, classes, classifier_activation,
                     name)


def preprocess_input(x, data_format=None):
    """Images (RGB, 0-255) as VGG16 takes them: BGR, centred on ImageNet's channel means (see
    `imagenet_utils.preprocess_input`)."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="caffe")


__all__ = ["VGG16", "decode_predictions", "preprocess_input"]
