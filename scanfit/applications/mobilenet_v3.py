"""MobileNetV3Small and MobileNetV3Large (Howard et al., 2019), as Keras builds them: the same layers, names and
weights, so that Keras's ImageNet weights load into them. They take images of 0-255 pixels: with
`include_preprocessing` (the default) their first layer scales them to [-1, 1], so `preprocess_input` returns
its input as it is (Keras's placeholder). `alpha` scales the blocks' widths; `minimalistic` drops the
squeeze-and-excitation, the hard-swish and the 5 x 5 kernels.
"""
import warnings

from scanfit import layers
from scanfit.applications import imagenet_utils
from scanfit.applications.imagenet_utils import decode_predictions

WEIGHTS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v3/"
# MD5 of Keras's ImageNet weight files, by Keras's name of the model: (with the top layers, without).
WEIGHT_HASHES = {
    "large_224_0.75_float": ("765b44a33ad4005b3ac83185abf1d0eb", "40af19a13ebea4e2ee0c676887f69a2e"),
    "large_224_1.0_float": ("59e551e166be033d707958cf9e29a6a7", "07fb09a5933dd0c8eaafa16978110389"),
    "large_minimalistic_224_1.0_float": ("675e7b876c45c57e9e63e6d90a36599c", "ec5221f64a2f6d1ef965a614bdae7973"),
    "small_224_0.75_float": ("cb65d4e5be93758266aa0a7f2c6708b7", "ebdb5cc8e0b497cd13a7c275d475c819"),
    "small_224_1.0_float": ("8768d4c2e7dee89b9d02b2d03d65d862", "d3e8ec802a04aa4fc771ee12a9a9b836"),
    "small_minimalistic_224_1.0_float": ("99cd97fb2fcdad2bf028eb838de69e37", "cde8136e733e811080d9fcd8a252f7e4"),
}
# The inverted residual blocks: (expansion, output filters, kernel size, stride, squeeze-excite, activation).
# A kernel size of None is the model's (5, or 3 when minimalistic); squeeze-excite True is the model's (none
# when minimalistic); activation "model" is the model's (hard-swish, or relu when minimalistic).
BLOCKS = {
    "small": ((1, 16, 3, 2, True, "relu"), (72 / 16, 24, 3, 2, False, "relu"), (88 / 24, 24, 3, 1, False, "relu"),
              (4, 40, None, 2, True, "model"), (6, 40, None, 1, True, "model"), (6, 40, None, 1, True, "model"),
              (3, 48, None, 1, True, "model"), (3, 48, None, 1, True, "model"), (6, 96, None, 2, True, "model"),
              (6, 96, None, 1, True, "model"), (6, 96, None, 1, True, "model")),
    "large": ((1, 16, 3, 1, False, "relu"), (4, 24, 3, 2, False, "relu"), (3, 24, 3, 1, False, "relu"),
              (3, 40, None, 2, True, "relu"), (3, 40, None, 1, True, "relu"), (3, 40, None, 1, True, "relu"),
              (6, 80, 3, 2, False, "model"), (2.5, 80, 3, 1, False, "model"), (2.3, 80, 3, 1, False, "model"),
              (2.3, 80, 3, 1, False, "model"), (6, 112, 3, 1, True, "model"), (6, 112, 3, 1, True, "model"),
              (6, 160, None, 2, True, "model"), (6, 160, None, 1, True, "model"), (6, 160, None, 1, True, "model")),
}
LAST_POINT_FILTERS = {"small": 1024, "large": 1280}  # the 1 x 1 convolution before the classifier
SE_RATIO = 0.25


