"""Distortion augmentation layers: RandomErasing, RandomGaussianBlur, RandomShear and RandomPerspective (Keras 3's
arguments and configs).

Each draws per image from the key of its call while training and is the identity at inference. The functions
(`erase`, `blur`, `shear_transforms`, `perspective_transform`) take the drawn parameters, so the tests hold
them to Keras's images for the parameters Keras draws.
"""
import jax
import jax.numpy as jnp

from scanfit import threefry
from scanfit.image_ops import gaussian_blur
from scanfit.layers.augmentation import FILL_MODES, INTERPOLATIONS, affine_transform, factor_range
from scanfit.layers.color_augmentation import uniform, value_range_of
from scanfit.layers.image_layer import ImageLayer
from scanfit.layers.mix_augmentation import in_boxes, random_boxes


def applied(key, images, probability_range):
    """Per image, whether to apply a change: a probability drawn from `probability_range`, then a coin with it."""
    probability_key, coin_key = threefry.split(key)
    return uniform(coin_key, images, (0, 1)) < uniform(probability_key, images, probability_range)


def _number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def erase(images, boxes, flags, fill):
    """The images whose flag is set with the pixels in their box (see `mix_augmentation.in_boxes`) replaced by
    `fill` (anything that broadcasts to the images)."""
    erased = jnp.where(in_boxes(images, boxes), jnp.broadcast_to(fill, images.shape), images)
    return jnp.where(flags.reshape(-1, 1, 1, 1), erased, images)


class RandomErasing(ImageLayer):
    """Erases a box of each image with a probability drawn per image from `factor` (a number f: [0, f]; a pair
    in [0, 1]). The box's width and height are ``sqrt(s)`` of the image's, s drawn for each from `scale` (a
    pair in [0, 1]); it lies at a random place and is filled with `fill_value` (a number, or one per RGB
    channel), or, for None, with Gaussian noise times the top of `value_range`; clipped to `value_range`."""

    def __init__(self, factor=1.0, scale=(0.02, 0.33), fill_value=None, value_range=(0, 255), seed=None,
                 data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.factor = factor_range(factor, "RandomErasing factor", lowest=0.0)
        self.scale = factor_range(scale, "RandomErasing scale", lowest=0.0)
        if not (fill_value is None or _number(fill_value) or (
                isinstance(fill_value, (list, tuple)) and len(fill_value) == 3 and all(map(_number, fill_value)))):
            raise ValueError(f"RandomErasing fill_value must be None, a number or 3 numbers (one per RGB channel), "
                             f"got fill_value={fill_value!r}.")
        self.needs_rgb = isinstance(fill_value, (list, tuple))
        self.fill_value, self.seed = fill_value, seed
        self.value_range = value_range_of(value_range, "RandomErasing")

    def change(self, images, rng):
        side_key, x_key, y_key, apply_key, fill_key = threefry.split(rng, 5)
        sides = jnp.sqrt(threefry.uniform(side_key, images.shape[:1] + (2,), minval=float(self.scale[0]),
                                          maxval=float(self.scale[1])))
        low, high = sorted(self.value_range)
        if self.fill_value is None:
            fill = threefry.normal(fill_key, images.shape) * self.value_range[1]
        else:
            fill = jnp.asarray(self.fill_value, jnp.float32)
        fill = jnp.clip(fill, low, high).astype(images.dtype)
        return erase(images, random_boxes((x_key, y_key), images, sides), applied(apply_key, images, self.factor),
                     fill)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "scale": self.scale, "fill_value": self.fill_value,
                "value_range": self.value_range, "seed": self.seed}


def blur(images, sigmas, kernel_size):
    """Each image blurred by a Gaussian of its sigmas ``(sigma_x, sigma_y)`` over a `kernel_size` ``(width,
    height)`` window (Keras's order of both), zeros beyond the borders."""
    def one(image, sigma):
        return gaussian_blur(image, kernel_size=kernel_size[::-1], sigma=(sigma[1], sigma[0]))

    return jax.vmap(one)(images, sigmas)


