"""Xception (Chollet, 2017), as Keras builds it: the same layers, names and weights, so that Keras's ImageNet
weights load into it (Hands-on ML's transfer learning on flowers). Its inputs are 299 x 299 by default (at least
71 x 71), prepared by `preprocess_input` ('tf' mode: scaled to [-1, 1]).
"""
from scanfit import layers
from scanfit.applications import imagenet_utils
from scanfit.applications.imagenet_utils import decode_predictions

_BASE = "https://storage.googleapis.com/tensorflow/keras-applications/xception/"
# (file name, URL, MD5) of Keras's ImageNet weights: with the top layers, without.
WEIGHT_FILES = (
    ("xception_weights_tf_dim_ordering_tf_kernels.h5", _BASE + "xception_weights_tf_dim_ordering_tf_kernels.h5",
     "0a58e3b7378bc2990ea3b43d5981f1f6"),
    ("xception_weights_tf_dim_ordering_tf_kernels_notop.h5",
     _BASE + "xception_weights_tf_dim_ordering_tf_kernels_notop.h5", "b0042744bf5b25fce3cb969f33bebb97"),
)


def Xception(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,  # noqa: N802
             classes=1000, classifier_activation="softmax", name="xception"):
    """Keras's Xception: an entry flow of convolutions and three strided blocks, eight middle blocks of
    separable convolutions, an exit flow, then (`include_top`) global average pooling and the `classes`-way
    classifier; without the top, `pooling` None, 'avg' or 'max'. `weights`: 'imagenet' (Keras's file,
    downloaded once), None (random), or a weights file's path."""
    imagenet_utils.check_weights_argument(weights, include_top, classes, classifier_activation)
    inputs = imagenet_utils.image_input(input_tensor, input_shape, include_top, weights, pooling, default_size=299,
                                        min_size=71)
    x = _conv_bn_relu(inputs, 32, "block1_conv1", strides=(2, 2))
    x = _conv_bn_relu(x, 64, "block1_conv2")
    for block, filters in ((2, 128), (3, 256), (4, 728)):
        x = _strided_block(x, (filters, filters), block, first_relu=block > 2)
    for block in range(5, 13):
        residual = x
        for conv in (1, 2, 3):
            x = layers.Activation("relu", name=f"block{block}_sepconv{conv}_act")(x)
            x = _separable_bn(x, 728, f"block{block}_sepconv{conv}")
        x = layers.add([x, residual])
    x = _strided_block(x, (728, 1024), 13, first_relu=True)
    for conv, filters in ((1, 1536), (2, 2048)):
        x = _separable_bn(x, filters, f"block14_sepconv{conv}")
        x = layers.Activation("relu", name=f"block14_sepconv{conv}_act")(x)
    x = imagenet_utils.classifier_top(x, include_top, pooling, classes, classifier_activation)
    return imagenet_utils.pretrained_model(inputs, x, name, weights, WEIGHT_FILES[0 if include_top else 1])


preprocess_input = imagenet_utils.preprocess_tf


def _conv_bn_relu(x, filters, name, strides=(1, 1)):
    x = layers.Conv2D(filters, (3, 3), strides=strides, use_bias=False, name=name)(x)
    x = layers.BatchNormalization(axis=-1, name=f"{name}_bn")(x)
    return layers.Activation("relu", name=f"{name}_act")(x)


def _separable_bn(x, filters, name):
    x = layers.SeparableConv2D(filters, (3, 3), padding="same", use_bias=False, name=name)(x)
    return layers.BatchNormalization(axis=-1, name=f"{name}_bn")(x)


def _strided_block(x, filters, block, first_relu):
    """Two separable convolutions (relu before each, but the first of block 2) and a strided max pooling, added
    to a strided 1 x 1 convolution of the input (of the second convolution's width)."""
    residual = layers.Conv2D(filters[1], (1, 1), strides=(2, 2), padding="same", use_bias=False)(x)
    residual = layers.BatchNormalization(axis=-1)(residual)
    for conv, width in ((1, filters[0]), (2, filters[1])):
        if conv == 2 or first_relu:
            x = layers.Activation("relu", name=f"block{block}_sepconv{conv}_act")(x)
        x = _separable_bn(x, width, f"block{block}_sepconv{conv}")
    x = layers.MaxPooling2D((3, 3), strides=(2, 2), padding="same", name=f"block{block}_pool")(x)
    return layers.add([x, residual])


__all__ = ["Xception", "decode_predictions", "preprocess_input"]
