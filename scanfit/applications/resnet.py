"""ResNet50, ResNet101 and ResNet152 (He et al., 2015; bottleneck blocks, "v1"), as Keras builds them: the same
layers, names and weights, so that Keras's ImageNet weights load into them (Hands-on ML's pretrained ResNet-50).

ImageNet's weights are Keras's own files, downloaded once into ``~/.keras/models`` and checked against their
MD5; their inputs are prepared by `preprocess_input` ('caffe' mode, as for VGG).
"""
from scanfit import layers
from scanfit.applications import imagenet_utils
from scanfit.applications.imagenet_utils import decode_predictions

WEIGHTS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/resnet/"
# MD5 of Keras's ImageNet weight files: (with the top layers, without).
WEIGHT_HASHES = {
    "resnet50": ("2cb95161c43110f7111970584f804107", "4d473c1dd8becc155b73f8504c6f6626"),
    "resnet101": ("f1aeb4b969a6efcfb50fad2f0c20cfc5", "88cf7a10940856eca736dc7b7e228a21"),
    "resnet152": ("100835be76be38e30d865e96f2aaae62", "ee4c566cf9a93f14d82f913c2dc6dd0c"),
}
STACKS = {"resnet50": (3, 4, 6, 3), "resnet101": (3, 4, 23, 3), "resnet152": (3, 8, 36, 3)}  # blocks per stage
EPSILON = 1.001e-5  # Keras's BatchNormalization epsilon in these models


def preprocess_input(x, data_format=None):
    """Images (RGB, 0-255) as the ResNets take them: BGR, centred on ImageNet's channel means ('caffe' mode of
    `imagenet_utils.preprocess_input`)."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="caffe")


def build_resnet(kind, include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                 classes=1000, classifier_activation="softmax", name=None):
    """Keras's ResNet `kind` ('resnet50', 'resnet101' or 'resnet152'): a 7 x 7 stride-2 convolution and max
    pooling, four stages of bottleneck blocks (64, 128, 256 and 512 filters, four times that out), then
    (`include_top`) global average pooling and the `classes`-way classifier; without the top, `pooling` None,
    'avg' or 'max'. `weights`: 'imagenet' (Keras's file, downloaded once), None (random), or a weights file's
    path. The model is named `name` (default: `kind`)."""
    imagenet_utils.check_weights_argument(weights, include_top, classes, classifier_activation)
    inputs = imagenet_utils.image_input(input_tensor, input_shape, include_top, weights, pooling)
    x = layers.ZeroPadding2D(padding=((3, 3), (3, 3)), name="conv1_pad")(inputs)
    x = layers.Conv2D(64, 7, strides=2, name="conv1_conv")(x)
    x = layers.BatchNormalization(axis=3, epsilon=EPSILON, name="conv1_bn")(x)
    x = layers.Activation("relu", name="conv1_relu")(x)
    x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)), name="pool1_pad")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    for stage, (blocks, filters) in enumerate(zip(STACKS[kind], (64, 128, 256, 512)), start=2):
        for block in range(1, blocks + 1):
            first = block == 1
            x = _bottleneck(x, filters, stride=(1 if stage == 2 else 2) if first else 1, shortcut_conv=first,
                            name=f"conv{stage}_block{block}")
    x = imagenet_utils.classifier_top(x, include_top, pooling, classes, classifier_activation,
                                      pool_names=("avg_pool", "max_pool"))
    file = imagenet_utils.weight_file(WEIGHTS_URL, kind, include_top, WEIGHT_HASHES[kind])
    return imagenet_utils.pretrained_model(inputs, x, name or kind, weights, file)


def _bottleneck(x, filters, stride, shortcut_conv, name):
    """One bottleneck block: 1 x 1, 3 x 3 and 1 x 1 (4 x `filters`) convolutions, each batch-normalized, added to
    the input (through a strided 1 x 1 convolution when `shortcut_conv`), then relu."""
    shortcut = x
    if shortcut_conv:
        shortcut = layers.Conv2D(4 * filters, 1, strides=stride, name=f"{name}_0_conv")(x)
        shortcut = layers.BatchNormalization(axis=3, epsilon=EPSILON, name=f"{name}_0_bn")(shortcut)
    x = layers.Conv2D(filters, 1, strides=stride, name=f"{name}_1_conv")(x)
    x = layers.BatchNormalization(axis=3, epsilon=EPSILON, name=f"{name}_1_bn")(x)
    x = layers.Activation("relu", name=f"{name}_1_relu")(x)
    x = layers.Conv2D(filters, 3, padding="same", name=f"{name}_2_conv")(x)
    x = layers.BatchNormalization(axis=3, epsilon=EPSILON, name=f"{name}_2_bn")(x)
    x = layers.Activation("relu", name=f"{name}_2_relu")(x)
    x = layers.Conv2D(4 * filters, 1, name=f"{name}_3_conv")(x)
    x = layers.BatchNormalization(axis=3, epsilon=EPSILON, name=f"{name}_3_bn")(x)
    x = layers.Add(name=f"{name}_add")([shortcut, x])
    return layers.Activation("relu", name=f"{name}_out")(x)


ResNet50 = imagenet_utils.variant(build_resnet, "resnet50", "ResNet50", "3, 4, 6 and 3 bottleneck blocks")
ResNet101 = imagenet_utils.variant(build_resnet, "resnet101", "ResNet101", "3, 4, 23 and 3 bottleneck blocks")
ResNet152 = imagenet_utils.variant(build_resnet, "resnet152", "ResNet152", "3, 8, 36 and 3 bottleneck blocks")

__all__ = ["ResNet101", "ResNet152", "ResNet50", "decode_predictions", "preprocess_input"]
