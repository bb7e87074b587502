"""ResNet50V2, ResNet101V2 and ResNet152V2 (He et al., 2016, "identity mappings": batch normalization and relu
before each convolution), as Keras builds them: the same layers, names and weights, so that Keras's ImageNet
weights load into them. Their inputs are prepared by `preprocess_input` ('tf' mode: scaled to [-1, 1]).
"""
from scanfit import layers
from scanfit.applications import imagenet_utils
from scanfit.applications.imagenet_utils import decode_predictions
from scanfit.applications.resnet import EPSILON, WEIGHTS_URL

# MD5 of Keras's ImageNet weight files (in the same folder as the v1 ResNets'): (with the top layers, without).
WEIGHT_HASHES = {
    "resnet50v2": ("3ef43a0b657b3be2300d5770ece849e0", "fac2f116257151a9d068a22e544a4917"),
    "resnet101v2": ("6343647c601c52e1368623803854d971", "c0ed64b8031c3730f411d2eb4eea35b5"),
    "resnet152v2": ("a49b44d1979771252814e80f8ec446f9", "ed17cf2e0169df9d443503ef94b23b33"),
}
STACKS = {"resnet50v2": (3, 4, 6, 3), "resnet101v2": (3, 4, 23, 3), "resnet152v2": (3, 8, 36, 3)}


def build_resnet_v2(kind, include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                    classes=1000, classifier_activation="softmax", name=None):
    """Keras's ResNet `kind` ('resnet50v2', 'resnet101v2' or 'resnet152v2'): a 7 x 7 stride-2 convolution and max
    pooling, four stages of pre-activation bottleneck blocks (64, 128, 256 and 512 filters, four times that out;
    the last block of the first three stages strided), a last batch normalization and relu, then (`include_top`)
    global average pooling and the `classes`-way classifier; without the top, `pooling` None, 'avg' or 'max'.
    `weights`: 'imagenet' (Keras's file, downloaded once), None (random), or a weights file's path. The model is
    named `name` (default: `kind`)."""
    imagenet_utils.check_weights_argument(weights, include_top, classes, classifier_activation)
    inputs = imagenet_utils.image_input(input_tensor, input_shape, include_top, weights, pooling)
    x = layers.ZeroPadding2D(padding=((3, 3), (3, 3)), name="conv1_pad")(inputs)
    x = layers.Conv2D(64, 7, strides=2, name="conv1_conv")(x)
    x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)), name="pool1_pad")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    for stage, (blocks, filters) in enumerate(zip(STACKS[kind], (64, 128, 256, 512)), start=2):
        for block in range(1, blocks + 1):
            stride = 2 if block == blocks and stage < 5 else 1
            x = _preactivation_block(x, filters, stride, shortcut_conv=block == 1, name=f"conv{stage}_block{block}")
    x = layers.BatchNormalization(axis=3, epsilon=EPSILON, name="post_bn")(x)
    x = layers.Activation("relu", name="post_relu")(x)
    x = imagenet_utils.classifier_top(x, include_top, pooling, classes, classifier_activation,
                                      pool_names=("avg_pool", "max_pool"))
    file = imagenet_utils.weight_file(WEIGHTS_URL, kind, include_top, WEIGHT_HASHES[kind])
    return imagenet_utils.pretrained_model(inputs, x, name or kind, weights, file)


def _preactivation_block(x, filters, stride, shortcut_conv, name):
    """Batch normalization and relu, then 1 x 1, 3 x 3 (strided by `stride`) and 1 x 1 (4 x `filters`)
    convolutions, the first two batch-normalized and relu'd, added to the shortcut: a 1 x 1 convolution of the
    pre-activated input (`shortcut_conv`), else the input itself (taken one pixel in `stride` by a 1 x 1 max
    pooling when strided)."""
    preact = layers.BatchNormalization(axis=3, epsilon=EPSILON, name=f"{name}_preact_bn")(x)
    preact = layers.Activation("relu", name=f"{name}_preact_relu")(preact)
    if shortcut_conv:
        shortcut = layers.Conv2D(4 * filters, 1, strides=stride, name=f"{name}_0_conv")(preact)
    else:
        shortcut = layers.MaxPooling2D(1, strides=stride)(x) if stride > 1 else x
    x = layers.Conv2D(filters, 1, strides=1, use_bias=False, name=f"{name}_1_conv")(preact)
    x = layers.BatchNormalization(axis=3, epsilon=EPSILON, name=f"{name}_1_bn")(x)
    x = layers.Activation("relu", name=f"{name}_1_relu")(x)
    x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)), name=f"{name}_2_pad")(x)
    x = layers.Conv2D(filters, 3, strides=stride, use_bias=False, name=f"{name}_2_conv")(x)
    x = layers.BatchNormalization(axis=3, epsilon=EPSILON, name=f"{name}_2_bn")(x)
    x = layers.Activation("relu", name=f"{name}_2_relu")(x)
    x = layers.Conv2D(4 * filters, 1, name=f"{name}_3_conv")(x)
    return layers.Add(name=f"{name}_out")([shortcut, x])


preprocess_input = imagenet_utils.preprocess_tf

ResNet50V2 = imagenet_utils.variant(build_resnet_v2, "resnet50v2", "ResNet50V2",
                                    "3, 4, 6 and 3 pre-activation bottleneck blocks")
ResNet101V2 = imagenet_utils.variant(build_resnet_v2, "resnet101v2", "ResNet101V2",
                                     "3, 4, 23 and 3 pre-activation bottleneck blocks")
ResNet152V2 = imagenet_utils.variant(build_resnet_v2, "resnet152v2", "ResNet152V2",
                                     "3, 8, 36 and 3 pre-activation bottleneck blocks")

__all__ = ["ResNet101V2", "ResNet152V2", "ResNet50V2", "decode_predictions", "preprocess_input"]