class RandomGaussianBlur(ImageLayer):
    """Blurs each image with a probability drawn per image from `factor` (a number f: [0, f]; a pair in [0, 1]),
    by a Gaussian over a `kernel_size` window (an odd int, or a pair) whose sigma along each axis is drawn from
    `sigma` (a number s: [0, s]; a pair in [0, 1]); then clips to `value_range`.

    Keras 3.15 draws the sigmas once per batch; scanfit per image, as Keras documents."""

    def __init__(self, factor=1.0, kernel_size=3, sigma=1.0, value_range=(0, 255), data_format=None, seed=None,
                 **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.factor = factor_range(factor, "RandomGaussianBlur factor", lowest=0.0)
        sizes = tuple(kernel_size) if isinstance(kernel_size, (list, tuple)) else (kernel_size, kernel_size)
        if len(sizes) != 2 or not all(isinstance(k, int) and not isinstance(k, bool) and k > 0 and k % 2 == 1
                                      for k in sizes):
            raise ValueError(f"RandomGaussianBlur kernel_size must be an odd positive int or a pair of them, got "
                             f"kernel_size={kernel_size!r}.")
        self.kernel_size = sizes
        self.sigma = factor_range(sigma, "RandomGaussianBlur sigma", lowest=0.0)
        self.value_range, self.seed = value_range_of(value_range, "RandomGaussianBlur"), seed

    def change(self, images, rng):
        apply_key, sigma_key = threefry.split(rng)
        sigmas = threefry.uniform(sigma_key, images.shape[:1] + (2,), minval=float(self.sigma[0]),
                                  maxval=float(self.sigma[1])) + 1e-6
        blurred = jnp.where(applied(apply_key, images, self.factor).reshape(-1, 1, 1, 1),
                            blur(images, sigmas, self.kernel_size), images)
        low, high = sorted(self.value_range)
        return jnp.clip(blurred, low, high)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "kernel_size": self.kernel_size,
                "sigma": self.sigma, "value_range": self.value_range, "seed": self.seed}


def _checked_sampling(layer, interpolation, fill_mode="constant"):
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"{layer} interpolation must be one of {sorted(INTERPOLATIONS)}, got {interpolation!r}.")
    if fill_mode not in FILL_MODES:
        raise ValueError(f"{layer} fill_mode must be one of {FILL_MODES}, got {fill_mode!r}.")


def shear_transforms(shears):
    """Transforms (see `augmentation.affine_transform`) that shear images about their top-left corner: the
    output pixel at (x, y) takes the input at ``(x + s_x y, s_y x + y)``, `shears` holding (s_x, s_y) per image."""
    ones, zeros = jnp.ones_like(shears[:, 0]), jnp.zeros_like(shears[:, 0])
    return jnp.stack([ones, shears[:, 0], zeros, shears[:, 1], ones, zeros, zeros, zeros], axis=1)


