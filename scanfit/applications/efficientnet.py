"""EfficientNetB0 to EfficientNetB7 (Tan & Le, 2019), as Keras builds them: the same layers, names and weights, so
that Keras's ImageNet weights load into them. The models take images of 0-255 pixels: their stem rescales and
normalizes them, so `preprocess_input` returns its input as it is (Keras's placeholder).

B1 to B7 widen (`width`) and deepen (`depth`) B0's blocks, rounded as Keras rounds them (`round_filters`,
`round_repeats`); each block is a mobile inverted bottleneck with squeeze-and-excitation and swish, its residual
dropped whole per sample while training at a rate rising from 0 to `DROP_CONNECT_RATE` along the network.
"""
import math

from scanfit import layers
from scanfit.applications import imagenet_utils
from scanfit.applications.imagenet_utils import decode_predictions

WEIGHTS_URL = "https://storage.googleapis.com/keras-applications/"
# Per model: (width coefficient, depth coefficient, default image size, top dropout rate, MD5 of Keras's weight
# files with the top layers, without).
VARIANTS = {
    "efficientnetb0": (1.0, 1.0, 224, 0.2, "902e53a9f72be733fc0bcb005b3ebbac", "50bc09e76180e00e4465e1a485ddc09d"),
    "efficientnetb1": (1.0, 1.1, 240, 0.2, "1d254153d4ab51201f1646940f018540", "74c4e6b3e1f6a1eea24c589628592432"),
    "efficientnetb2": (1.1, 1.2, 260, 0.3, "b15cce36ff4dcbd00b6dd88e7857a6ad", "111f8e2ac8aa800a7a99e3239f7bfb39"),
    "efficientnetb3": (1.2, 1.4, 300, 0.3, "ffd1fdc53d0ce67064dc6a9c7960ede0", "af6d107764bb5b1abb91932881670226"),
    "efficientnetb4": (1.4, 1.8, 380, 0.4, "18c95ad55216b8f92d7e70b3a046e2fc", "ebc24e6d6c33eaebbd558eafbeedf1ba"),
    "efficientnetb5": (1.6, 2.2, 456, 0.4, "ace28f2a6363774853a83a0b21b9421a", "38879255a25d3c92d5e44e04ae6cec6f"),
    "efficientnetb6": (1.8, 2.6, 528, 0.5, "165f6e37dce68623721b423839de8be5", "9ecce42647a20130c1f39a5d4cb75743"),
    "efficientnetb7": (2.0, 3.1, 600, 0.5, "8c03f828fec3ef71311cd463b6759d99", "cbcfe4450ddf6f3ad90b1b398090fe4a"),
}
# B0's stages: (kernel size, repeats, filters in, filters out, expansion, stride); all squeeze-excite by 1/4.
STAGES = ((3, 1, 32, 16, 1, 1), (3, 2, 16, 24, 6, 2), (5, 2, 24, 40, 6, 2), (3, 3, 40, 80, 6, 2),
          (5, 3, 80, 112, 6, 1), (5, 4, 112, 192, 6, 2), (3, 1, 192, 320, 6, 1))
SE_RATIO = 0.25
DROP_CONNECT_RATE = 0.2
IMAGENET_STDDEV_RGB = (0.229, 0.224, 0.225)
# Keras's initializers of these models' convolutions and classifier.
CONV_INITIALIZER = {"class_name": "VarianceScaling",
                    "config": {"scale": 2.0, "mode": "fan_out", "distribution": "truncated_normal"}}
DENSE_INITIALIZER = {"class_name": "VarianceScaling",
                     "config": {"scale": 1.0 / 3.0, "mode": "fan_out", "distribution": "uniform"}}


