"""Colour and tone augmentation layers: Solarization, AutoContrast, Equalization, RandomInvert, RandomGrayscale,
RandomPosterization, RandomColorDegeneration, RandomSaturation, RandomHue, RandomSharpness, RandomColorJitter.

Each takes (batch, height, width, channels) images (channels first with ``data_format='channels_first'``) or
one image, with pixel values in `value_range`, and gives floats of its compute dtype, as Keras 3 does. The
random layers draw one parameter per image from the key of their call while training and are the identity at
inference (as in augmentation.py); AutoContrast and Equalization draw nothing and apply at inference too, as
Keras documents. The functions (`solarize`, `equalize`, `adjust_hue`, ...) take the per-image parameters, so
the tests hold them to Keras's images for the parameters Keras draws. Keras's dict inputs (images with
labels, bounding boxes or masks) are refused.
"""
import jax
import jax.numpy as jnp

from scanfit import threefry
from scanfit.image_ops import hsv_to_rgb, rgb_to_grayscale, rgb_to_hsv
from scanfit.layers.augmentation import adjust_brightness, adjust_contrast, factor_range
from scanfit.layers.image_layer import ImageLayer

EPSILON = 1e-7  # keras.config.epsilon(), in RandomSaturation's factor


def per_image(values):
    """Per-image parameters shaped to broadcast over (batch, height, width, channels)."""
    return jnp.reshape(values, (-1, 1, 1, 1))


def to_range(images, source, target):
    """`images` mapped linearly from the value range `source` to `target` (each (low, high))."""
    if tuple(source) == tuple(target):
        return images
    unit = (images - source[0]) / (source[1] - source[0])
    return unit * (target[1] - target[0]) + target[0]


def value_range_of(value_range, layer):
    """`value_range` checked to be a pair of numbers (low, high)."""
    if (not isinstance(value_range, (list, tuple)) or len(value_range) != 2
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value_range)
            or value_range[0] == value_range[1]):
        raise ValueError(f"{layer} value_range must be a pair of different numbers (low, high), got "
                         f"{value_range!r}.")
    return value_range


def solarize(images, additions, thresholds, value_range):
    """Each image, on the 0-255 scale, plus its addition (clipped to [0, 255]); values at or above its
    threshold become ``255 - value``."""
    x = jnp.clip(to_range(images, value_range, (0, 255)) + per_image(additions), 0, 255)
    x = jnp.where(x < per_image(thresholds), x, 255 - x)
    return to_range(x, (0, 255), value_range)


def auto_contrast(images, value_range):
    """Each channel of each image stretched linearly onto the whole `value_range` (a constant one is kept)."""
    x = to_range(images, value_range, (0, 255))
    low, high = jnp.min(x, axis=(1, 2), keepdims=True), jnp.max(x, axis=(1, 2), keepdims=True)
    spread = high - low
    scale = 255.0 / jnp.where(spread > 0, spread, 1)
    stretched = to_range(jnp.clip(x * scale - low * scale, 0, 255), (0, 255), value_range)
    return jnp.where(spread > 0, stretched, images)


def equalize(images, value_range, bins):
    """Histogram equalization of each channel of each image, on `bins` bins over `value_range`; a channel
    whose values fill at most one bin is kept (Keras's arithmetic, step for step)."""
    low, high = value_range
    x = images * (255.0 / (high - low)) - low * (255.0 / (high - low))

    def channel(values):
        counted = jnp.clip((values * (bins - 1) / 255.0).astype(jnp.int32), 0, bins - 1)
        histogram = jnp.zeros(bins, jnp.int32).at[counted.ravel()].add(1)
        cdf = jnp.cumsum(histogram)
        cdf_min = cdf[jnp.argmax(cdf > 0)]
        denominator = jnp.where(cdf[-1] == cdf_min, 1, cdf[-1] - cdf_min)
        table = jnp.clip(jnp.round((cdf - cdf_min) * 255 / denominator), 0, 255)
        looked_up = jnp.clip(values / 255.0 * (bins - 1), 0, bins - 1).astype(jnp.int32)
        return jnp.where(jnp.count_nonzero(histogram) <= 1, values, table[looked_up].astype(values.dtype))

    equalized = jax.vmap(jax.vmap(channel, in_axes=-1, out_axes=-1))(x)
    return equalized * ((high - low) / 255.0) + low


def invert(images, flags, value_range):
    """The images whose flag is set with each value v turned into ``low + high - v``."""
    return jnp.where(per_image(flags), value_range[0] + value_range[1] - images, images)


def grayscale(images, flags):
    """The RGB images whose flag is set turned grey (each channel the luminance), the others unchanged."""
    return jnp.where(per_image(flags), rgb_to_grayscale(images), images)


