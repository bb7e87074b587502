"""What Keras's ImageNet models share: their input preprocessing, decoding their predictions into class names,
their input shapes, and fetching their pretrained weights.

`preprocess_input` computes what Keras's does, in its three modes: 'caffe' (RGB to BGR, then each channel
centred on its ImageNet mean, no scaling: VGG, ResNet), 'tf' (scaled to [-1, 1]: Xception, MobileNet) and
'torch' (scaled to [0, 1], then normalized by ImageNet's channel means and deviations). As Keras documents, a
floating NumPy array is preprocessed in place (the result is written over it); other NumPy arrays are first
converted to float32. On JAX arrays and on symbolic tensors (inside a functional model) it computes with
`keras.ops`. Only the 'channels_last' layout exists in scanfit.
"""
import json

import numpy as np

from scanfit import activations, layers, ops
from scanfit.layers import Input, symbolic
from scanfit.models import Model
from scanfit.utils.file_cache import get_file

CLASS_INDEX_FILE = ("imagenet_class_index.json",
                    "https://storage.googleapis.com/download.tensorflow.org/data/imagenet_class_index.json",
                    "c2c37ea517e94d9795004a39431a14cb")
CAFFE_MEANS = (103.939, 116.779, 123.68)  # the BGR channel means of ImageNet's images, 0-255
TORCH_MEANS, TORCH_DEVIATIONS = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
MODES = ("caffe", "tf", "torch")

_class_index = {}  # the class index, once read: {"0": ["n01440764", "tench"], ...}


def preprocess_input(x, data_format=None, mode="caffe"):
    """Images (a batch, or one; RGB, 0-255) as Keras's ImageNet models take them (see the module's docstring)."""
    if data_format not in (None, "channels_last"):
        raise ValueError(f"preprocess_input: scanfit's images are 'channels_last', got data_format={data_format!r}.")
    if mode not in MODES:
        raise ValueError(f"preprocess_input: mode must be one of {MODES}, got {mode!r}.")
    if isinstance(x, np.ndarray):
        if not np.issubdtype(x.dtype, np.floating):
            x = x.astype(np.float32)
        return _preprocess_array(x, mode)
    if not symbolic.is_symbolic(x):
        x = ops.convert_to_tensor(x)
        x = ops.cast(x, "float32") if not str(x.dtype).startswith(("float", "bfloat")) else x
    if mode == "tf":
        return x / 127.5 - 1.0
    if mode == "torch":
        return (x / 255.0 - np.array(TORCH_MEANS, np.float32)) / np.array(TORCH_DEVIATIONS, np.float32)
    return ops.flip(x, axis=-1) - np.array(CAFFE_MEANS, np.float32)


def _preprocess_array(x, mode):
    """Keras's NumPy preprocessing, written over the floating array `x` (the result is `x`, or in 'caffe' mode a
    channel-reversed view of it, as Keras returns)."""
    if mode == "tf":
        x /= 127.5
        x -= 1.0
        return x
    if mode == "torch":
        x /= 255.0
        x -= np.asarray(TORCH_MEANS, x.dtype)
        x /= np.asarray(TORCH_DEVIATIONS, x.dtype)
        return x
    bgr = x[..., ::-1]  # a view: as in Keras, the means are taken off `x` itself, and the BGR view returned
    bgr -= np.asarray(CAFFE_MEANS, x.dtype)
    return bgr


def preprocess_tf(x, data_format=None):
    """Images (RGB, 0-255) as the models trained in TensorFlow's way take them (Xception, InceptionV3,
    MobileNetV2): scaled to [-1, 1], 'tf' mode of `preprocess_input`."""
    return preprocess_input(x, data_format=data_format, mode="tf")


def decode_predictions(preds, top=5):
    """The `top` classes of each row of `preds` (samples x 1000 ImageNet probabilities), best first, as
    ``(class_id, class_name, score)`` tuples. The class names come from Keras's class index file (downloaded
    once into ``~/.keras/models``)."""
    preds = np.asarray(preds)
    if preds.ndim != 2 or preds.shape[1] != 1000:
        raise ValueError("decode_predictions expects a batch of ImageNet predictions, an array of shape "
                         f"(samples, 1000); got shape {preds.shape}.")
    if not _class_index:
        name, url, file_hash = CLASS_INDEX_FILE
        with open(get_file(name, url, cache_subdir="models", file_hash=file_hash), encoding="utf-8") as file:
            _class_index.update(json.load(file))
    results = []
    for row in preds:
        best = np.argsort(row)[-top:][::-1]
        results.append(sorted((tuple(_class_index[str(i)]) + (row[i],) for i in best), key=lambda t: t[2],
                              reverse=True))
    return results


def image_input_shape(input_shape, include_top, weights, default_size=224, min_size=32):
    """The input shape of an ImageNet model, checked as Keras checks it: with its top layers the shape must be
    static (224 x 224 x 3 for ImageNet's weights); without, it defaults to (None, None, 3); ImageNet's weights
    need 3 channels; known sides are at least `min_size`."""
    if input_shape is None:
        return (default_size, default_size, 3) if include_top else (None, None, 3)
    input_shape = tuple(input_shape)
    if len(input_shape) != 3:
        raise ValueError(f"input_shape must be (height, width, channels), got {input_shape}.")
    if weights == "imagenet" and input_shape[-1] != 3:
        raise ValueError(f"ImageNet's weights take 3 channels; got input_shape={input_shape}.")
    if weights == "imagenet" and include_top and input_shape != (default_size, default_size, 3):
        raise ValueError(f"With include_top=True and ImageNet's weights, input_shape must be "
                         f"({default_size}, {default_size}, 3); got {input_shape}. Pass include_top=False to take "
                         "other sizes.")
    if include_top and None in input_shape:
        raise ValueError(f"With include_top=True the input shape must be fully known; got {input_shape}.")
    if any(side is not None and side < min_size for side in input_shape[:2]):
        raise ValueError(f"The images must be at least {min_size} x {min_size}; got input_shape={input_shape}.")
    return input_shape


