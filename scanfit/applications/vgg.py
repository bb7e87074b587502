"""VGG16 and VGG19 (Simonyan & Zisserman, 2014), as Keras builds them: the same layers, names and weights, so
that Keras's ImageNet weights load into them (Chollet's feature extraction and fine-tuning with a VGG16 base).

ImageNet's weights are Keras's own files, downloaded once into ``~/.keras/models`` and checked against their
MD5 (``keras.utils.get_file``); their inputs are prepared by `preprocess_input` ('caffe' mode).
"""
from scanfit import layers
from scanfit.applications import imagenet_utils

_BASE = "https://storage.googleapis.com/tensorflow/keras-applications/"
# (file name, URL, MD5) of Keras's ImageNet weights: with the top layers, without.
WEIGHT_FILES = {
    "vgg16": (("vgg16_weights_tf_dim_ordering_tf_kernels.h5",
               _BASE + "vgg16/vgg16_weights_tf_dim_ordering_tf_kernels.h5", "64373286793e3c8b2b4e3219cbf3544b"),
              ("vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
               _BASE + "vgg16/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5", "6d6bbae143d832006294945121d1f1fc")),
    "vgg19": (("vgg19_weights_tf_dim_ordering_tf_kernels.h5",
               _BASE + "vgg19/vgg19_weights_tf_dim_ordering_tf_kernels.h5", "cbe5617147190e668d6c5d5026f83318"),
              ("vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5",
               _BASE + "vgg19/vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5", "253f8cb515780f3b799900260a226db6")),
}
BLOCKS = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}  # convolutions per block
FILTERS = (64, 128, 256, 512, 512)


def preprocess_input(x, data_format=None):
    """Images (RGB, 0-255) as the VGG models take them: BGR, centred on ImageNet's channel means ('caffe' mode of
    `imagenet_utils.preprocess_input`)."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="caffe")


def build_vgg(kind, include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
              classes=1000, classifier_activation="softmax", name=None):
    """Keras's `VGG16` or `VGG19` (`kind` 'vgg16' or 'vgg19'): five blocks of 3 x 3 convolutions and max pooling,
    then (`include_top`) two Dense(4096) and the `classes`-way classifier (`classifier_activation`); without the
    top, `pooling` None, 'avg' or 'max'. `weights`: 'imagenet' (Keras's file, downloaded once), None (random), or
    a weights file's path. The model is named `name` (default: `kind`)."""
    imagenet_utils.check_weights_argument(weights, include_top, classes, classifier_activation)
    inputs = imagenet_utils.image_input(input_tensor, input_shape, include_top, weights, pooling)
    x = inputs
    for block, (count, filters) in enumerate(zip(BLOCKS[kind], FILTERS), start=1):
        for conv in range(1, count + 1):
            x = layers.Conv2D(filters, (3, 3), activation="relu", padding="same", name=f"block{block}_conv{conv}")(x)
        x = layers.MaxPooling2D((2, 2), strides=(2, 2), name=f"block{block}_pool")(x)
    if include_top:
        x = layers.Flatten(name="flatten")(x)
        x = layers.Dense(4096, activation="relu", name="fc1")(x)
        x = layers.Dense(4096, activation="relu", name="fc2")(x)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    elif pooling == "avg":
        x = layers.GlobalAveragePooling2D()(x)
    elif pooling == "max":
        x = layers.GlobalMaxPooling2D()(x)
    with_top, without_top = WEIGHT_FILES[kind]
    return imagenet_utils.pretrained_model(inputs, x, name or kind, weights, with_top if include_top else without_top)


VGG16 = imagenet_utils.variant(build_vgg, "vgg16", "VGG16", "13 convolutions in five blocks")
VGG19 = imagenet_utils.variant(build_vgg, "vgg19", "VGG19", "16 convolutions in five blocks")