def round_filters(filters, width, divisor=8):
    """`filters` scaled by `width`, rounded to a multiple of `divisor` (at least `divisor`, not below 90%)."""
    filters *= width
    rounded = max(divisor, int(filters + divisor / 2) // divisor * divisor)
    return int(rounded + divisor if rounded < 0.9 * filters else rounded)


def round_repeats(repeats, depth):
    """A stage's `repeats` scaled by `depth`, rounded up."""
    return int(math.ceil(depth * repeats))


def build_efficientnet(kind, include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
                       pooling=None, classes=1000, classifier_activation="softmax", name=None):
    """Keras's EfficientNet `kind` ('efficientnetb0' ... 'efficientnetb7'): the stem (pixels rescaled to [0, 1]
    and normalized by ImageNet's statistics, held in a `Normalization` layer's weights; with ImageNet's weights
    a per-channel `Rescaling` after it, as Keras corrects its files' variances), a strided 3 x 3 convolution, the
    seven stages of mobile inverted bottleneck blocks, a 1 x 1 convolution, then (`include_top`) global average
    pooling, dropout and the `classes`-way classifier; without the top, `pooling` None, 'avg' or 'max'.
    `weights`: 'imagenet' (Keras's file, downloaded once), None (random), or a weights file's path. The model is
    named `name` (default: `kind`)."""
    width, depth, default_size, dropout_rate, *hashes = VARIANTS[kind]
    imagenet_utils.check_weights_argument(weights, include_top, classes, classifier_activation)
    inputs = imagenet_utils.image_input(input_tensor, input_shape, include_top, weights, pooling,
                                        default_size=default_size)
    x = layers.Rescaling(1.0 / 255.0)(inputs)
    x = layers.Normalization(axis=3)(x)
    if weights == "imagenet":
        x = layers.Rescaling([1.0 / math.sqrt(deviation) for deviation in IMAGENET_STDDEV_RGB])(x)
    x = layers.ZeroPadding2D(padding=imagenet_utils.correct_pad(x, 3), name="stem_conv_pad")(x)
    x = layers.Conv2D(round_filters(32, width), 3, strides=2, padding="valid", use_bias=False,
                      kernel_initializer=CONV_INITIALIZER, name="stem_conv")(x)
    x = layers.BatchNormalization(axis=3, name="stem_bn")(x)
    x = layers.Activation("swish", name="stem_activation")(x)
    total = float(sum(round_repeats(stage[1], depth) for stage in STAGES))
    done = 0
    for stage, (kernel_size, repeats, filters_in, filters_out, expansion, stride) in enumerate(STAGES, start=1):
        filters_in, filters_out = round_filters(filters_in, width), round_filters(filters_out, width)
        for repeat in range(round_repeats(repeats, depth)):
            x = _block(x, kernel_size, filters_out if repeat else filters_in, filters_out, expansion,
                       1 if repeat else stride, DROP_CONNECT_RATE * done / total, f"block{stage}{chr(97 + repeat)}_")
            done += 1
    x = layers.Conv2D(round_filters(1280, width), 1, padding="same", use_bias=False,
                      kernel_initializer=CONV_INITIALIZER, name="top_conv")(x)
    x = layers.BatchNormalization(axis=3, name="top_bn")(x)
    x = layers.Activation("swish", name="top_activation")(x)
    x = imagenet_utils.classifier_top(x, include_top, pooling, classes, classifier_activation,
                                      pool_names=("avg_pool", "max_pool"), dropout=dropout_rate,
                                      kernel_initializer=DENSE_INITIALIZER)
    file_name = f"{kind}{'' if include_top else '_notop'}.h5"
    return imagenet_utils.pretrained_model(inputs, x, name or kind, weights,
                                           (file_name, WEIGHTS_URL + file_name, hashes[0 if include_top else 1]))


def _block(inputs, kernel_size, filters_in, filters_out, expansion, stride, drop_rate, name):
    """A mobile inverted bottleneck: 1 x 1 expansion (unless `expansion` is 1), depthwise `kernel_size`
    convolution (strided ones padded as Keras pads them), squeeze-and-excitation, 1 x 1 projection; added to the
    input where the shapes allow, after dropping the whole residual per sample at `drop_rate` while training."""
    filters = filters_in * expansion
    x = inputs
    if expansion != 1:
        x = layers.Conv2D(filters, 1, padding="same", use_bias=False, kernel_initializer=CONV_INITIALIZER,
                          name=f"{name}expand_conv")(x)
        x = layers.BatchNormalization(axis=3, name=f"{name}expand_bn")(x)
        x = layers.Activation("swish", name=f"{name}expand_activation")(x)
    if stride == 2:
        x = layers.ZeroPadding2D(padding=imagenet_utils.correct_pad(x, kernel_size), name=f"{name}dwconv_pad")(x)
    x = layers.DepthwiseConv2D(kernel_size, strides=stride, padding="same" if stride == 1 else "valid",
                               use_bias=False, depthwise_initializer=CONV_INITIALIZER, name=f"{name}dwconv")(x)
    x = layers.BatchNormalization(axis=3, name=f"{name}bn")(x)
    x = layers.Activation("swish", name=f"{name}activation")(x)
    se = layers.GlobalAveragePooling2D(name=f"{name}se_squeeze")(x)
    se = layers.Reshape((1, 1, filters), name=f"{name}se_reshape")(se)
    se = layers.Conv2D(max(1, int(filters_in * SE_RATIO)), 1, padding="same", activation="swish",
                       kernel_initializer=CONV_INITIALIZER, name=f"{name}se_reduce")(se)
    se = layers.Conv2D(filters, 1, padding="same", activation="sigmoid", kernel_initializer=CONV_INITIALIZER,
                       name=f"{name}se_expand")(se)
    x = layers.multiply([x, se], name=f"{name}se_excite")
    x = layers.Conv2D(filters_out, 1, padding="same", use_bias=False, kernel_initializer=CONV_INITIALIZER,
                      name=f"{name}project_conv")(x)
    x = layers.BatchNormalization(axis=3, name=f"{name}project_bn")(x)
    if stride == 1 and filters_in == filters_out:
        if drop_rate > 0:
            x = layers.Dropout(drop_rate, noise_shape=(None, 1, 1, 1), name=f"{name}drop")(x)
        x = layers.add([x, inputs], name=f"{name}add")
    return x


def preprocess_input(x, data_format=None):
    """`x` itself: the EfficientNets take 0-255 pixels and normalize them in their first layers (in either
    layout, so `data_format` changes nothing), as Keras's placeholder does."""
    return x


def _variant(index):
    kind = f"efficientnetb{index}"
    width, depth, size = VARIANTS[kind][:3]
    return imagenet_utils.variant(build_efficientnet, kind, f"EfficientNetB{index}",
                                  f"width x{width}, depth x{depth}, {size} x {size} images by default")


EfficientNetB0, EfficientNetB1, EfficientNetB2, EfficientNetB3 = (_variant(i) for i in range(4))
EfficientNetB4, EfficientNetB5, EfficientNetB6, EfficientNetB7 = (_variant(i) for i in range(4, 8))

__all__ = ["EfficientNetB0", "EfficientNetB1", "EfficientNetB2", "EfficientNetB3", "EfficientNetB4",
           "EfficientNetB5", "EfficientNetB6", "EfficientNetB7", "decode_predictions", "preprocess_input"]
