"""ConvNeXtTiny, Small, Base, Large and XLarge (Liu et al., 2022), as Keras builds them: the same layers, names and
weights, so that Keras's ImageNet weights load into them. They take images of 0-255 pixels: with
`include_preprocessing` (and 3 channels) a `Normalization` layer centres and scales them by ImageNet's statistics,
so `preprocess_input` returns its input as it is (Keras's placeholder).

Each block is a 7 x 7 depthwise convolution, layer normalization, a 4x-wide pointwise MLP with GELU (Dense layers
on the channels), a learned per-channel scale (`LayerScale`) and the residual sum. A stem (4 x 4 convolution of
stride 4, then layer normalization) and three downsampling steps (layer normalization, 2 x 2 convolution of
stride 2) are small `Sequential` models inside the model, as in Keras. Keras's `LayerScale` and `StochasticDepth`
layers are defined here and known to the model readers by their class names, so the ``.keras`` files Keras
writes with them load.
"""
import jax.numpy as jnp

from scanfit import initializers, layers, naming, threefry
from scanfit.applications import imagenet_utils
from scanfit.applications.imagenet_utils import decode_predictions
from scanfit.layers.base import Layer
from scanfit.models import Sequential
from scanfit.serialization import register_built_in

WEIGHTS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/convnext/"
# Per model: (blocks per stage, channels per stage, SHA-256 of Keras's weight files with the top layers, without).
VARIANTS = {
    "convnext_tiny": ((3, 3, 9, 3), (96, 192, 384, 768),
                      "8ae6e78ce2933352b1ef4008e6dd2f17bc40771563877d156bc6426c7cf503ff",
                      "d547c096cabd03329d7be5562c5e14798aa39ed24b474157cef5e85ab9e49ef1"),
    "convnext_small": ((3, 3, 27, 3), (96, 192, 384, 768),
                       "ce1277d8f1ee5a0ef0e171469089c18f5233860ceaf9b168049cb9263fd7483c",
                       "6fc8009faa2f00c1c1dfce59feea9b0745eb260a7dd11bee65c8e20843da6eab"),
    "convnext_base": ((3, 3, 27, 3), (128, 256, 512, 1024),
                      "52cbb006d3dadd03f6e095a8ca1aca47aecdd75acb4bc74bce1f5c695d0086e6",
                      "40a20c5548a5e9202f69735ecc06c990e6b7c9d2de39f0361e27baeb24cb7c45"),
    "convnext_large": ((3, 3, 27, 3), (192, 384, 768, 1536),
                       "070c5ed9ed289581e477741d3b34beffa920db8cf590899d6d2c67fba2a198a6",
                       "96f02b6f0753d4f543261bc9d09bed650f24dd6bc02ddde3066135b63d23a1cd"),
    "convnext_xlarge": ((3, 3, 27, 3), (256, 512, 1024, 2048),
                        "c1f5ccab661354fc3a79a10fa99af82f0fbf10ec65cb894a3ae0815f17a889ee",
                        "de3f8a54174130e0cecdc71583354753d557fcf1f4487331558e2a16ba0cfe05"),
}
LAYER_SCALE_INIT_VALUE = 1e-6
EPSILON = 1e-6  # of every layer normalization
IMAGENET_MEAN = (0.485 * 255, 0.456 * 255, 0.406 * 255)
IMAGENET_VARIANCE = ((0.229 * 255) ** 2, (0.224 * 255) ** 2, (0.225 * 255) ** 2)
KERAS_MODULE = "keras.src.applications.convnext"  # where Keras defines (and its files name) the two layers below


