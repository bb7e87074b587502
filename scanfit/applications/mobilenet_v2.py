"""MobileNetV2 (Sandler et al., 2018), as Keras builds it: the same layers, names and weights, so that Keras's
ImageNet weights load into it (TensorFlow's transfer-learning tutorial). Its inputs are prepared by
`preprocess_input` ('tf' mode: scaled to [-1, 1]); `alpha` scales every layer's width.
"""
import warnings

from scanfit import layers
from scanfit.applications import imagenet_utils
from scanfit.applications.imagenet_utils import decode_predictions

WEIGHTS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/"
ALPHAS = (0.35, 0.50, 0.75, 1.0, 1.3, 1.4)  # the widths ImageNet's weights exist for
SIZES = (96, 128, 160, 192, 224)  # the square image sizes they exist for
# The inverted residual blocks: (output filters, stride, expansion), in order.
BLOCKS = ((16, 1, 1), (24, 2, 6), (24, 1, 6), (32, 2, 6), (32, 1, 6), (32, 1, 6), (64, 2, 6), (64, 1, 6),
          (64, 1, 6), (64, 1, 6), (96, 1, 6), (96, 1, 6), (96, 1, 6), (160, 2, 6), (160, 1, 6), (160, 1, 6),
          (320, 1, 6))


def MobileNetV2(input_shape=None, alpha=1.0, include_top=True, weights="imagenet", input_tensor=None,  # noqa: N802
                pooling=None, classes=1000, classifier_activation="softmax", name=None):
    """Keras's MobileNetV2: a strided convolution, 17 inverted residual blocks (depthwise 3 x 3 between 1 x 1
    expansions and projections, ReLU6), a 1 x 1 convolution to 1,280 features, then (`include_top`) global
    average pooling and the `classes`-way classifier; without the top, `pooling` None, 'avg' or 'max'.
    `weights`: 'imagenet' (Keras's file for this `alpha` and image size, downloaded once), None (random), or a
    weights file's path. The name defaults to Keras's ``mobilenetv2_<alpha>_<size>``."""
    imagenet_utils.check_weights_argument(weights, include_top, classes, classifier_activation)
    given = input_shape if input_tensor is None or input_shape is not None else tuple(input_tensor.shape[1:])
    rows = given[0] if given is not None and given[0] == given[1] and given[0] in SIZES else 224  # the default size
    inputs = imagenet_utils.image_input(input_tensor, input_shape, include_top, weights, pooling, default_size=rows)
    rows, columns = inputs.shape[1:3]
    if weights == "imagenet":
        if alpha not in ALPHAS:
            raise ValueError(f"ImageNet's weights exist for alpha in {ALPHAS}; got alpha={alpha!r}.")
        if rows != columns or rows not in SIZES:
            warnings.warn(f"The input size {(rows, columns)} is not square or not one of {SIZES}: the weights for "
                          "224 x 224 images are loaded, as Keras does.", stacklevel=2)
            rows = 224
    x = layers.Conv2D(_divisible(32 * alpha), kernel_size=3, strides=(2, 2), padding="same", use_bias=False,
                      name="Conv1")(inputs)
    x = layers.BatchNormalization(axis=-1, epsilon=1e-3, momentum=0.999, name="bn_Conv1")(x)
    x = layers.ReLU(6.0, name="Conv1_relu")(x)
    for block_id, (filters, stride, expansion) in enumerate(BLOCKS):
        x = _inverted_residual(x, expansion, stride, alpha, filters, block_id)
    x = layers.Conv2D(_divisible(1280 * alpha) if alpha > 1.0 else 1280, kernel_size=1, use_bias=False,
                      name="Conv_1")(x)
    x = layers.BatchNormalization(axis=-1, epsilon=1e-3, momentum=0.999, name="Conv_1_bn")(x)
    x = layers.ReLU(6.0, name="out_relu")(x)
    x = imagenet_utils.classifier_top(x, include_top, pooling, classes, classifier_activation, top_pool_name=None)
    file_name = (f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{float(alpha)}_{rows}"
                 f"{'' if include_top else '_no_top'}.h5")
    return imagenet_utils.pretrained_model(inputs, x, name or f"mobilenetv2_{alpha:0.2f}_{rows}", weights,
                                           (file_name, WEIGHTS_URL + file_name, None))  # Keras has no hash of it


preprocess_input = imagenet_utils.preprocess_tf


def _divisible(value, divisor=8):
    """`value` rounded to a multiple of `divisor` (at least `divisor`, and not below 90% of `value`), as the
    MobileNets round their widths."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def _inverted_residual(inputs, expansion, stride, alpha, filters, block_id):
    """1 x 1 expansion (not in block 0), 3 x 3 depthwise convolution (strided ones padded as Keras pads them),
    1 x 1 linear projection; added to the input where the shapes allow."""
    in_channels = inputs.shape[-1]
    projected = _divisible(int(filters * alpha))
    prefix = f"block_{block_id}_" if block_id else "expanded_conv_"
    x = inputs
    if block_id:
        x = layers.Conv2D(expansion * in_channels, kernel_size=1, padding="same", use_bias=False,
                          name=f"{prefix}expand")(x)
        x = layers.BatchNormalization(axis=-1, epsilon=1e-3, momentum=0.999, name=f"{prefix}expand_BN")(x)
        x = layers.ReLU(6.0, name=f"{prefix}expand_relu")(x)
    if stride == 2:
        x = layers.ZeroPadding2D(padding=_stride_padding(x.shape[1:3]), name=f"{prefix}pad")(x)
    x = layers.DepthwiseConv2D(kernel_size=3, strides=stride, use_bias=False,
                               padding="same" if stride == 1 else "valid", name=f"{prefix}depthwise")(x)
    x = layers.BatchNormalization(axis=-1, epsilon=1e-3, momentum=0.999, name=f"{prefix}depthwise_BN")(x)
    x = layers.ReLU(6.0, name=f"{prefix}depthwise_relu")(x)
    x = layers.Conv2D(projected, kernel_size=1, padding="same", use_bias=False, name=f"{prefix}project")(x)
    x = layers.BatchNormalization(axis=-1, epsilon=1e-3, momentum=0.999, name=f"{prefix}project_BN")(x)
    if in_channels == projected and stride == 1:
        return layers.Add(name=f"{prefix}add")([inputs, x])
    return x


def _stride_padding(size):
    """Keras's padding before a strided 3 x 3 convolution: one pixel after, and one before where the side is known
    and odd."""
    before = [0 if side is None else side % 2 for side in size]
    return ((before[0], 1), (before[1], 1))


__all__ = ["MobileNetV2", "decode_predictions", "preprocess_input"]