class RandomShear(ImageLayer):
    """Shears each image along x and y by factors drawn per image from `x_factor` and `y_factor` (a number f:
    [-f, f]; a pair), both turned the same random way, about its top-left corner (Keras's map); `fill_mode`,
    `fill_value` and `interpolation` as RandomRotation's.

    Keras 3.15 writes a number f into its config as (-f, f), which it then refuses to load (it wants pairs
    in [0, 1]); scanfit takes pairs in [-1, 1], so it loads those files."""

    def __init__(self, x_factor=0.0, y_factor=0.0, interpolation="bilinear", fill_mode="reflect", fill_value=0.0,
                 data_format=None, seed=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.x_factor = factor_range(x_factor, "RandomShear x_factor")
        self.y_factor = factor_range(y_factor, "RandomShear y_factor")
        _checked_sampling("RandomShear", interpolation, fill_mode)
        if not _number(fill_value):
            raise ValueError(f"RandomShear fill_value must be a number, got fill_value={fill_value!r}.")
        self.interpolation, self.fill_mode, self.fill_value, self.seed = interpolation, fill_mode, fill_value, seed

    def change(self, images, rng):
        sign_key, x_key, y_key = threefry.split(rng, 3)
        signs = jnp.where(uniform(sign_key, images, (0, 1)) > 0.5, -1.0, 1.0)
        shears = jnp.stack([uniform(x_key, images, self.x_factor), uniform(y_key, images, self.y_factor)], axis=1)
        return affine_transform(images, shear_transforms(shears * signs[:, None]), self.interpolation,
                                self.fill_mode, float(self.fill_value))

    def get_config(self):
        return {**super().get_config(), "x_factor": self.x_factor, "y_factor": self.y_factor,
                "fill_mode": self.fill_mode, "interpolation": self.interpolation, "seed": self.seed,
                "fill_value": self.fill_value}


def homographies(start_points, end_points):
    """Per image, the 8 coefficients h of the projective map taking each of its 4 `end_points` to the
    matching one of its `start_points` ((batch, 4, 2) arrays of (x, y)): (x, y) goes to
    ``((h0 x + h1 y + h2) / d, (h3 x + h4 y + h5) / d)`` with ``d = h6 x + h7 y + 1``."""
    x, y = end_points[..., 0], end_points[..., 1]
    u, v = start_points[..., 0], start_points[..., 1]
    zeros, ones = jnp.zeros_like(x), jnp.ones_like(x)
    for_u = jnp.stack([x, y, ones, zeros, zeros, zeros, -u * x, -u * y], axis=-1)
    for_v = jnp.stack([zeros, zeros, zeros, x, y, ones, -v * x, -v * y], axis=-1)
    system = jnp.concatenate([for_u, for_v], axis=1)
    return jnp.linalg.solve(system, jnp.concatenate([u, v], axis=1)[..., None])[..., 0]


def perspective_transform(images, start_points, end_points, interpolation="bilinear", fill_value=0.0):
    """`images` warped so that each image's `start_points` move to its `end_points` (see `homographies`);
    points outside the input take `fill_value`."""
    height, width = images.shape[1:3]
    rows, cols = jnp.meshgrid(jnp.arange(height, dtype=jnp.float32), jnp.arange(width, dtype=jnp.float32),
                              indexing="ij")
    maps = homographies(start_points.astype(jnp.float32), end_points.astype(jnp.float32))

    def one(image, h):
        d = h[6] * cols + h[7] * rows + 1.0
        source = [(h[3] * cols + h[4] * rows + h[5]) / d, (h[0] * cols + h[1] * rows + h[2]) / d]

        def plane(values):
            return jax.scipy.ndimage.map_coordinates(values, source, order=INTERPOLATIONS[interpolation],
                                                     mode="constant", cval=fill_value)

        return jax.vmap(plane, in_axes=-1, out_axes=-1)(image)

    return jax.vmap(one)(images, maps).astype(images.dtype)


def image_corners(height, width):
    """The corners (x, y) of a `height` x `width` image: top-left, top-right, bottom-left, bottom-right."""
    return jnp.asarray([[0.0, 0.0], [width - 1, 0.0], [0.0, height - 1], [width - 1, height - 1]], jnp.float32)


class RandomPerspective(ImageLayer):
    """Warps each image, with a probability drawn per image from `factor` (a number f: [0, f]; a pair in [0, 1]),
    by the perspective that moves each corner coordinate c to ``c (1 + u)``, u drawn per coordinate from
    [-scale / 2, scale / 2] (so the top-left corner stays, as in Keras); outside points take `fill_value`."""

    def __init__(self, factor=1.0, scale=1.0, interpolation="bilinear", fill_value=0.0, seed=None, data_format=None,
                 **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.factor = factor_range(factor, "RandomPerspective factor", lowest=0.0)
        if not _number(scale) or not 0 <= scale <= 1:
            raise ValueError(f"RandomPerspective scale must be a number in [0, 1], got scale={scale!r}.")
        _checked_sampling("RandomPerspective", interpolation)
        if not _number(fill_value):
            raise ValueError(f"RandomPerspective fill_value must be a number, got fill_value={fill_value!r}.")
        self.scale, self.interpolation, self.fill_value, self.seed = scale, interpolation, fill_value, seed

    def change(self, images, rng):
        apply_key, corner_key = threefry.split(rng)
        start = jnp.broadcast_to(image_corners(*images.shape[1:3]), images.shape[:1] + (4, 2))
        shifts = threefry.uniform(corner_key, images.shape[:1] + (4, 2), minval=-0.5 * self.scale,
                                  maxval=0.5 * self.scale)
        warped = perspective_transform(images, start, start + start * shifts, self.interpolation,
                                       float(self.fill_value))
        return jnp.where(applied(apply_key, images, self.factor).reshape(-1, 1, 1, 1), warped, images)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "scale": self.scale,
                "interpolation": self.interpolation, "fill_value": self.fill_value, "seed": self.seed}
