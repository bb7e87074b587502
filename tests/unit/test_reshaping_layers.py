"""ZeroPadding, Cropping, UpSampling (1D and 2D), LayerNormalization, GroupNormalization and RMSNormalization
against Keras 3: outputs and gradients."""
import pytest

import scanfit
from layer_oracle import compare_with_keras


@pytest.mark.parametrize("make,shape", [
    (lambda L: L.ZeroPadding2D(), (2, 4, 5, 3)),
    (lambda L: L.ZeroPadding2D((2, 0)), (2, 4, 5, 3)),
    (lambda L: L.ZeroPadding2D(((1, 2), (0, 3)), data_format="channels_first"), (2, 3, 4, 5)),
    (lambda L: L.ZeroPadding1D((0, 2)), (2, 6, 3)),
    (lambda L: L.Cropping2D(1), (2, 5, 6, 3)),
    (lambda L: L.Cropping2D(((0, 2), (1, 0))), (2, 5, 6, 3)),
    (lambda L: L.Cropping2D(((1, 1), (2, 1)), data_format="channels_first"), (2, 3, 5, 6)),
    (lambda L: L.Cropping1D((2, 0)), (2, 6, 3)),
    (lambda L: L.UpSampling2D(), (2, 3, 4, 2)),
    (lambda L: L.UpSampling2D((3, 1), data_format="channels_first"), (2, 2, 3, 4)),
    (lambda L: L.UpSampling2D((2, 3), interpolation="bilinear"), (2, 3, 4, 2)),
    (lambda L: L.UpSampling2D(2, interpolation="bicubic"), (1, 4, 4, 2)),
    (lambda L: L.UpSampling2D((3, 2), interpolation="lanczos3"), (1, 4, 4, 2)),
    (lambda L: L.UpSampling1D(3), (2, 4, 3)),
], ids=["pad2d", "pad2d_rows", "pad2d_pairs_cf", "pad1d", "crop2d", "crop2d_pairs", "crop2d_cf", "crop1d",
        "up2d", "up2d_cf", "up2d_bilinear", "up2d_bicubic", "up2d_lanczos3", "up1d"])
def test_reshaping_layers_match_keras(make, shape, monkeypatch):
    compare_with_keras(make, shape, monkeypatch)


@pytest.mark.parametrize("make,shape", [
    (lambda L: L.LayerNormalization(), (3, 7)),
    (lambda L: L.LayerNormalization(axis=1, epsilon=1e-5), (3, 4, 5)),
    (lambda L: L.LayerNormalization(axis=[1, 2], center=False), (2, 3, 4, 5)),
    (lambda L: L.LayerNormalization(axis=(-1, -3), scale=False), (2, 3, 4, 5)),
    (lambda L: L.LayerNormalization(center=False, scale=False), (3, 6)),
], ids=["default", "axis1", "two_axes_no_center", "negative_axes_no_scale", "plain"])
def test_layer_normalization_matches_keras(make, shape, monkeypatch):
    k_layer, s_layer = compare_with_keras(make, shape, monkeypatch)
    assert [v.short_name for v in s_layer.weights] == [v.name for v in k_layer.weights]
    assert s_layer.get_config()["axis"] == k_layer.get_config()["axis"]  # a sorted list once built


@pytest.mark.parametrize("make,shape", [
    (lambda L: L.GroupNormalization(2), (3, 4, 6)),
    (lambda L: L.GroupNormalization(3, epsilon=1e-5), (2, 5, 5, 6)),
    (lambda L: L.GroupNormalization(-1, center=False), (2, 5, 4)),
    (lambda L: L.GroupNormalization(2, axis=1, scale=False), (2, 4, 3, 3)),
    (lambda L: L.GroupNormalization(1, center=False, scale=False), (3, 8)),
], ids=["groups2", "image", "instance", "channels_first", "one_group_plain"])
def test_group_normalization_matches_keras(make, shape, monkeypatch):
    k_layer, s_layer = compare_with_keras(make, shape, monkeypatch)
    assert [v.short_name for v in s_layer.weights] == [v.name for v in k_layer.weights]
    assert s_layer.get_config() == {**k_layer.get_config(), "name": s_layer.name}  # groups=-1 becomes the count



