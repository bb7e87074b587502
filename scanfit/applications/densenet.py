"""DenseNet121, DenseNet169 and DenseNet201 (Huang et al., 2016), as Keras builds them: the same layers, names
and weights, so that Keras's ImageNet weights load into them. Their inputs are prepared by `preprocess_input`
('torch' mode: scaled to [0, 1], then normalized by ImageNet's channel means and deviations).
"""
from scanfit import layers
from scanfit.applications import imagenet_utils
from scanfit.applications.imagenet_utils import decode_predictions

WEIGHTS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/densenet/"
# MD5 of Keras's ImageNet weight files: (with the top layers, without).
WEIGHT_HASHES = {
    "densenet121": ("9d60b8095a5708f2dcce2bca79d332c7", "30ee3e1110167f948a6b9946edeeb738"),
    "densenet169": ("d699b8f76981ab1b30698df4c175e90b", "b8c4d4c20dd625c148057b9ff1c1176b"),
    "densenet201": ("1ceb130c1ea1b78c3bf6114dbdfd8807", "c13680b51ded0fb44dff2d8f86ac8bb1"),
}
BLOCKS = {"densenet121": (6, 12, 24, 16), "densenet169": (6, 12, 32, 32), "densenet201": (6, 12, 48, 32)}
GROWTH = 32  # the channels each layer of a dense block adds
EPSILON = 1.001e-5


def preprocess_input(x, data_format=None):
    """Images (RGB, 0-255) as the DenseNets take them ('torch' mode of `imagenet_utils.preprocess_input`)."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="torch")


def build_densenet(kind, include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                   classes=1000, classifier_activation="softmax", name=None):
    """Keras's DenseNet `kind`: a 7 x 7 stride-2 convolution and max pooling, four dense blocks with halving
    transitions between them, then (`include_top`) global average pooling and the `classes`-way classifier;
    without the top, `pooling` None, 'avg' or 'max'. `weights`: 'imagenet' (Keras's file, downloaded once),
    None (random), or a weights file's path. The model is named `name` (default: `kind`)."""
    imagenet_utils.check_weights_argument(weights, include_top, classes, classifier_activation)
    inputs = imagenet_utils.image_input(input_tensor, input_shape, include_top, weights, pooling)
    x = layers.ZeroPadding2D(padding=((3, 3), (3, 3)))(inputs)
    x = layers.Conv2D(64, 7, strides=2, use_bias=False, name="conv1_conv")(x)
    x = _bn_relu(x, "conv1_bn", "conv1_relu")
    x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)))(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1")(x)
    for stage, blocks in enumerate(BLOCKS[kind], start=2):
        for block in range(1, blocks + 1):
            x = _dense_layer(x, f"conv{stage}_block{block}")
        if stage < 5:  # a transition halves the channels and the image
            x = _bn_relu(x, f"pool{stage}_bn", f"pool{stage}_relu")
            x = layers.Conv2D(int(x.shape[3] * 0.5), 1, use_bias=False, name=f"pool{stage}_conv")(x)
            x = layers.AveragePooling2D(2, strides=2, name=f"pool{stage}_pool")(x)
    x = _bn_relu(x, "bn", "relu")
    x = imagenet_utils.classifier_top(x, include_top, pooling, classes, classifier_activation,
                                      pool_names=("avg_pool", "max_pool"))
    file = imagenet_utils.weight_file(WEIGHTS_URL, kind, include_top, WEIGHT_HASHES[kind])
    return imagenet_utils.pretrained_model(inputs, x, name or kind, weights, file)


def _bn_relu(x, bn_name, relu_name):
    x = layers.BatchNormalization(axis=3, epsilon=EPSILON, name=bn_name)(x)
    return layers.Activation("relu", name=relu_name)(x)


def _dense_layer(x, name):
    """A bottleneck (1 x 1 to 4 x `GROWTH` channels) and a 3 x 3 convolution to `GROWTH` new channels, joined to the
    input's."""
    new = _bn_relu(x, f"{name}_0_bn", f"{name}_0_relu")
    new = layers.Conv2D(4 * GROWTH, 1, use_bias=False, name=f"{name}_1_conv")(new)
    new = _bn_relu(new, f"{name}_1_bn", f"{name}_1_relu")
    new = layers.Conv2D(GROWTH, 3, padding="same", use_bias=False, name=f"{name}_2_conv")(new)
    return layers.Concatenate(axis=3, name=f"{name}_concat")([x, new])


DenseNet121 = imagenet_utils.variant(build_densenet, "densenet121", "DenseNet121",
                                     "dense blocks of 6, 12, 24, 16 layers")
DenseNet169 = imagenet_utils.variant(build_densenet, "densenet169", "DenseNet169",
                                     "dense blocks of 6, 12, 32, 32 layers")
DenseNet201 = imagenet_utils.variant(build_densenet, "densenet201", "DenseNet201",
                                     "dense blocks of 6, 12, 48, 32 layers")

__all__ = ["DenseNet121", "DenseNet169", "DenseNet201", "decode_predictions", "preprocess_input"]
