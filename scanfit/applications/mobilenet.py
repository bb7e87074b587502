"""MobileNet (Howard et al., 2017; "v1"), as Keras builds it: the same layers, names and weights, so that Keras's
ImageNet weights load into it. `alpha` scales every layer's width, `depth_multiplier` the depthwise
convolutions'; its inputs are prepared by `preprocess_input` ('tf' mode: scaled to [-1, 1]).
"""
import warnings

from scanfit import layers
from scanfit.applications import imagenet_utils
from scanfit.applications.imagenet_utils import decode_predictions

WEIGHTS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet/"
ALPHAS = {0.25: "2_5", 0.5: "5_0", 0.75: "7_5", 1.0: "1_0"}  # the widths ImageNet's weights exist for, as named
SIZES = (128, 160, 192, 224)  # the square image sizes they exist for
# The depthwise separable blocks 1 to 13: (pointwise filters, stride).
BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1), (512, 1), (512, 1),
          (512, 1), (1024, 2), (1024, 1))


def MobileNet(input_shape=None, alpha=1.0, depth_multiplier=1, dropout=1e-3, include_top=True,  # noqa: N802
              weights="imagenet", input_tensor=None, pooling=None, classes=1000, classifier_activation="softmax",
              name=None):
    """Keras's MobileNet: a strided 3 x 3 convolution, 13 depthwise separable blocks (depthwise 3 x 3 with
    `depth_multiplier`, then 1 x 1; each batch-normalized, ReLU6), then (`include_top`) global average pooling,
    dropout (`dropout`) and a 1 x 1 convolution to `classes` logits; without the top, `pooling` None, 'avg' or
    'max'. `weights`: 'imagenet' (Keras's file for this `alpha` and image size, downloaded once), None (random),
    or a weights file's path. The name defaults to Keras's ``mobilenet_<alpha>_<rows>``, the rows and the weight
    file taken from `input_shape` as Keras takes them."""
    imagenet_utils.check_weights_argument(weights, include_top, classes, classifier_activation)
    square = input_shape is not None and input_shape[0] == input_shape[1] and input_shape[0] in SIZES
    default_size = input_shape[0] if square else 224
    rows, columns = imagenet_utils.image_input_shape(input_shape, include_top, weights, default_size)[:2]
    inputs = imagenet_utils.image_input(input_tensor, input_shape, include_top, weights, pooling,
                                        default_size=default_size)
    if weights == "imagenet":
        if depth_multiplier != 1:
            raise ValueError(f"ImageNet's weights need depth_multiplier=1; got depth_multiplier={depth_multiplier!r}.")
        if alpha not in ALPHAS:
            raise ValueError(f"ImageNet's weights exist for alpha in {tuple(ALPHAS)}; got alpha={alpha!r}.")
        if rows != columns or rows not in SIZES:
            warnings.warn(f"The input shape {input_shape} is not square or its side not one of {SIZES}: the "
                          "weights for 224 x 224 images are loaded, as Keras does.", stacklevel=2)
            rows = 224
    x = layers.Conv2D(int(32 * alpha), 3, padding="same", use_bias=False, strides=(2, 2), name="conv1")(inputs)
    x = layers.BatchNormalization(axis=-1, name="conv1_bn")(x)
    x = layers.ReLU(6.0, name="conv1_relu")(x)
    for block_id, (filters, stride) in enumerate(BLOCKS, start=1):
        x = _depthwise_separable(x, int(filters * alpha), depth_multiplier, stride, block_id)
    if include_top:
        x = layers.GlobalAveragePooling2D(keepdims=True)(x)
        x = layers.Dropout(dropout, name="dropout")(x)
        x = layers.Conv2D(classes, (1, 1), padding="same", name="conv_preds")(x)
        x = layers.Reshape((classes,), name="reshape_2")(x)
        x = layers.Activation(activation=classifier_activation, name="predictions")(x)
    elif pooling == "avg":
        x = layers.GlobalAveragePooling2D()(x)
    elif pooling == "max":
        x = layers.GlobalMaxPooling2D()(x)
    file_name = f"mobilenet_{ALPHAS.get(alpha)}_{rows}_tf{'' if include_top else '_no_top'}.h5"
    return imagenet_utils.pretrained_model(inputs, x, name or f"mobilenet_{alpha:0.2f}_{rows}", weights,
                                           (file_name, WEIGHTS_URL + file_name, None))  # Keras has no hash of it


def _depthwise_separable(x, filters, depth_multiplier, stride, block_id):
    """A 3 x 3 depthwise convolution (strided ones padded after, as Keras pads them) and a 1 x 1 convolution to
    `filters`, each batch-normalized and ReLU6'd."""
    if stride == 2:
        x = layers.ZeroPadding2D(((0, 1), (0, 1)), name=f"conv_pad_{block_id}")(x)
    x = layers.DepthwiseConv2D((3, 3), padding="same" if stride == 1 else "valid", depth_multiplier=depth_multiplier,
                               strides=stride, use_bias=False, name=f"conv_dw_{block_id}")(x)
    x = layers.BatchNormalization(axis=-1, name=f"conv_dw_{block_id}_bn")(x)
    x = layers.ReLU(6.0, name=f"conv_dw_{block_id}_relu")(x)
    x = layers.Conv2D(filters, (1, 1), padding="same", use_bias=False, strides=(1, 1), name=f"conv_pw_{block_id}")(x)
    x = layers.BatchNormalization(axis=-1, name=f"conv_pw_{block_id}_bn")(x)
    return layers.ReLU(6.0, name=f"conv_pw_{block_id}_relu")(x)


preprocess_input = imagenet_utils.preprocess_tf

__all__ = ["MobileNet", "decode_predictions", "preprocess_input"]
