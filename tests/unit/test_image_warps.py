"""`ops.image.perspective_transform` and `elastic_transform` beyond test_ops.py's IMAGE_CASES: hand-computed
warps, and the random displacements' properties (scanfit's keys differ from Keras's, so its draws cannot be
compared value by value)."""
import inspect

import keras
import numpy as np
import pytest

from scanfit import ops

RNG = np.random.default_rng(6)
SIZE = 48
ROWS, COLUMNS = np.meshgrid(np.arange(SIZE, dtype="float32"), np.arange(SIZE, dtype="float32"), indexing="ij")
RAMPS = np.stack([ROWS, COLUMNS], axis=-1)[None]  # each pixel holds its own (row, column)


def test_perspective_transform_moves_the_corners_as_asked():
    """Shifting the four corners by (+2, +1) shifts the image: output (row, column) takes input (row - 1,
    column - 2); one set of points applies to every image of a batch."""
    corners = np.array([[0, 0], [SIZE - 1, 0], [0, SIZE - 1], [SIZE - 1, SIZE - 1]], "float32")
    out = np.asarray(ops.image.perspective_transform(np.concatenate([RAMPS, RAMPS]), corners, corners + [2, 1],
                                                     fill_value=-1.0))
    np.testing.assert_allclose(out[:, 1:, 2:], np.concatenate([RAMPS, RAMPS])[:, :-1, :-2], atol=1e-4)
    np.testing.assert_array_equal(out[:, 0], -1.0)
    with pytest.raises(ValueError, match="start_points and end_points of one shape"):
        ops.image.perspective_transform(RAMPS, corners, corners[:3])


def test_elastic_transform_is_the_identity_without_displacement():
    images = RNG.uniform(size=(2, 9, 11, 3)).astype("float32")
    np.testing.assert_allclose(ops.image.elastic_transform(images, alpha=0.0, seed=1), images, atol=1e-6)
    assert list(inspect.signature(ops.image.elastic_transform).parameters) == list(
        inspect.signature(keras.ops.image.elastic_transform).parameters)


def test_elastic_transform_displaces_by_smooth_independent_fields_of_the_asked_size():
    """On images holding their own coordinates (bilinear sampling reproduces them exactly), the output minus the
    input is the displacement field: rows and columns displaced independently (Keras 3.15 on JAX draws both
    from one key, so it moves every pixel along the diagonal), by alpha times normal noise of `sigma` blurred
    by a Gaussian of `sigma`: a standard deviation of alpha * sigma * sqrt(sum of the 2-D kernel's squares)."""
    alpha, sigma = 0.5, 2.0
    out = np.asarray(ops.image.elastic_transform(np.concatenate([RAMPS] * 4), alpha, sigma, fill_mode="nearest",
                                                 seed=7))
    inner = (slice(None), slice(8, -8), slice(8, -8))  # away from the borders and their zero padding
    rows, columns = (out - np.concatenate([RAMPS] * 4))[inner + (0,)], (out - np.concatenate([RAMPS] * 4))[inner + (1,)]
    weights = np.exp(-0.5 * np.square((np.arange(13) - 6) / sigma))  # window int(6 sigma) | 1 = 13
    weights /= weights.sum()
    expected = alpha * sigma * np.sqrt(np.sum(np.outer(weights, weights) ** 2))
    for field in (rows, columns):
        assert abs(field.std() - expected) < 0.15 * expected and abs(field.mean()) < 0.3 * expected
    assert abs(np.corrcoef(rows.ravel(), columns.ravel())[0, 1]) < 0.2
    neighbours = np.corrcoef(rows[:, :, :-1].ravel(), rows[:, :, 1:].ravel())[0, 1]
    assert neighbours > 0.8  # smooth: a pixel moves almost as its neighbour does
    again = ops.image.elastic_transform(np.concatenate([RAMPS] * 4), alpha, sigma, fill_mode="nearest", seed=7)
    assert np.array_equal(again, out)
    with pytest.raises(ValueError, match="fill_mode must be one of"):
        ops.image.elastic_transform(RAMPS, fill_mode="edge")