def posterize(images, bits, value_range):
    """Each image on the 0-255 scale truncated to integers that keep only their `bits` high bits (one count
    per image, 1 to 8)."""
    x = jnp.clip(to_range(images, value_range, (0, 255)), 0, 255).astype(jnp.uint8)
    shift = per_image(8 - bits).astype(jnp.uint8)
    return to_range(((x >> shift) << shift).astype(images.dtype), (0, 255), value_range)


def degenerate(images, factors, value_range):
    """Each RGB image moved by its factor towards its grey version (factor 1: all grey), clipped."""
    blended = images + per_image(factors) * (rgb_to_grayscale(images) - images)
    return jnp.clip(blended, value_range[0], value_range[1])


def _with_hsv(images, value_range, change):
    """RGB `images` whose (hue, saturation, value) planes, as floats in [0, 1], `change` returns anew."""
    hsv = rgb_to_hsv(to_range(images, value_range, (0, 1)))
    rgb = hsv_to_rgb(jnp.stack(change(hsv[..., 0], hsv[..., 1], hsv[..., 2]), axis=-1))
    return to_range(rgb, (0, 1), value_range)


def adjust_saturation(images, factors, value_range):
    """Each RGB image's saturation times its factor, within [0, 1]."""
    def change(hue, saturation, value):
        return hue, jnp.clip(saturation * factors.reshape(-1, 1, 1), 0, 1), value

    return _with_hsv(images, value_range, change)


def adjust_hue(images, shifts, value_range):
    """Each RGB image's hue (in turns, [0, 1]) plus its shift, around the colour wheel."""
    def change(hue, saturation, value):
        hue = hue + shifts.reshape(-1, 1, 1)
        hue = jnp.where(hue > 1, hue - 1, hue)
        return jnp.where(hue < 0, hue + 1, hue), saturation, value

    to_unit = to_range(images, value_range, (0, 1))
    return to_range(jnp.clip(_with_hsv(to_unit, (0, 1), change), 0, 1), (0, 1), value_range)


def sharpen(images, factors, value_range):
    """Each image blended with its blur by Keras's 3 x 3 smoothing kernel (zeros beyond the borders): factor
    0 gives the blur, 0.5 the image, 1 twice the image minus the blur; clipped to `value_range`."""
    channels = images.shape[-1]
    kernel = jnp.full((3, 3), 1.0 / 13.0).at[1, 1].set(5.0 / 13.0)
    filters = jnp.tile(kernel[:, :, None, None], (1, 1, 1, channels)).astype(images.dtype)
    blurred = jax.lax.conv_general_dilated(images, filters, (1, 1), "SAME", feature_group_count=channels,
                                           dimension_numbers=("NHWC", "HWIO", "NHWC"))
    sharpened = images + (1.0 - 2.0 * per_image(factors)) * (blurred - images)
    return jnp.clip(sharpened, value_range[0], value_range[1])


def uniform(key, images, bounds):
    """One draw per image, uniform in `bounds` (lower, upper), in the images' dtype."""
    return threefry.uniform(key, images.shape[:1], minval=float(bounds[0]),
                            maxval=float(bounds[1])).astype(images.dtype)


class _RandomColorLayer(ImageLayer):
    """A random colour layer: `seed` (kept in its config) and `value_range`."""

    def __init__(self, value_range=(0, 255), seed=None, data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.seed = seed
        self.value_range = sorted(value_range_of(value_range, type(self).__name__))

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "value_range": self.value_range, "seed": self.seed}