def image_input(input_tensor, input_shape, include_top, weights, pooling, default_size=224, min_size=32):
    """An ImageNet model's input: `input_tensor` (a ``keras.Input`` tensor) or a new ``keras.Input`` of
    `image_input_shape`; `pooling` (None, 'avg' or 'max') is checked here too."""
    if pooling not in (None, "avg", "max"):
        raise ValueError(f"pooling must be None, 'avg' or 'max'; got {pooling!r}.")
    if input_tensor is None:
        return Input(shape=image_input_shape(input_shape, include_top, weights, default_size, min_size))
    history = getattr(input_tensor, "history", None)
    if history is None or not getattr(history.layer, "is_input_layer", False):
        raise ValueError(f"input_tensor must be a keras.Input(...) tensor (the model's input), got {input_tensor!r}.")
    image_input_shape(input_tensor.shape[1:], include_top, weights, default_size, min_size)
    return input_tensor


def classifier_top(x, include_top, pooling, classes, classifier_activation, top_pool_name="avg_pool",
                   pool_names=(None, None), dropout=None, kernel_initializer="glorot_uniform"):
    """The end of a convolutional ImageNet model: with the top, global average pooling (named `top_pool_name`),
    `dropout` when given (``top_dropout``) and the `classes`-way classifier; without, `pooling` None, 'avg' or
    'max' (named as `pool_names` say)."""
    if include_top:
        x = layers.GlobalAveragePooling2D(name=top_pool_name)(x)
        if dropout is not None:
            x = layers.Dropout(dropout, name="top_dropout")(x)
        return layers.Dense(classes, activation=classifier_activation, kernel_initializer=kernel_initializer,
                            name="predictions")(x)
    if pooling == "avg":
        return layers.GlobalAveragePooling2D(name=pool_names[0])(x)
    if pooling == "max":
        return layers.GlobalMaxPooling2D(name=pool_names[1])(x)
    return x


def weight_file(base_url, kind, include_top, hashes):
    """(file name, URL, MD5) of Keras's ImageNet weights of model `kind`, named as Keras names them
    (``<kind>_weights_tf_dim_ordering_tf_kernels[_notop].h5`` under `base_url`); `hashes`: (with top, without)."""
    file_name = f"{kind}_weights_tf_dim_ordering_tf_kernels{'' if include_top else '_notop'}.h5"
    return file_name, base_url + file_name, hashes[0 if include_top else 1]


def variant(build, kind, public_name, summary):
    """Keras's function for one variant of a family of models (``ResNet50`` of the ResNets, say): Keras's
    arguments, the model named `kind` by default, built by ``build(kind, ...)``."""
    def application(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                    classes=1000, classifier_activation="softmax", name=kind):
        return build(kind, include_top, weights, input_tensor, input_shape, pooling, classes, classifier_activation,
                     name)

    application.__name__ = application.__qualname__ = public_name
    application.__doc__ = f"Keras's {public_name} ({summary}); the arguments are `{build.__name__}`'s."
    return application


def check_weights_argument(weights, include_top, classes, classifier_activation):
    """Keras's checks of an ImageNet model's `weights` ('imagenet', None, or a weights file) and its classifier."""
    if not (weights in ("imagenet", None) or isinstance(weights, str)):
        raise ValueError(f"weights must be 'imagenet', None or the path of a weights file; got {weights!r}.")
    if weights == "imagenet" and include_top and classes != 1000:
        raise ValueError(f"With ImageNet's weights and include_top=True, classes must be 1000; got {classes}.")
    allowed = (activations.get("softmax"), activations.get(None))
    if weights is not None and include_top and activations.get(classifier_activation) not in allowed:
        raise ValueError("With pretrained weights, classifier_activation must be 'softmax' or None (the logits); "
                         f"got {classifier_activation!r}.")


def pretrained_model(inputs, outputs, name, weights, weight_file):
    """The functional model from `inputs` to `outputs`, named `name`, with `weights` loaded: ImageNet's
    (`weight_file`: (file name, URL, MD5 or None) of Keras's file, downloaded once into ``~/.keras/models``), none
    (None), or those of the file at the path `weights`."""
    model = Model(inputs, outputs, name=name)
    if weights == "imagenet":
        file_name, url, file_hash = weight_file
        weights = get_file(file_name, url, cache_subdir="models", file_hash=file_hash)
    if weights is not None:
        model.load_weights(weights)
    return model


def correct_pad(x, kernel_size):
    """Keras's zero padding before a strided `kernel_size` convolution of the image tensor `x` ('valid'), so that
    it sees the pixels TensorFlow's 'same' would: k // 2 after each side, one less before where the side is even
    (or the height unknown)."""
    sizes = x.shape[1:3]
    kernels = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
    even = (1, 1) if sizes[0] is None else tuple(1 - (side or 0) % 2 for side in sizes)
    return tuple((k // 2 - shift, k // 2) for k, shift in zip(kernels, even))
