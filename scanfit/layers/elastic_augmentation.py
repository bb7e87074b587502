"""RandomElasticTransform (Keras 3's arguments and config): images distorted by a random smooth displacement field.

While training, one distortion strength s is drawn per batch from `scale`; each image, with a probability drawn
per image from `factor`, has each pixel sample the input at a displacement of ``alpha`` times a field of normal
noise times ``sigma`` blurred by a Gaussian of ``sigma`` (window ``int(6 sigma) | 1``), where
``alpha = 0.1 s max(height, width)`` and ``sigma = 0.05 s min(height, width)``; the result is clipped to
`value_range`. At inference it is the identity. The functions take the noise, so the tests hold them to
Keras's images for the noise Keras draws.
"""
import jax
import jax.numpy as jnp

from scanfit import threefry
from scanfit.layers.augmentation import FILL_MODES, INTERPOLATIONS, factor_range
from scanfit.layers.color_augmentation import value_range_of
from scanfit.layers.distortion_augmentation import applied
from scanfit.layers.image_layer import ImageLayer

ELASTIC_FILL_MODES = FILL_MODES + ("mirror",)


def elastic_strength(height, width, scale):
    """``(alpha, sigma)`` for images of `height` x `width` and a distortion strength `scale`."""
    return max(height, width) * (0.1 * scale), min(height, width) * (0.05 * scale)


def window_of(sigma):
    """The Gaussian window Keras takes for `sigma`: ``int(6 sigma) | 1`` (odd)."""
    return jnp.floor(6 * sigma).astype(jnp.int32) | 1


def displacement_fields(noise, alpha, sigma, largest_window):
    """`noise` (batch, height, width, fields) times `sigma`, blurred by a Gaussian of `sigma` over its window
    (`window_of`; zeros beyond the borders), times `alpha`. `sigma` may be traced: the kernel spans
    `largest_window` (odd, at least the window of every sigma drawn) and is zero beyond sigma's own window."""
    offsets = jnp.arange(largest_window, dtype=noise.dtype) - (largest_window - 1) / 2
    within = jnp.abs(offsets) <= (window_of(sigma) - 1) // 2
    weights = jnp.where(within, jnp.exp(-0.5 * jnp.square(offsets / jnp.maximum(sigma, 1e-12))), 0.0)
    weights = weights / jnp.sum(weights)
    fields = noise.shape[-1]
    kernel = jnp.tile((weights[:, None] * weights[None, :])[:, :, None, None], (1, 1, 1, fields))
    blurred = jax.lax.conv_general_dilated(noise * sigma, kernel.astype(noise.dtype), (1, 1), "SAME",
                                           feature_group_count=fields, dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return alpha * blurred


def displace(images, row_shifts, column_shifts, interpolation="bilinear", fill_mode="reflect", fill_value=0.0):
    """Each pixel (row r, column c) of each image takes the input at ``(r + row_shift, c + column_shift)``
    (shifts (batch, height, width)); points outside follow `fill_mode`."""
    height, width = images.shape[1:3]
    rows, columns = jnp.meshgrid(jnp.arange(height, dtype=row_shifts.dtype),
                                 jnp.arange(width, dtype=row_shifts.dtype), indexing="ij")

    def one(image, row_shift, column_shift):
        source = [rows + row_shift, columns + column_shift]
        return jax.vmap(lambda plane: jax.scipy.ndimage.map_coordinates(
            plane, source, order=INTERPOLATIONS[interpolation], mode=fill_mode, cval=fill_value),
            in_axes=-1, out_axes=-1)(image)

    return jax.vmap(one)(images, row_shifts, column_shifts).astype(images.dtype)


class RandomElasticTransform(ImageLayer):
    """Distorts each image elastically (see the module's docstring) with a probability drawn per image from
    `factor` (a number f: [0, f]; a pair in [0, 1]), with a strength drawn per batch from `scale` (the same);
    `fill_mode` ('reflect', 'wrap', 'constant', 'nearest' or 'mirror'), `fill_value` and `interpolation`
    as RandomRotation's.

    Keras 3.15 draws one noise field for both axes, so every pixel moves along the diagonal; scanfit draws one
    for the rows and another for the columns, as an elastic transform does."""

    def __init__(self, factor=1.0, scale=1.0, interpolation="bilinear", fill_mode="reflect", fill_value=0.0,
                 value_range=(0, 255), seed=None, data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.factor = factor_range(factor, "RandomElasticTransform factor", lowest=0.0)
        self.scale = factor_range(scale, "RandomElasticTransform scale", lowest=0.0)
        if interpolation not in INTERPOLATIONS:
            raise ValueError(f"RandomElasticTransform interpolation must be one of {sorted(INTERPOLATIONS)}, got "
                             f"{interpolation!r}.")
        if fill_mode not in ELASTIC_FILL_MODES:
            raise ValueError(f"RandomElasticTransform fill_mode must be one of {ELASTIC_FILL_MODES}, got "
                             f"{fill_mode!r}.")
        if isinstance(fill_value, bool) or not isinstance(fill_value, (int, float)):
            raise ValueError(f"RandomElasticTransform fill_value must be a number, got fill_value={fill_value!r}.")
        self.interpolation, self.fill_mode, self.fill_value = interpolation, fill_mode, fill_value
        self.value_range, self.seed = value_range_of(value_range, "RandomElasticTransform"), seed

    def change(self, images, rng):
        if self.scale[1] == 0 or self.factor[1] == 0:  # as in Keras: nothing drawn, nothing changed
            return images
        apply_key, scale_key, noise_key = threefry.split(rng, 3)
        height, width = images.shape[1:3]
        scale = threefry.uniform(scale_key, (), minval=self.scale[0], maxval=self.scale[1])
        alpha, sigma = elastic_strength(height, width, scale)
        largest_window = (int(6 * elastic_strength(height, width, self.scale[1])[1]) | 1) + 2  # a margin
        noise = threefry.normal(noise_key, images.shape[:3] + (2,))
        shifts = displacement_fields(noise, alpha, sigma, largest_window)
        distorted = displace(images, shifts[..., 0], shifts[..., 1], self.interpolation, self.fill_mode,
                             float(self.fill_value))
        changed = jnp.where(applied(apply_key, images, self.factor).reshape(-1, 1, 1, 1), distorted, images)
        return jnp.clip(changed, self.value_range[0], self.value_range[1])

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "scale": self.scale,
                "interpolation": self.interpolation, "fill_mode": self.fill_mode, "fill_value": self.fill_value,
                "value_range": self.value_range, "seed": self.seed}