def build_mobilenet_v3(model_type, input_shape=None, alpha=1.0, minimalistic=False, include_top=True,
                       weights="imagenet", input_tensor=None, classes=1000, pooling=None, dropout_rate=0.2,
                       classifier_activation="softmax", include_preprocessing=True, name=None):
    """Keras's MobileNetV3 `model_type` ('small' or 'large'): (`include_preprocessing`) a rescaling to [-1, 1], a
    strided 3 x 3 convolution, the inverted residual blocks, a 1 x 1 convolution to six times the last block's
    width, then (`include_top`) global average pooling, a 1 x 1 convolution, dropout (`dropout_rate`) and a
    1 x 1 convolution to `classes` logits; without the top, `pooling` None, 'avg' or 'max'. Any image size of at
    least 32 x 32 is taken, with the top too. `weights`: 'imagenet' (Keras's file for this `alpha` and
    `minimalistic`, downloaded once), None (random), or a weights file's path."""
    imagenet_utils.check_weights_argument(weights, include_top, classes, classifier_activation)
    # The size stays open by default even with the top (global pooling comes before the classifier): the input
    # is checked as a model without its top is.
    inputs = imagenet_utils.image_input(input_tensor, input_shape, False, weights, pooling)
    if weights == "imagenet":
        if alpha not in ((1.0,) if minimalistic else (0.75, 1.0)):
            raise ValueError("ImageNet's weights exist for alpha 0.75 or 1.0, and 1.0 only when minimalistic; got "
                             f"alpha={alpha!r}, minimalistic={minimalistic!r}.")
        rows, columns = inputs.shape[1:3]
        if rows != columns or rows != 224:
            warnings.warn(f"The image size {(rows, columns)} is not 224 x 224: the weights for 224 x 224 images are "
                          "loaded, as Keras does.", stacklevel=3)
    kernel, activation, squeeze_excite = (3, _relu, False) if minimalistic else (5, _hard_swish, True)
    x = inputs
    if include_preprocessing:
        x = layers.Rescaling(scale=1.0 / 127.5, offset=-1.0)(x)
    x = layers.Conv2D(16, kernel_size=3, strides=(2, 2), padding="same", use_bias=False, name="conv")(x)
    x = layers.BatchNormalization(axis=-1, epsilon=1e-3, momentum=0.999, name="conv_bn")(x)
    x = activation(x)
    for block_id, (expansion, filters, size, stride, se, act) in enumerate(BLOCKS[model_type]):
        x = _inverted_residual(x, expansion, _depth(filters * alpha), size or kernel, stride, se and squeeze_excite,
                               activation if act == "model" else _relu, block_id)
    last_point = LAST_POINT_FILTERS[model_type]
    last_point = _depth(last_point * alpha) if alpha > 1.0 else last_point
    x = layers.Conv2D(_depth(x.shape[-1] * 6), kernel_size=1, padding="same", use_bias=False, name="conv_1")(x)
    x = layers.BatchNormalization(axis=-1, epsilon=1e-3, momentum=0.999, name="conv_1_bn")(x)
    x = activation(x)
    if include_top:
        x = layers.GlobalAveragePooling2D(keepdims=True)(x)
        x = layers.Conv2D(last_point, kernel_size=1, padding="same", use_bias=True, name="conv_2")(x)
        x = activation(x)
        if dropout_rate > 0:
            x = layers.Dropout(dropout_rate)(x)
        x = layers.Conv2D(classes, kernel_size=1, padding="same", name="logits")(x)
        x = layers.Flatten()(x)
        x = layers.Activation(activation=classifier_activation, name="predictions")(x)
    elif pooling == "avg":
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    elif pooling == "max":
        x = layers.GlobalMaxPooling2D(name="max_pool")(x)
    kind = f"{model_type}{'_minimalistic' if minimalistic else ''}_224_{float(alpha)}_float"
    file_name = f"weights_mobilenet_v3_{kind}{'' if include_top else '_no_top_v2'}.h5"
    hashes = WEIGHT_HASHES.get(kind, (None, None))
    return imagenet_utils.pretrained_model(inputs, x, name, weights,
                                           (file_name, WEIGHTS_URL + file_name, hashes[0 if include_top else 1]))


