"""Masking: skip padded timesteps in the layers that follow."""
import jax.numpy as jnp

from scanfit.layers.base import Layer


class Masking(Layer):
    """Masks every timestep whose features all equal `mask_value` (and zeroes those steps)."""

    supports_masking = True

    def __init__(self, mask_value=0.0, **kwargs):
        super().__init__(**kwargs)
        if isinstance(mask_value, bool) or not isinstance(mask_value, (int, float)):
            raise TypeError(f"Masking mask_value must be a number, got {mask_value!r}")
        self.mask_value = mask_value

    def compute_mask(self, x, mask=None):
        return jnp.any(jnp.not_equal(x, self.mask_value), axis=-1)

    def pure_call(self, weights, x, *, training=False, rng=None):
        keep = jnp.any(jnp.not_equal(x, self.mask_value), axis=-1, keepdims=True)
        return x * keep.astype(x.dtype), {}

    def get_config(self):
        return {**super().get_config(), "mask_value": self.mask_value}
