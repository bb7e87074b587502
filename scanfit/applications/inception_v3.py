"""InceptionV3 (Szegedy et al., 2015), as Keras builds it: the same layers, names (``mixed0`` ... ``mixed10``,
which Chollet's DeepDream reads) and weights, so that Keras's ImageNet weights load into it. Its inputs are 299 x
299 by default (at least 75 x 75), prepared by `preprocess_input` ('tf' mode: scaled to [-1, 1]).
"""
from scanfit import layers
from scanfit.applications import imagenet_utils
from scanfit.applications.imagenet_utils import decode_predictions

_BASE = "https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/"
# (file name, URL, MD5) of Keras's ImageNet weights: with the top layers, without.
WEIGHT_FILES = (
    ("inception_v3_weights_tf_dim_ordering_tf_kernels.h5",
     _BASE + "inception_v3_weights_tf_dim_ordering_tf_kernels.h5", "9a0d58056eeedaa3f26cb7ebd46da564"),
    ("inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",
     _BASE + "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5", "bcbd6486424b2319ff4ef7d526e38f63"),
)


def InceptionV3(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,  # noqa: N802
                classes=1000, classifier_activation="softmax", name="inception_v3"):
    """Keras's InceptionV3: a stem of convolutions and poolings, eleven Inception blocks (``mixed0`` to
    ``mixed10``), then (`include_top`) global average pooling and the `classes`-way classifier; without the top,
    `pooling` None, 'avg' or 'max'. `weights`: 'imagenet' (Keras's file, downloaded once), None (random), or a
    weights file's path."""
    imagenet_utils.check_weights_argument(weights, include_top, classes, classifier_activation)
    inputs = imagenet_utils.image_input(input_tensor, input_shape, include_top, weights, pooling, default_size=299,
                                        min_size=75)
    x = _conv_bn(inputs, 32, 3, 3, strides=(2, 2), padding="valid")
    x = _conv_bn(x, 32, 3, 3, padding="valid")
    x = _conv_bn(x, 64, 3, 3)
    x = layers.MaxPooling2D((3, 3), strides=(2, 2))(x)
    x = _conv_bn(x, 80, 1, 1, padding="valid")
    x = _conv_bn(x, 192, 3, 3, padding="valid")
    x = layers.MaxPooling2D((3, 3), strides=(2, 2))(x)
    for block, pool_filters in enumerate((32, 64, 64)):  # mixed0-2: 35 x 35
        x = _block_35(x, pool_filters, f"mixed{block}")
    x = _reduction(x, [[(384, 3, 3, (2, 2), "valid")],
                       [(64, 1, 1), (96, 3, 3), (96, 3, 3, (2, 2), "valid")]], "mixed3")
    for block, width in ((4, 128), (5, 160), (6, 160), (7, 192)):  # mixed4-7: 17 x 17
        x = _block_17(x, width, f"mixed{block}")
    x = _reduction(x, [[(192, 1, 1), (320, 3, 3, (2, 2), "valid")],
                       [(192, 1, 1), (192, 1, 7), (192, 7, 1), (192, 3, 3, (2, 2), "valid")]], "mixed8")
    for block in (9, 10):  # 8 x 8
        x = _block_8(x, f"mixed{block}", f"mixed9_{block - 9}")
    x = imagenet_utils.classifier_top(x, include_top, pooling, classes, classifier_activation)
    return imagenet_utils.pretrained_model(inputs, x, name, weights, WEIGHT_FILES[0 if include_top else 1])


preprocess_input = imagenet_utils.preprocess_tf


def _conv_bn(x, filters, rows, columns, strides=(1, 1), padding="same"):
    """A convolution without bias, batch normalization without scale, relu (Keras's automatic names)."""
    x = layers.Conv2D(filters, (rows, columns), strides=strides, padding=padding, use_bias=False)(x)
    x = layers.BatchNormalization(axis=3, scale=False)(x)
    return layers.Activation("relu")(x)


def _chain(x, convolutions):
    """`_conv_bn` after `_conv_bn`, each given as (filters, rows, columns[, strides, padding])."""
    for convolution in convolutions:
        x = _conv_bn(x, *convolution)
    return x


def _average_branch(x, filters):
    return _conv_bn(layers.AveragePooling2D((3, 3), strides=(1, 1), padding="same")(x), filters, 1, 1)


def _block_35(x, pool_filters, name):
    branches = [_chain(x, [(64, 1, 1)]), _chain(x, [(48, 1, 1), (64, 5, 5)]),
                _chain(x, [(64, 1, 1), (96, 3, 3), (96, 3, 3)])]
    return layers.concatenate(branches + [_average_branch(x, pool_filters)], axis=3, name=name)


def _block_17(x, width, name):
    branches = [_chain(x, [(192, 1, 1)]), _chain(x, [(width, 1, 1), (width, 1, 7), (192, 7, 1)]),
                _chain(x, [(width, 1, 1), (width, 7, 1), (width, 1, 7), (width, 7, 1), (192, 1, 7)])]
    return layers.concatenate(branches + [_average_branch(x, 192)], axis=3, name=name)


def _reduction(x, chains, name):
    """Strided branches (`chains`) and a strided max pooling, side by side."""
    branches = [_chain(x, chain) for chain in chains]
    return layers.concatenate(branches + [layers.MaxPooling2D((3, 3), strides=(2, 2))(x)], axis=3, name=name)


def _block_8(x, name, split_name):
    single = _conv_bn(x, 320, 1, 1)
    split = _conv_bn(x, 384, 1, 1)
    split = layers.concatenate([_conv_bn(split, 384, 1, 3), _conv_bn(split, 384, 3, 1)], axis=3, name=split_name)
    double = _chain(x, [(448, 1, 1), (384, 3, 3)])
    double = layers.concatenate([_conv_bn(double, 384, 1, 3), _conv_bn(double, 384, 3, 1)], axis=3)
    return layers.concatenate([single, split, double, _average_branch(x, 192)], axis=3, name=name)


__all__ = ["InceptionV3", "decode_predictions", "preprocess_input"]