class LayerScale(Layer):
    """Multiplies its input by a learned scale per channel (of `projection_dim` channels), initially
    `init_values` (Touvron et al., 2021). Keras leaves the scale's weight unnamed, so it is named as Keras names
    unnamed weights: ``variable``, ``variable_1``, ... counted over the session with the automatic layer names."""

    keras_module = KERAS_MODULE

    def __init__(self, init_values, projection_dim, **kwargs):
        super().__init__(**kwargs)
        self.init_values = init_values
        self.projection_dim = projection_dim

    def build(self, input_shape):
        self.gamma = self.add_weight(shape=(self.projection_dim,), initializer=initializers.Constant(self.init_values),
                                     name=naming.unique_name("variable"))

    def pure_call(self, weights, x, *, training=False, rng=None):
        return x * weights[self.gamma.short_name], {}

    def get_config(self):
        return {**super().get_config(), "init_values": self.init_values, "projection_dim": self.projection_dim}


class StochasticDepth(Layer):
    """Drops its input (a residual branch) whole per sample with probability `drop_path_rate` while training,
    scaling the kept samples by 1 / (1 - drop_path_rate), as Keras does: a sample is kept where
    ``floor(1 - rate + u)`` is 1, `u` uniform in [0, 1) drawn from the call's random key. The identity at
    inference (and without a random key)."""

    keras_module = KERAS_MODULE

    def __init__(self, drop_path_rate, **kwargs):
        super().__init__(**kwargs)
        if isinstance(drop_path_rate, bool) or not isinstance(drop_path_rate, (int, float)) or \
                not 0 <= drop_path_rate < 1:
            raise ValueError(f"StochasticDepth drop_path_rate must be a number in [0, 1) (at 1 every sample is "
                             f"dropped and Keras's scaling divides by zero); got drop_path_rate={drop_path_rate!r}.")
        self.drop_path_rate = drop_path_rate

    def pure_call(self, weights, x, *, training=False, rng=None):
        if not training or rng is None:
            return x, {}
        keep_probability = 1.0 - self.drop_path_rate
        draws = threefry.uniform(rng, (x.shape[0],) + (1,) * (x.ndim - 1)).astype(x.dtype)
        return x / keep_probability * jnp.floor(keep_probability + draws), {}

    def get_config(self):
        return {**super().get_config(), "drop_path_rate": self.drop_path_rate}


register_built_in("layer", {"LayerScale": LayerScale, "StochasticDepth": StochasticDepth})


def build_convnext(kind, include_top=True, include_preprocessing=True, weights="imagenet", input_tensor=None,
                   input_shape=None, pooling=None, classes=1000, classifier_activation="softmax", name=None):
    """Keras's ConvNeXt `kind` ('convnext_tiny' ... 'convnext_xlarge'): (`include_preprocessing`, for 3-channel
    images) ImageNet's normalization, the stem and the four stages of blocks (a downsampling step before each of
    the last three), then (`include_top`) global average pooling, layer normalization and the `classes`-way
    classifier; without the top, `pooling` None, 'avg' or 'max' and a layer normalization (on the feature map
    itself when `pooling` is None), as in Keras. `weights`: 'imagenet' (Keras's file, downloaded once; the model's
    `name` must then contain `kind`, as Keras requires), None (random), or a weights file's path. The model is named
    `name` (default: `kind`), and its layers' names start with it."""
    depths, dims, *hashes = VARIANTS[kind]
    name = name or kind
    imagenet_utils.check_weights_argument(weights, include_top, classes, classifier_activation)
    if weights == "imagenet" and kind not in name:
        raise ValueError(f"With ImageNet's weights the model's name must contain {kind!r} (as Keras requires); "
                         f"got name={name!r}.")
    inputs = imagenet_utils.image_input(input_tensor, input_shape, include_top, weights, pooling)
    x = inputs
    if include_preprocessing and inputs.shape[-1] == 3:
        x = layers.Normalization(mean=list(IMAGENET_MEAN), variance=list(IMAGENET_VARIANCE),
                                 name=f"{name}_prestem_normalization")(x)
    x = Sequential([layers.Conv2D(dims[0], 4, strides=4, name=f"{name}_stem_conv"),
                    layers.LayerNormalization(epsilon=EPSILON, name=f"{name}_stem_layernorm")],
                   name=f"{name}_stem")(x)
    for stage, (depth, dim) in enumerate(zip(depths, dims)):
        if stage:
            prefix, step = f"{name}_downsampling", stage - 1
            x = Sequential([layers.LayerNormalization(epsilon=EPSILON, name=f"{prefix}_layernorm_{step}"),
                            layers.Conv2D(dim, 2, strides=2, name=f"{prefix}_conv_{step}")],
                           name=f"{prefix}_block_{step}")(x)
        for block in range(depth):
            x = _block(x, dim, f"{name}_stage_{stage}_block_{block}")
    if include_top:
        x = layers.GlobalAveragePooling2D(name=f"{name}_head_gap")(x)
        x = layers.LayerNormalization(epsilon=EPSILON, name=f"{name}_head_layernorm")(x)
        x = layers.Dense(classes, activation=classifier_activation, name=f"{name}_head_dense")(x)
    else:
        if pooling == "avg":
            x = layers.GlobalAveragePooling2D()(x)
        elif pooling == "max":
            x = layers.GlobalMaxPooling2D()(x)
        x = layers.LayerNormalization(epsilon=EPSILON)(x)
    file_name = f"{kind}{'.h5' if include_top else '_notop.h5'}"
    return imagenet_utils.pretrained_model(inputs, x, name, weights,
                                           (file_name, WEIGHTS_URL + file_name, hashes[0 if include_top else 1]))


