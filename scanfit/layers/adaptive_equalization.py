"""ContrastLimitedAdaptiveHistogramEqualization (CLAHE; Keras 3's arguments and config): each channel of each image
equalized tile by tile, the histograms clipped, the tiles' mappings blended bilinearly; at inference too.

The images, mapped from `value_range` onto 0-255, are padded (mirrored) to a whole number of tiles; each tile's
histogram counts the integer parts of its values (256 bins), clipped at ``clip_limit * tile pixels / 256`` with
the excess spread evenly over the bins; its normalized cumulative histogram maps each level to 0-255. Each pixel
blends, by its distance to the four nearest tile centres, those tiles' mappings of its level (the border tiles'
mappings extend beyond the centres). Keras's arithmetic, step for step.
"""
import jax.numpy as jnp

from scanfit.layers.color_augmentation import to_range, value_range_of
from scanfit.layers.image_layer import ImageLayer

LEVELS = 256


def tile_mappings(levels, grid, clip_limit):
    """Per image, tile and channel, the 0-255 value of each of the 256 levels: (batch, grid rows, grid columns,
    channels, 256), from integer `levels` (batch, height, width, channels) whose height and width are whole
    multiples of the `grid` (rows, columns)."""
    batch, height, width, channels = levels.shape
    tile_h, tile_w = height // grid[0], width // grid[1]
    images = jnp.arange(batch).reshape(-1, 1, 1, 1)
    tile_rows = (jnp.arange(height) // tile_h).reshape(1, -1, 1, 1)
    tile_columns = (jnp.arange(width) // tile_w).reshape(1, 1, -1, 1)
    channel = jnp.arange(channels).reshape(1, 1, 1, -1)
    counts = jnp.zeros((batch, grid[0], grid[1], channels, LEVELS), jnp.float32)
    counts = counts.at[images, tile_rows, tile_columns, channel, levels].add(1.0)
    if clip_limit > 0:
        limit = jnp.float32(clip_limit * (tile_h * tile_w) / 256.0)
        clipped = jnp.clip(counts, 0, limit)
        counts = clipped + jnp.sum(counts - clipped, axis=-1, keepdims=True) / 256.0
    cumulative = jnp.cumsum(counts, axis=-1)
    lowest = jnp.min(cumulative, axis=-1, keepdims=True)
    spread = jnp.float32(tile_h * tile_w) - lowest
    return jnp.clip((cumulative - lowest) * 255.0 / jnp.where(spread == 0, 1.0, spread), 0, 255)


def _neighbours(size, tile, tiles):
    """For each pixel along an axis of `size` pixels in tiles of `tile`: the indexes of the tile centres before
    and after it in the mappings padded by one tile each side (`tiles` tiles inside), and its weight on the
    second."""
    position = (jnp.arange(size, dtype=jnp.float32) - tile / 2.0) / tile + 1.0
    before = jnp.floor(position)
    weight = position - before
    return (jnp.clip(before, 0, tiles + 1).astype(jnp.int32), jnp.clip(before + 1, 0, tiles + 1).astype(jnp.int32),
            weight)


def clahe(images, clip_limit=4.0, grid=(8, 8)):
    """CLAHE (see the module's docstring) of (batch, height, width, channels) `images` on the 0-255 scale."""
    batch, height, width, channels = images.shape
    tile_h, tile_w = -(-height // grid[0]), -(-width // grid[1])
    padded = jnp.pad(images.astype(jnp.float32), ((0, 0), (0, tile_h * grid[0] - height),
                                                  (0, tile_w * grid[1] - width), (0, 0)), mode="symmetric")
    levels = jnp.clip(padded.astype(jnp.int32), 0, LEVELS - 1)
    mappings = jnp.pad(tile_mappings(levels, grid, clip_limit), ((0, 0), (1, 1), (1, 1), (0, 0), (0, 0)),
                       mode="edge")
    top, bottom, down = _neighbours(padded.shape[1], tile_h, grid[0])
    left, right, across = _neighbours(padded.shape[2], tile_w, grid[1])
    image = jnp.arange(batch).reshape(-1, 1, 1, 1)
    channel = jnp.arange(channels).reshape(1, 1, 1, -1)
    top, bottom, down = (a.reshape(1, -1, 1, 1) for a in (top, bottom, down))
    left, right, across = (a.reshape(1, 1, -1, 1) for a in (left, right, across))

    def mapped(rows, columns):
        return mappings[image, rows, columns, channel, levels]

    upper = mapped(top, left) * (1.0 - across) + mapped(top, right) * across
    lower = mapped(bottom, left) * (1.0 - across) + mapped(bottom, right) * across
    return (upper * (1.0 - down) + lower * down)[:, :height, :width]


class ContrastLimitedAdaptiveHistogramEqualization(ImageLayer):
    """CLAHE (see the module's docstring) with `clip_limit` (0 or less: no clipping) and `tile_grid_size`
    (rows, columns), on images in `value_range`, at inference too. The output has the layer's compute dtype
    (Keras 3.15 gives back an integer input's dtype)."""

    at_inference = True

    def __init__(self, value_range=(0, 255), clip_limit=4.0, tile_grid_size=(8, 8), data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.value_range = value_range_of(value_range, "ContrastLimitedAdaptiveHistogramEqualization")
        if isinstance(clip_limit, bool) or not isinstance(clip_limit, (int, float)):
            raise ValueError(f"ContrastLimitedAdaptiveHistogramEqualization clip_limit must be a number, got "
                             f"clip_limit={clip_limit!r}.")
        if (not isinstance(tile_grid_size, (list, tuple)) or len(tile_grid_size) != 2
                or not all(isinstance(g, int) and not isinstance(g, bool) and g > 0 for g in tile_grid_size)):
            raise ValueError(f"ContrastLimitedAdaptiveHistogramEqualization tile_grid_size must be two positive ints "
                             f"(rows, columns), got tile_grid_size={tile_grid_size!r}.")
        self.clip_limit, self.tile_grid_size = clip_limit, tile_grid_size

    def change(self, images, rng):
        on_255 = to_range(images.astype(jnp.float32), self.value_range, (0, 255))
        equalized = clahe(on_255, self.clip_limit, tuple(self.tile_grid_size))
        return to_range(equalized, (0, 255), self.value_range).astype(images.dtype)

    def get_config(self):
        return {**super().get_config(), "value_range": self.value_range, "clip_limit": self.clip_limit,
                "tile_grid_size": self.tile_grid_size}