class Solarization(ImageLayer):
    """Adds to each image ``u * 255`` (on the 0-255 scale of `value_range`), u drawn from `addition_factor`
    (a number f: [0, f]; a pair in [0, 1]), then turns each value at or above a threshold drawn from
    ``threshold_factor * 255`` into ``255 - value``. With the defaults it inverts every value.

    Keras 3.15 draws the addition and threshold from [lower, upper * 255]; scanfit scales both ends by 255, as
    Keras documents."""

    def __init__(self, addition_factor=0.0, threshold_factor=0.0, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(**kwargs)
        self.addition_factor = factor_range(addition_factor, "Solarization addition_factor", lowest=0.0)
        self.threshold_factor = factor_range(threshold_factor, "Solarization threshold_factor", lowest=0.0)
        self.value_range = sorted(value_range_of(value_range, "Solarization"))
        self.seed = seed

    def change(self, images, rng):
        addition_key, threshold_key = threefry.split(rng)
        additions = uniform(addition_key, images, [255.0 * f for f in self.addition_factor])
        thresholds = uniform(threshold_key, images, [255.0 * f for f in self.threshold_factor])
        return solarize(images, additions, thresholds, self.value_range)

    def get_config(self):
        return {**super().get_config(), "value_range": self.value_range, "addition_factor": self.addition_factor,
                "threshold_factor": self.threshold_factor, "seed": self.seed}


class AutoContrast(ImageLayer):
    """Stretches each channel of each image onto the whole `value_range`, at inference too."""

    at_inference = True

    def __init__(self, value_range=(0, 255), data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.value_range = sorted(value_range_of(value_range, "AutoContrast"))

    def change(self, images, rng):
        return auto_contrast(images, self.value_range)

    def get_config(self):
        return {**super().get_config(), "value_range": self.value_range}


class Equalization(ImageLayer):
    """Equalizes the histogram (`bins` bins) of each channel of each image, at inference too, as Keras documents.

    Keras 3.15 counts one histogram per channel over the whole batch, and returns the images unchanged when not
    training; scanfit equalizes each image on its own histogram, as documented (so one image gives Keras's
    result)."""

    at_inference = True

    def __init__(self, value_range=(0, 255), bins=256, data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        if isinstance(bins, bool) or not isinstance(bins, int) or bins < 2:
            raise ValueError(f"Equalization bins must be an int of at least 2, got bins={bins!r}.")
        self.bins = bins
        self.value_range = sorted(value_range_of(value_range, "Equalization"))

    def change(self, images, rng):
        return equalize(images, self.value_range, self.bins)

    def get_config(self):
        return {**super().get_config(), "bins": self.bins, "value_range": self.value_range}


class RandomInvert(_RandomColorLayer):
    """Inverts each image (v becomes ``low + high - v`` in `value_range`) with a probability drawn per image
    from `factor` (a number f: [0, f]; a pair in [0, 1]). `value_range` stays in the config as given."""

    def __init__(self, factor=1.0, value_range=(0, 255), seed=None, data_format=None, **kwargs):
        super().__init__(value_range, seed, data_format, **kwargs)
        self.factor = factor_range(factor, "RandomInvert factor", lowest=0.0)
        self.value_range = value_range

    def change(self, images, rng):
        probability_key, draw_key = threefry.split(rng)
        flags = uniform(draw_key, images, (0, 1)) < uniform(probability_key, images, self.factor)
        return invert(images, flags, self.value_range)


class RandomGrayscale(ImageLayer):
    """Turns each RGB image grey with probability `factor` (in [0, 1]), keeping its 3 channels."""

    needs_rgb = True

    def __init__(self, factor=0.5, data_format=None, seed=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not 0 <= factor <= 1:
            raise ValueError(f"RandomGrayscale factor must be a number in [0, 1], got factor={factor!r}.")
        self.factor, self.seed = factor, seed

    def change(self, images, rng):
        return grayscale(images, uniform(rng, images, (0, 1)) < self.factor)

    def get_config(self):  # Keras 3.15 keeps no seed in RandomGrayscale's config
        return {**super().get_config(), "factor": self.factor}


class RandomPosterization(_RandomColorLayer):
    """Keeps of each image's values (on the 0-255 scale, truncated to integers) only the high bits, as many as
    drawn per image from `factor`: a number f gives 1 to f bits, a pair (lower, upper) lower to upper bits.

    Keras 3.15 draws the count below the upper end only (factor=4: 1 to 3 bits; (b, b): b bits); scanfit
    includes the upper end, the number of bits the argument names."""

    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None, **kwargs):
        super().__init__(value_range, seed, data_format, **kwargs)
        if isinstance(factor, (list, tuple)) and len(factor) == 2:
            lower, upper = sorted(factor)
        elif isinstance(factor, (int, float)) and not isinstance(factor, bool):
            lower, upper = 1, factor
        else:
            raise ValueError(f"RandomPosterization factor must be a number of bits or a pair of them, got "
                             f"factor={factor!r}.")
        if not all(isinstance(b, int) and not isinstance(b, bool) and 1 <= b <= 8 for b in (lower, upper)):
            raise ValueError(f"RandomPosterization factor must hold whole numbers of bits in [1, 8], got "
                             f"factor={factor!r}.")
        self.factor = (lower, upper)

    def change(self, images, rng):
        lower, upper = self.factor
        drawn = jnp.floor(threefry.uniform(rng, images.shape[:1], minval=float(lower), maxval=float(upper + 1)))
        return posterize(images, jnp.minimum(drawn, upper).astype(jnp.int32), self.value_range)


class RandomColorDegeneration(_RandomColorLayer):
    """Moves each RGB image towards its grey version by a factor drawn per image from `factor` (a number f:
    [-f, f], as Keras 3.15 reads it, where a negative factor moves away from grey; a pair in [-1, 1]); then
    clips to `value_range`."""

    needs_rgb = True

    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None, **kwargs):
        super().__init__(value_range, seed, data_format, **kwargs)
        self.factor = factor_range(factor, "RandomColorDegeneration factor")

    def change(self, images, rng):
        return degenerate(images, uniform(rng, images, self.factor), self.value_range)


def saturation_factors(key, images, bounds):
    """RandomSaturation's multipliers ``u / (1 - u)``, u drawn per image from `bounds` (u = 0.5: 1, unchanged)."""
    drawn = uniform(key, images, bounds)
    return drawn / (1 - drawn + EPSILON)


def hue_shifts(key, images, bounds):
    """RandomHue's shifts: ``u / 2`` turns of the colour wheel, u drawn per image from `bounds`, either way."""
    sign_key, size_key = threefry.split(key)
    signs = jnp.where(uniform(sign_key, images, (0, 1)) > 0.5, -1.0, 1.0).astype(images.dtype)
    return signs * uniform(size_key, images, bounds) * 0.5


class RandomSaturation(_RandomColorLayer):
    """Multiplies each RGB image's saturation by ``u / (1 - u)``, u drawn per image from `factor` (0.5: no
    change, 0: grey, 1: fully saturated; a number f: [-f, f], as Keras 3.15 reads it, where u below 0 gives
    grey; a pair in [-1, 1]).

    Keras 3.15 clips the new saturation to `value_range`; scanfit clips it to [0, 1], where saturation lies
    (the same for value_range (0, 1), and for (0, 255) wherever the saturation stays at most 1)."""

    needs_rgb = True

    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None, **kwargs):
        super().__init__(value_range, seed, data_format, **kwargs)
        self.factor = factor_range(factor, "RandomSaturation factor")

    def change(self, images, rng):
        return adjust_saturation(images, saturation_factors(rng, images, self.factor), self.value_range)


class RandomHue(_RandomColorLayer):
    """Turns each RGB image's hue by ``u / 2`` of the colour wheel, either way, u drawn per image from
    `factor` (a number f: [0, f]; a pair in [0, 1]). `value_range` stays in the config as given."""

    needs_rgb = True

    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None, **kwargs):
        super().__init__(value_range, seed, data_format, **kwargs)
        self.factor = factor_range(factor, "RandomHue factor", lowest=0.0)
        self.value_range = value_range

    def change(self, images, rng):
        return adjust_hue(images, hue_shifts(rng, images, self.factor), self.value_range)