def _depth(value, divisor=8):
    """`value` rounded to a multiple of `divisor` (at least `divisor`, and not below 90% of `value`)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def _relu(x):
    return layers.ReLU()(x)


def _hard_swish(x):
    return layers.Activation("hard_swish")(x)


def _hard_sigmoid(x):
    """ReLU6(x + 3) / 6, written as Keras writes it (a ReLU layer between two operations)."""
    return layers.ReLU(6.0)(x + 3.0) * (1.0 / 6.0)


def _squeeze_excite(inputs, filters, prefix):
    """The channels of `inputs` weighted by a hard sigmoid of two 1 x 1 convolutions of their global average."""
    x = layers.GlobalAveragePooling2D(keepdims=True, name=f"{prefix}squeeze_excite_avg_pool")(inputs)
    x = layers.Conv2D(_depth(filters * SE_RATIO), kernel_size=1, padding="same",
                      name=f"{prefix}squeeze_excite_conv")(x)
    x = layers.ReLU(name=f"{prefix}squeeze_excite_relu")(x)
    x = layers.Conv2D(filters, kernel_size=1, padding="same", name=f"{prefix}squeeze_excite_conv_1")(x)
    return layers.Multiply(name=f"{prefix}squeeze_excite_mul")([inputs, _hard_sigmoid(x)])


def _inverted_residual(x, expansion, filters, kernel_size, stride, squeeze_excite, activation, block_id):
    """1 x 1 expansion (not in block 0), depthwise `kernel_size` convolution (strided ones padded as Keras pads
    them), squeeze-and-excitation, 1 x 1 linear projection; added to the input where the shapes allow."""
    shortcut = x
    in_filters = x.shape[-1]
    prefix = f"expanded_conv_{block_id}_" if block_id else "expanded_conv_"
    if block_id:
        x = layers.Conv2D(_depth(in_filters * expansion), kernel_size=1, padding="same", use_bias=False,
                          name=f"{prefix}expand")(x)
        x = layers.BatchNormalization(axis=-1, epsilon=1e-3, momentum=0.999, name=f"{prefix}expand_bn")(x)
        x = activation(x)
    if stride == 2:
        x = layers.ZeroPadding2D(padding=imagenet_utils.correct_pad(x, kernel_size), name=f"{prefix}depthwise_pad")(x)
    x = layers.DepthwiseConv2D(kernel_size, strides=stride, padding="same" if stride == 1 else "valid",
                               use_bias=False, name=f"{prefix}depthwise")(x)
    x = layers.BatchNormalization(axis=-1, epsilon=1e-3, momentum=0.999, name=f"{prefix}depthwise_bn")(x)
    x = activation(x)
    if squeeze_excite:
        x = _squeeze_excite(x, _depth(in_filters * expansion), prefix)
    x = layers.Conv2D(filters, kernel_size=1, padding="same", use_bias=False, name=f"{prefix}project")(x)
    x = layers.BatchNormalization(axis=-1, epsilon=1e-3, momentum=0.999, name=f"{prefix}project_bn")(x)
    if stride == 1 and in_filters == filters:
        x = layers.Add(name=f"{prefix}add")([shortcut, x])
    return x


def MobileNetV3Small(input_shape=None, alpha=1.0, minimalistic=False, include_top=True,  # noqa: N802
                     weights="imagenet", input_tensor=None, classes=1000, pooling=None, dropout_rate=0.2,
                     classifier_activation="softmax", include_preprocessing=True, name="MobileNetV3Small"):
    """Keras's MobileNetV3Small (11 inverted residual blocks); the arguments are `build_mobilenet_v3`'s."""
    return build_mobilenet_v3("small", input_shape, alpha, minimalistic, include_top, weights, input_tensor, classes,
                              pooling, dropout_rate, classifier_activation, include_preprocessing, name)


def MobileNetV3Large(input_shape=None, alpha=1.0, minimalistic=False, include_top=True,  # noqa: N802
                     weights="imagenet", input_tensor=None, classes=1000, pooling=None, dropout_rate=0.2,
                     classifier_activation="softmax", include_preprocessing=True, name="MobileNetV3Large"):
    """Keras's MobileNetV3Large (15 inverted residual blocks); the arguments are `build_mobilenet_v3`'s."""
    return build_mobilenet_v3("large", input_shape, alpha, minimalistic, include_top, weights, input_tensor, classes,
                              pooling, dropout_rate, classifier_activation, include_preprocessing, name)


def preprocess_input(x, data_format=None):
    """`x` itself: the MobileNetV3s take 0-255 pixels and rescale them in their first layer (in either layout, so
    `data_format` changes nothing), as Keras's placeholder does."""
    return x


__all__ = ["MobileNetV3Large", "MobileNetV3Small", "decode_predictions", "preprocess_input"]