def _block(inputs, dim, name):
    """A ConvNeXt block of `dim` channels, its layers' names starting with `name` (Keras's; the residual's
    branch ends in a linear `Activation`, Keras's stand-in for `StochasticDepth` at rate 0)."""
    x = layers.Conv2D(dim, 7, padding="same", groups=dim, name=f"{name}_depthwise_conv")(inputs)
    x = layers.LayerNormalization(epsilon=EPSILON, name=f"{name}_layernorm")(x)
    x = layers.Dense(4 * dim, name=f"{name}_pointwise_conv_1")(x)
    x = layers.Activation("gelu", name=f"{name}_gelu")(x)
    x = layers.Dense(dim, name=f"{name}_pointwise_conv_2")(x)
    x = LayerScale(LAYER_SCALE_INIT_VALUE, dim, name=f"{name}_layer_scale")(x)
    return inputs + layers.Activation("linear", name=f"{name}_identity")(x)


def preprocess_input(x, data_format=None):
    """`x` itself: the ConvNeXts take 0-255 pixels and normalize them in their first layer (in either layout, so
    `data_format` changes nothing), as Keras's placeholder does."""
    return x


def _variant(size):
    kind = f"convnext_{size.lower()}"
    public_name = f"ConvNeXt{size}"

    def application(include_top=True, include_preprocessing=True, weights="imagenet", input_tensor=None,
                    input_shape=None, pooling=None, classes=1000, classifier_activation="softmax", name=kind):
        return build_convnext(kind, include_top, include_preprocessing, weights, input_tensor, input_shape, pooling,
                              classes, classifier_activation, name)

    depths, dims = VARIANTS[kind][:2]
    application.__name__ = application.__qualname__ = public_name
    application.__doc__ = (f"Keras's {public_name} ({sum(depths)} blocks, {dims[0]} to {dims[-1]} channels, "
                           "224 x 224 images by default); the arguments are `build_convnext`'s.")
    return application


ConvNeXtTiny, ConvNeXtSmall, ConvNeXtBase, ConvNeXtLarge, ConvNeXtXLarge = (
    _variant(size) for size in ("Tiny", "Small", "Base", "Large", "XLarge"))

__all__ = ["ConvNeXtBase", "ConvNeXtLarge", "ConvNeXtSmall", "ConvNeXtTiny", "ConvNeXtXLarge", "LayerScale",
           "StochasticDepth", "decode_predictions", "preprocess_input"]