@pytest.mark.parametrize("make,shape", [
    (lambda L: L.RMSNormalization(), (3, 4, 6)),
    (lambda L: L.RMSNormalization(axis=[1, 2], epsilon=1e-3), (2, 5, 3)),
    (lambda L: L.RMSNormalization(axis=[-2, -1]), (2, 4, 3, 3)),
], ids=["last", "two_axes", "negative_axes"])
def test_rms_normalization_matches_keras(make, shape, monkeypatch):
    k_layer, s_layer = compare_with_keras(make, shape, monkeypatch)
    assert [v.short_name for v in s_layer.weights] == [v.name for v in k_layer.weights] == ["scale"]
    assert s_layer.get_config() == {**k_layer.get_config(), "name": s_layer.name}


def test_layer_normalization_regularizers_and_constraints_reach_the_weights():
    layer = scanfit.layers.LayerNormalization(gamma_regularizer="l2", beta_constraint="non_neg")
    layer.build_for((None, 4))
    gamma, beta = layer.weights
    assert gamma.regularizer is not None and beta.constraint is not None
    assert gamma.constraint is None and beta.regularizer is None


@pytest.mark.parametrize("make,error,argument", [
    (lambda: scanfit.layers.ZeroPadding2D(-1), ValueError, "padding"),
    (lambda: scanfit.layers.ZeroPadding2D((1, 2, 3)), ValueError, "padding"),
    (lambda: scanfit.layers.ZeroPadding2D(((1, 2), (3,))), ValueError, r"padding\[1\]"),
    (lambda: scanfit.layers.ZeroPadding1D((1, -2)), ValueError, "padding"),
    (lambda: scanfit.layers.Cropping2D("1"), ValueError, "cropping"),
    (lambda: scanfit.layers.Cropping2D(((1, -1), (0, 0))), ValueError, r"cropping\[0\]"),
    (lambda: scanfit.layers.Cropping1D(2.5), ValueError, "cropping"),
    (lambda: scanfit.layers.UpSampling2D(0), ValueError, "size"),
    (lambda: scanfit.layers.UpSampling2D(2, interpolation="area"), ValueError, "interpolation"),
    (lambda: scanfit.layers.UpSampling1D(1.5), TypeError, "size"),
    (lambda: scanfit.layers.LayerNormalization(axis="last"), TypeError, "axis"),
    (lambda: scanfit.layers.LayerNormalization(epsilon=0), ValueError, "epsilon"),
    (lambda: scanfit.layers.LayerNormalization(rms_scaling=True), ValueError, "rms_scaling"),
])
def test_bad_arguments_raise_clear_errors_naming_the_argument(make, error, argument):
    with pytest.raises(error, match=argument):
        make()


def test_bad_input_shapes_raise_clear_errors():
    with pytest.raises(ValueError, match="smaller than the input"):
        scanfit.layers.Cropping2D(((2, 2), (0, 0))).build_for((None, 4, 4, 1))
    with pytest.raises(ValueError, match="4 axes"):
        scanfit.layers.ZeroPadding2D().build_for((None, 4, 4))
    with pytest.raises(ValueError, match="out of range"):
        scanfit.layers.LayerNormalization(axis=3).build_for((None, 4, 4))


def test_unknown_spatial_sizes_stay_unknown():
    assert scanfit.layers.UpSampling2D(2).compute_output_shape((None, None, 4, 3)) == (None, None, 8, 3)
    assert scanfit.layers.ZeroPadding1D(2).compute_output_shape((None, None, 3)) == (None, None, 3)
    assert scanfit.layers.Cropping1D(1).compute_output_shape((None, None, 3)) == (None, None, 3)
    assert scanfit.layers.Cropping2D((1, 2)).compute_output_shape((2, 5, 6, 3)) == (2, 3, 2, 3)
