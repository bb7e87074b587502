"""AdaptiveAveragePooling1D/2D/3D and AdaptiveMaxPooling1D/2D/3D against Keras 3 (outputs, gradients, shapes,
configs) and against windows worked out by hand. Their file round trip is in test_volumetric_layers.py."""
import keras
import numpy as np
import pytest

import scanfit
from layer_oracle import compare_with_keras
from scanfit.layers.adaptive_pooling import adaptive_pool, adaptive_windows


@pytest.mark.parametrize("mode", ["Average", "Max"])
@pytest.mark.parametrize("output_size,input_shape,data_format", [
    (3, (2, 7, 3), None),  # overlapping windows of 3
    (1, (2, 7, 3), None),  # one window: global pooling
    (10, (2, 7, 3), "channels_first"),  # more outputs than inputs: inputs repeat
    ((3, 4), (2, 5, 8, 2), None),
    ((6, 3), (2, 2, 4, 7), "channels_first"),
    ((2, 3, 4), (2, 5, 4, 7, 2), None),
    ((3, 5, 2), (2, 2, 5, 3, 4), "channels_first"),
], ids=["1d", "1d_global", "1d_upsampling_cf", "2d", "2d_cf", "3d", "3d_upsampling_cf"])
def test_adaptive_pooling_matches_keras(mode, output_size, input_shape, data_format, monkeypatch):
    rank = len(input_shape) - 2
    compare_with_keras(
        lambda L: getattr(L, f"Adaptive{mode}Pooling{rank}D")(output_size, data_format=data_format),
        input_shape, monkeypatch)


def test_windows_follow_floor_and_ceil_of_the_scaled_positions():
    """Window i of an axis of n pooled to m: from floor(i * n / m) to ceil((i + 1) * n / m), worked out by hand."""
    def windows(n, m):
        starts, ends = adaptive_windows(n, m)
        return starts.tolist(), ends.tolist()

    assert windows(5, 3) == ([0, 1, 3], [2, 4, 5])
    assert windows(6, 4) == ([0, 1, 3, 4], [2, 3, 5, 6])
    assert windows(3, 5) == ([0, 0, 1, 1, 2], [1, 2, 2, 3, 3])
    assert windows(8, 4) == ([0, 2, 4, 6], [2, 4, 6, 8])
    assert windows(7, 1) == ([0], [7])


@pytest.mark.parametrize("n,m", [(7, 7), (7, 3), (9, 6), (6, 4), (3, 5), (5, 2)])
def test_each_output_pools_its_window(n, m):
    """Each output against the mean and maximum of its window, taken one by one with numpy.

    Keras 3.15 on JAX is wrong for some of these sizes, (7, 7) among them: it computes the window ends
    ceil((i + 1) * n / m) in float32, where 21 / 7 comes out as 3.0000002, so a window of 1 becomes one of 2 and
    the last output reads past the input (NaN). The windows here follow the formula of Keras's source, exactly."""
    x = np.random.default_rng(n * 10 + m).normal(size=(2, n, 3)).astype("float32")
    starts, ends = adaptive_windows(n, m)
    windows = [x[:, start:end] for start, end in zip(starts, ends)]
    np.testing.assert_allclose(np.asarray(adaptive_pool(x, "average", (m,))),
                               np.stack([w.mean(axis=1) for w in windows], axis=1), rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(np.asarray(adaptive_pool(x, "max", (m,))),
                                  np.stack([w.max(axis=1) for w in windows], axis=1))
    if n == m:
        np.testing.assert_array_equal(np.asarray(adaptive_pool(x, "max", (m,))), x)


def test_hand_computed_values():
    x = np.array([0.0, 4.0, 1.0, 3.0, 2.0], "float32").reshape(1, 5, 1)  # windows [0:2], [1:4], [3:5]
    np.testing.assert_allclose(np.asarray(adaptive_pool(x, "average", (3,))).ravel(), [2.0, 8 / 3, 2.5], rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(adaptive_pool(x, "max", (3,))).ravel(), [4.0, 4.0, 3.0])
    image = np.arange(16, dtype="float32").reshape(1, 4, 4, 1)  # 2 x 2 blocks: plain pooling
    np.testing.assert_array_equal(np.asarray(adaptive_pool(image, "max", (2, 2)))[0, ..., 0], [[5, 7], [13, 15]])
    np.testing.assert_array_equal(np.asarray(adaptive_pool(image, "average", (2, 2)))[0, ..., 0],
                                  [[2.5, 4.5], [10.5, 12.5]])


@pytest.mark.parametrize("make", [
    lambda L: L.AdaptiveAveragePooling1D(4),
    lambda L: L.AdaptiveMaxPooling1D((2,), data_format="channels_first"),
    lambda L: L.AdaptiveAveragePooling2D(3),
    lambda L: L.AdaptiveMaxPooling2D((2, 5), data_format="channels_first"),
    lambda L: L.AdaptiveAveragePooling3D((1, 2, 3)),
    lambda L: L.AdaptiveMaxPooling3D(2, data_format="channels_first"),
])
def test_config_and_output_shape_equal_keras(make):
    k_layer, s_layer = make(keras.layers), make(scanfit.layers)
    k_config, s_config = k_layer.get_config(), s_layer.get_config()
    k_config.pop("name"), s_config.pop("name")
    assert s_config == k_config
    clone = type(s_layer).from_config(s_layer.get_config())
    assert clone.get_config() == s_layer.get_config()
    rank = s_layer.rank
    for shape in [(None,) * (rank + 1) + (3,), (2, 3) + (None,) * rank]:
        assert s_layer.compute_output_shape(shape) == tuple(k_layer.compute_output_shape(shape))


def test_registered_under_keras_names():
    for rank in (1, 2, 3):
        for mode in ("Average", "Max"):
            name = f"Adaptive{mode}Pooling{rank}D"
            assert scanfit.layers.LAYER_CLASSES[name] is getattr(scanfit.layers, name)


@pytest.mark.parametrize("make,match", [
    (lambda: scanfit.layers.AdaptiveAveragePooling1D((2, 2)), "output_size"),
    (lambda: scanfit.layers.AdaptiveMaxPooling2D(0), "output_size"),
    (lambda: scanfit.layers.AdaptiveMaxPooling3D("2"), "output_size"),
    (lambda: scanfit.layers.AdaptiveAveragePooling2D(2, data_format="NCHW"), "data_format"),
    (lambda: scanfit.layers.AdaptiveAveragePooling2D(2).build_for((None, 4, 3)), "4 axes"),
    (lambda: adaptive_pool(np.zeros((1, 4, 1)), "min", (2,)), "'max' or 'average'"),
    (lambda: adaptive_pool(np.zeros((1, 4, 1)), "max", (2, 2)), "one entry per spatial axis"),
])
def test_bad_arguments_raise_value_errors(make, match):
    with pytest.raises(ValueError, match=match):
        make()
