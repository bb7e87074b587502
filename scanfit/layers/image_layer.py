"""The base of the image augmentation layers that work as Keras 3's image preprocessing layers: images (batch,
height, width, channels) or (batch, channels, height, width) with ``data_format='channels_first'``, or one
image, cast to the layer's compute dtype as Keras casts them; Keras's dict inputs (images with labels,
bounding boxes or segmentation masks) and its `bounding_box_format` are refused."""
import jax.numpy as jnp

from scanfit.layers.base import Layer
from scanfit.layers.convolution import data_format_of, from_channels_last, to_channels_last


class ImageLayer(Layer):
    """A layer that changes images with `change(images, rng)`, on (batch, height, width, channels) floats of its
    compute dtype: while training with a key (or, with ``at_inference``, always); the identity otherwise."""

    at_inference = False
    needs_rgb = False  # whether the images must have 3 channels
    default_training = True  # called on arrays with no mode, it augments (Keras's call takes training=True)

    def __init__(self, data_format=None, bounding_box_format=None, **kwargs):
        super().__init__(**kwargs)
        if bounding_box_format is not None:
            raise NotImplementedError(f"{type(self).__name__}: scanfit's image layers take images only; "
                                      f"bounding boxes are not supported (got bounding_box_format="
                                      f"{bounding_box_format!r}). Leave it out.")
        self.data_format = data_format_of(data_format)

    def build(self, input_shape):
        if not all(d is None or isinstance(d, int) for d in input_shape):
            raise ValueError(self.dict_refusal())
        if len(input_shape) not in (3, 4):
            raise ValueError(f"{type(self).__name__} {self.name!r} takes images (batch, height, width, channels) "
                             f"or one image, got shape {input_shape}.")
        channels = input_shape[-1 if self.data_format == "channels_last" else -3]
        if self.needs_rgb and channels not in (None, 3):
            raise ValueError(f"{type(self).__name__} {self.name!r} takes RGB images (3 channels), got shape "
                             f"{input_shape} ({self.data_format}).")

    def pure_call(self, weights, x, *, training=False, rng=None):
        if isinstance(x, dict):
            raise ValueError(self.dict_refusal())
        x = jnp.asarray(x).astype(self.compute_dtype)
        if not (self.at_inference or (training and rng is not None)):
            return x, {}
        single = x.ndim == 3
        images = to_channels_last(x[None] if single else x, self.data_format)
        images = from_channels_last(self.change(images, rng), self.data_format)
        return (images[0] if single else images), {}

    def dict_refusal(self):
        return (f"{type(self).__name__} {self.name!r} takes an array of images; scanfit does not take Keras's dict "
                "inputs (images with labels, bounding boxes or segmentation masks): pass the images alone.")

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}
