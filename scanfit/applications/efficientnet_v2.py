"""EfficientNetV2B0 to B3, S, M and L (Tan & Le, 2021), as Keras builds them: the same layers, names and weights,
so that Keras's ImageNet weights load into them. They take images of 0-255 pixels: with `include_preprocessing`
(the default) their first layers rescale them (B0 to B3: to [0, 1], then normalized by ImageNet's channel
statistics; S, M, L: to [-1, 1]), so `preprocess_input` returns its input as it is (Keras's placeholder).

The early stages are fused MBConv blocks (one full convolution in place of expansion and depthwise), the later
ones MBConv blocks with squeeze-and-excitation; each residual is dropped whole per sample while training, at a
rate rising from 0 along the network, as Keras does it.
"""
import math

from scanfit import layers
from scanfit.applications import imagenet_utils
from scanfit.applications.imagenet_utils import decode_predictions

WEIGHTS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/efficientnet_v2/"
# Per model: (width coefficient, depth coefficient, default image size, MD5 of Keras's weight files with the top
# layers, without).
VARIANTS = {
    "efficientnetv2-b0": (1.0, 1.0, 224, "21ecbf6da12460d5c40bb2f29ceb2188", "893217f2bb855e2983157299931e43ff"),
    "efficientnetv2-b1": (1.0, 1.1, 240, "069f0534ff22adf035c89e2d9547a9dc", "0e80663031ca32d657f9caa404b6ec37"),
    "efficientnetv2-b2": (1.1, 1.2, 260, "424e49f28180edbde1e94797771950a7", "1dfe2e7a5d45b6632553a8961ea609eb"),
    "efficientnetv2-b3": (1.2, 1.4, 300, "1f1fc43bd98a6e4fd8fdfd551e02c7a0", "f6abf7b5849ac99a89b50dd3fd532856"),
    "efficientnetv2-s": (1.0, 1.0, 384, "e1d88a8495beba45748fedd0cecbe016", "af0682fb74e8c54910f2d4393339c070"),
    "efficientnetv2-m": (1.0, 1.0, 480, "a3bf6aa3276309f4fc6a34aa114c95cd", "1b8dc055df72dde80d614482840fe342"),
    "efficientnetv2-l": (1.0, 1.0, 480, "27e6d408b53c7ebc868fefa357689935", "b0b66b5c863aef5b46e8608fe1711615"),
}
# The stages: (repeats, filters in, filters out, expansion, squeeze-excite ratio, stride, fused); every kernel is
# 3 x 3. B1 to B3 widen and deepen B0's.
_B_STAGES = ((1, 32, 16, 1, 0, 1, True), (2, 16, 32, 4, 0, 2, True), (2, 32, 48, 4, 0, 2, True),
             (3, 48, 96, 4, 0.25, 2, False), (5, 96, 112, 6, 0.25, 1, False), (8, 112, 192, 6, 0.25, 2, False))
STAGES = {
    "b": _B_STAGES,
    "s": ((2, 24, 24, 1, 0, 1, True), (4, 24, 48, 4, 0, 2, True), (4, 48, 64, 4, 0, 2, True),
          (6, 64, 128, 4, 0.25, 2, False), (9, 128, 160, 6, 0.25, 1, False), (15, 160, 256, 6, 0.25, 2, False)),
    "m": ((3, 24, 24, 1, 0, 1, True), (5, 24, 48, 4, 0, 2, True), (5, 48, 80, 4, 0, 2, True),
          (7, 80, 160, 4, 0.25, 2, False), (14, 160, 176, 6, 0.25, 1, False), (18, 176, 304, 6, 0.25, 2, False),
          (5, 304, 512, 6, 0.25, 1, False)),
    "l": ((4, 32, 32, 1, 0, 1, True), (7, 32, 64, 4, 0, 2, True), (7, 64, 96, 4, 0, 2, True),
          (10, 96, 192, 4, 0.25, 2, False), (19, 192, 224, 6, 0.25, 1, False), (25, 224, 384, 6, 0.25, 2, False),
          (7, 384, 640, 6, 0.25, 1, False)),
}
DROP_CONNECT_RATE = 0.2
TOP_DROPOUT_RATE = 0.2
BN_MOMENTUM = 0.9
IMAGENET_MEAN, IMAGENET_STDDEV = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
# Keras's initializers of these models' convolutions and classifier.
CONV_INITIALIZER = {"class_name": "VarianceScaling",
                    "config": {"scale": 2.0, "mode": "fan_out", "distribution": "truncated_normal"}}
DENSE_INITIALIZER = {"class_name": "VarianceScaling",
                     "config": {"scale": 1.0 / 3.0, "mode": "fan_out", "distribution": "uniform"}}