class RandomSharpness(_RandomColorLayer):
    """Blends each image with its blur by a factor drawn per image from `factor` (a number f: [0, f]; a pair
    in [0, 1]): 0 gives the blur, 0.5 the image, 1 a sharpened one; then clips to `value_range`."""

    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None, **kwargs):
        super().__init__(value_range, seed, data_format, **kwargs)
        self.factor = factor_range(factor, "RandomSharpness factor", lowest=0.0)

    def change(self, images, rng):
        return sharpen(images, uniform(rng, images, self.factor), self.value_range)


class RandomColorJitter(ImageLayer):
    """RandomBrightness, RandomContrast, RandomSaturation and RandomHue in that order, each where its factor
    is given (read as those layers read it), with one `value_range`; saturation and hue need RGB images."""

    def __init__(self, value_range=(0, 255), brightness_factor=None, contrast_factor=None, saturation_factor=None,
                 hue_factor=None, seed=None, data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.value_range = value_range_of(value_range, "RandomColorJitter")
        self.brightness_factor, self.contrast_factor = brightness_factor, contrast_factor
        self.saturation_factor, self.hue_factor, self.seed = saturation_factor, hue_factor, seed
        self.ranges = {
            name: None if factor is None else factor_range(factor, f"RandomColorJitter {name}_factor", lowest)
            for name, factor, lowest in [("brightness", brightness_factor, -1.0), ("contrast", contrast_factor, 0.0),
                                         ("saturation", saturation_factor, -1.0), ("hue", hue_factor, 0.0)]}
        self.needs_rgb = saturation_factor is not None or hue_factor is not None

    def change(self, images, rng):
        value_range = sorted(self.value_range)
        brightness, contrast, saturation, hue = (self.ranges[name] for name in
                                                 ("brightness", "contrast", "saturation", "hue"))
        keys = threefry.split(rng, 4)
        if brightness is not None:
            deltas = uniform(keys[0], images, brightness) * (value_range[1] - value_range[0])
            images = adjust_brightness(images, deltas, value_range)
        if contrast is not None:
            images = adjust_contrast(images, uniform(keys[1], images, (1 - contrast[0], 1 + contrast[1])),
                                     value_range)
        if saturation is not None:
            images = adjust_saturation(images, saturation_factors(keys[2], images, saturation), value_range)
        if hue is not None:
            images = adjust_hue(images, hue_shifts(keys[3], images, hue), self.value_range)
        return images

    def get_config(self):
        return {**super().get_config(), "value_range": self.value_range, "brightness_factor": self.brightness_factor,
                "contrast_factor": self.contrast_factor, "saturation_factor": self.saturation_factor,
                "hue_factor": self.hue_factor, "seed": self.seed}
