"""Batch-mixing augmentation layers: MixUp and CutMix (Keras 3's arguments and configs).

While training, each image of a batch is mixed with another image of the same batch (a random permutation
pairs them); at inference both are the identity. Keras also mixes the labels when it is called on a dict of
images and labels; scanfit's layers take the images alone (a dict is refused), so the labels a model is fitted
on stay unmixed.
"""
import jax
import jax.numpy as jnp

from scanfit import threefry
from scanfit.layers.augmentation import factor_range
from scanfit.layers.image_layer import ImageLayer


def permutation(key, size):
    """A random order of ``range(size)``."""
    return jnp.argsort(threefry.bits(key, (size,)))


def mix_up(images, weights, order):
    """Each image times its weight plus, times one minus the weight, the image that `order` pairs it with."""
    weights = jnp.reshape(weights, (-1, 1, 1, 1)).astype(images.dtype)
    return weights * images + (1.0 - weights) * jnp.take(images, order, axis=0)


def in_boxes(images, boxes):
    """Whether each pixel of (batch, height, width, channels) `images` lies in its image's box ``(x0, x1, y0,
    y1)`` (one row of `boxes` per image; columns x0 <= x < x1, rows y0 <= y < y1), shaped (batch, h, w, 1)."""
    height, width = images.shape[1:3]
    columns = jnp.arange(width, dtype=boxes.dtype).reshape(1, 1, -1, 1)
    rows = jnp.arange(height, dtype=boxes.dtype).reshape(1, -1, 1, 1)
    x0, x1, y0, y1 = (boxes[:, i].reshape(-1, 1, 1, 1) for i in range(4))
    return (columns >= x0) & (columns < x1) & (rows >= y0) & (rows < y1)


def random_boxes(keys, images, sides):
    """Boxes ``(x0, x1, y0, y1)``, one per image, of `sides` (batch, 2) times the images' width and height, each
    at a place drawn uniformly within its image (with `keys`, one for each axis)."""
    height, width = images.shape[1:3]
    corners = []
    for key, side, size in ((keys[0], sides[:, 0], width), (keys[1], sides[:, 1], height)):
        length = side * size
        start = threefry.uniform(key, images.shape[:1]) * (size - length)
        corners += [start, start + length]
    return jnp.stack(corners, axis=1)


def cut_mix(images, boxes, order):
    """Each image with the pixels in its box (see `in_boxes`) taken from the image that `order` pairs it with."""
    return jnp.where(in_boxes(images, boxes), jnp.take(images, order, axis=0), images)


class MixUp(ImageLayer):
    """Replaces each image x by ``w x + (1 - w) x'``, x' another image of the batch and w drawn per image from
    Beta(`alpha`, `alpha`)."""

    def __init__(self, alpha=0.2, data_format=None, seed=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or alpha <= 0:
            raise ValueError(f"MixUp alpha must be a positive number, got alpha={alpha!r}.")
        self.alpha, self.seed = alpha, seed

    def change(self, images, rng):
        order_key, weight_key = threefry.split(rng)
        weights = jax.random.beta(weight_key, self.alpha, self.alpha, images.shape[:1])
        return mix_up(images, weights, permutation(order_key, images.shape[0]))

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha, "seed": self.seed}


class CutMix(ImageLayer):
    """Pastes into each image a box of another image of the batch. Per batch an alpha is drawn from `factor`
    (a number f: [0, f]; a pair in [0, 1]); per image a weight w from Beta(alpha, alpha), and a box of
    ``sqrt(1 - w)`` times the image's height and width at a random place. One image alone is left as it is."""

    def __init__(self, factor=1.0, seed=None, data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.factor = factor_range(factor, "CutMix factor", lowest=0.0)
        self.seed = seed

    def change(self, images, rng):
        alpha_key, weight_key, x_key, y_key, order_key = threefry.split(rng, 5)
        batch = images.shape[0]
        alpha = threefry.uniform(alpha_key, (), minval=self.factor[0], maxval=self.factor[1]) + 1e-6
        side = jnp.sqrt(1.0 - jax.random.beta(weight_key, alpha, alpha, (batch,)))
        boxes = random_boxes((x_key, y_key), images, jnp.stack([side, side], axis=1))
        return cut_mix(images, boxes, permutation(order_key, batch))

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "seed": self.seed}