def round_filters(filters, width, divisor=8):
    """`filters` scaled by `width`, rounded to the nearest multiple of `divisor` (at least `divisor`)."""
    return int(max(divisor, int(filters * width + divisor / 2) // divisor * divisor))


def build_efficientnet_v2(kind, include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
                          pooling=None, classes=1000, classifier_activation="softmax", include_preprocessing=True,
                          name=None):
    """Keras's EfficientNetV2 `kind` ('efficientnetv2-b0' ... '-b3', '-s', '-m', '-l'): (`include_preprocessing`)
    the rescaling of the module's docstring (to [-1, 1] for B0 to B3 too when the images have other than 3
    channels, as in Keras), a strided 3 x 3 convolution, the fused and squeeze-excited MBConv stages, a 1 x 1
    convolution, then (`include_top`) global average pooling, dropout and the `classes`-way classifier; without
    the top, `pooling` None, 'avg' or 'max'. `weights`: 'imagenet' (Keras's file, downloaded once), None (random),
    or a weights file's path. The model is named `name` (default: `kind`)."""
    width, depth, default_size, *hashes = VARIANTS[kind]
    stages = STAGES[kind.rsplit("-", 1)[1][0]]  # 'b' for B0 to B3
    imagenet_utils.check_weights_argument(weights, include_top, classes, classifier_activation)
    inputs = imagenet_utils.image_input(input_tensor, input_shape, include_top, weights, pooling,
                                        default_size=default_size)
    x = inputs
    if include_preprocessing:
        if stages is _B_STAGES and inputs.shape[-1] == 3:
            x = layers.Rescaling(scale=1.0 / 255)(x)
            x = layers.Normalization(mean=list(IMAGENET_MEAN), variance=[d ** 2 for d in IMAGENET_STDDEV], axis=3)(x)
        else:
            x = layers.Rescaling(scale=1.0 / 128.0, offset=-1)(x)
    x = layers.Conv2D(round_filters(stages[0][1], width), 3, strides=2, kernel_initializer=CONV_INITIALIZER,
                      padding="same", use_bias=False, name="stem_conv")(x)
    x = layers.BatchNormalization(axis=3, momentum=BN_MOMENTUM, name="stem_bn")(x)
    x = layers.Activation("swish", name="stem_activation")(x)
    total = float(sum(stage[0] for stage in stages))  # Keras counts the blocks before deepening them
    done = 0
    for number, (repeats, filters_in, filters_out, expansion, se_ratio, stride, fused) in enumerate(stages, 1):
        filters_in, filters_out = round_filters(filters_in, width), round_filters(filters_out, width)
        for repeat in range(int(math.ceil(depth * repeats))):
            block = _fused_block if fused else _block
            x = block(x, filters_out if repeat else filters_in, filters_out, expansion, 1 if repeat else stride,
                      se_ratio, DROP_CONNECT_RATE * done / total, f"block{number}{chr(97 + repeat)}_")
            done += 1
    x = layers.Conv2D(round_filters(1280, width), 1, strides=1, kernel_initializer=CONV_INITIALIZER, padding="same",
                      use_bias=False, name="top_conv")(x)
    x = layers.BatchNormalization(axis=3, momentum=BN_MOMENTUM, name="top_bn")(x)
    x = layers.Activation("swish", name="top_activation")(x)
    x = imagenet_utils.classifier_top(x, include_top, pooling, classes, classifier_activation,
                                      pool_names=("avg_pool", "max_pool"), dropout=TOP_DROPOUT_RATE,
                                      kernel_initializer=DENSE_INITIALIZER)
    file_name = f"{kind}{'' if include_top else '_notop'}.h5"
    return imagenet_utils.pretrained_model(inputs, x, name or kind, weights,
                                           (file_name, WEIGHTS_URL + file_name, hashes[0 if include_top else 1]))


def _batch_norm_swish(x, name, swish=True):
    x = layers.BatchNormalization(axis=3, momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
    return layers.Activation("swish", name=f"{name}_activation")(x) if swish else x


def _squeeze_excite(x, filters_in, se_ratio, name):
    """The channels of `x` weighted by a sigmoid of two 1 x 1 convolutions of their global average."""
    filters = x.shape[-1]
    se = layers.GlobalAveragePooling2D(name=f"{name}se_squeeze")(x)
    se = layers.Reshape((1, 1, filters), name=f"{name}se_reshape")(se)
    se = layers.Conv2D(max(1, int(filters_in * se_ratio)), 1, padding="same", activation="swish",
                       kernel_initializer=CONV_INITIALIZER, name=f"{name}se_reduce")(se)
    se = layers.Conv2D(filters, 1, padding="same", activation="sigmoid", kernel_initializer=CONV_INITIALIZER,
                       name=f"{name}se_expand")(se)
    return layers.multiply([x, se], name=f"{name}se_excite")


def _residual(x, inputs, stride, filters_in, filters_out, drop_rate, name):
    """`x` added to the block's input where the shapes allow, its whole residual dropped per sample at
    `drop_rate` while training (Keras's `survival_probability`, used as the dropout rate)."""
    if stride != 1 or filters_in != filters_out:
        return x
    if drop_rate:
        x = layers.Dropout(drop_rate, noise_shape=(None, 1, 1, 1), name=f"{name}drop")(x)
    return layers.add([x, inputs], name=f"{name}add")


def _block(inputs, filters_in, filters_out, expansion, stride, se_ratio, drop_rate, name):
    """MBConv: 1 x 1 expansion (unless `expansion` is 1), 3 x 3 depthwise convolution, squeeze-and-excitation,
    1 x 1 projection."""
    x = inputs
    if expansion != 1:
        x = layers.Conv2D(filters_in * expansion, 1, strides=1, kernel_initializer=CONV_INITIALIZER, padding="same",
                          use_bias=False, name=f"{name}expand_conv")(x)
        x = _batch_norm_swish(x, f"{name}expand")
    x = layers.DepthwiseConv2D(3, strides=stride, depthwise_initializer=CONV_INITIALIZER, padding="same",
                               use_bias=False, name=f"{name}dwconv2")(x)
    x = layers.BatchNormalization(axis=3, momentum=BN_MOMENTUM, name=f"{name}bn")(x)
    x = layers.Activation("swish", name=f"{name}activation")(x)
    if 0 < se_ratio <= 1:
        x = _squeeze_excite(x, filters_in, se_ratio, name)
    x = layers.Conv2D(filters_out, 1, strides=1, kernel_initializer=CONV_INITIALIZER, padding="same",
                      use_bias=False, name=f"{name}project_conv")(x)
    x = _batch_norm_swish(x, f"{name}project", swish=False)
    return _residual(x, inputs, stride, filters_in, filters_out, drop_rate, name)


def _fused_block(inputs, filters_in, filters_out, expansion, stride, se_ratio, drop_rate, name):
    """Fused MBConv: a 3 x 3 expanding convolution and a 1 x 1 projection (with `expansion` 1, one 3 x 3
    convolution, batch-normalized and swished)."""
    x = inputs
    if expansion != 1:
        x = layers.Conv2D(filters_in * expansion, 3, strides=stride, kernel_initializer=CONV_INITIALIZER,
                          padding="same", use_bias=False, name=f"{name}expand_conv")(x)
        x = _batch_norm_swish(x, f"{name}expand")
    if 0 < se_ratio <= 1:
        x = _squeeze_excite(x, filters_in, se_ratio, name)
    x = layers.Conv2D(filters_out, 1 if expansion != 1 else 3, strides=1 if expansion != 1 else stride,
                      kernel_initializer=CONV_INITIALIZER, padding="same", use_bias=False,
                      name=f"{name}project_conv")(x)
    x = _batch_norm_swish(x, f"{name}project", swish=expansion == 1)
    return _residual(x, inputs, stride, filters_in, filters_out, drop_rate, name)


def preprocess_input(x, data_format=None):
    """`x` itself: the EfficientNetV2s take 0-255 pixels and rescale them in their first layers (in either layout,
    so `data_format` changes nothing), as Keras's placeholder does."""
    return x


def _variant(suffix):
    kind = f"efficientnetv2-{suffix.lower()}"
    width, depth, size = VARIANTS[kind][:3]
    public_name = f"EfficientNetV2{suffix}"

    def application(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                    classes=1000, classifier_activation="softmax", include_preprocessing=True, name=kind):
        return build_efficientnet_v2(kind, include_top, weights, input_tensor, input_shape, pooling, classes,
                                     classifier_activation, include_preprocessing, name)

    application.__name__ = application.__qualname__ = public_name
    application.__doc__ = (f"Keras's {public_name} (width x{width}, depth x{depth}, {size} x {size} images by "
                           "default); the arguments are `build_efficientnet_v2`'s.")
    return application


EfficientNetV2B0, EfficientNetV2B1, EfficientNetV2B2, EfficientNetV2B3 = (_variant(f"B{i}") for i in range(4))
EfficientNetV2S, EfficientNetV2M, EfficientNetV2L = (_variant(size) for size in "SML")

__all__ = ["EfficientNetV2B0", "EfficientNetV2B1", "EfficientNetV2B2", "EfficientNetV2B3", "EfficientNetV2L",
           "EfficientNetV2M", "EfficientNetV2S", "decode_predictions", "preprocess_input"]
