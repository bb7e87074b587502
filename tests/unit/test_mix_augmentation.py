"""MixUp and CutMix against Keras 3: for the permutation, weights and boxes Keras uses, scanfit's mixing gives
Keras's images; while training the layers pair the images of a batch by a permutation and mix them as drawn,
at inference they are the identity; their configs equal Keras's (their files interchange in
test_saving_keras_interchange's every_layer_model; test_color_augmentation fits a model with MixUp)."""
import keras
import numpy as np
import pytest

import scanfit
from layer_oracle import assert_config_equals_keras
from scanfit.layers import mix_augmentation as ma

RNG = np.random.default_rng(43)
IMAGES = RNG.uniform(0, 255, size=(6, 5, 7, 3)).astype("float32")


def test_mixing_equals_keras_for_its_draws():
    mix = keras.layers.MixUp(0.3)
    drawn = mix.get_random_transformation(IMAGES)
    expected = mix.transform_images(IMAGES, drawn)
    got = ma.mix_up(IMAGES, np.asarray(drawn["mix_weight"]), np.asarray(drawn["permutation_order"]))
    np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=1e-6, atol=1e-4)

    cut = keras.layers.CutMix()
    boxes = np.asarray([[0.5, 3.2, 1.0, 4.0], [2, 7, 0, 5], [0, 0, 0, 0], [1.5, 2.5, 1.5, 2.5], [3.3, 6.9, 0.2, 2.2],
                        [0, 7, 0, 5]], "float32")  # (x0, x1, y0, y1) per image
    masks, _ = cut._generate_batch_mask(IMAGES.shape, tuple(boxes.T))
    order = np.asarray([1, 2, 3, 4, 5, 0])
    expected = cut.transform_images(IMAGES, {"permutation_order": order, "batch_masks": masks})
    np.testing.assert_array_equal(np.asarray(ma.cut_mix(IMAGES, boxes, order)), np.asarray(expected))


def one_hot_images(batch, size=4):
    """Image i is 1 in channel i and 0 elsewhere, so a mixed image shows which images went into it."""
    return np.tile(np.eye(batch, dtype="float32")[:, None, None, :], (1, size, size, 1))


def test_mix_up_pairs_the_images_by_a_permutation_with_beta_weights():
    scanfit.utils.set_random_seed(4)
    images = one_hot_images(8)
    weights = []
    for alpha in (0.2, 4.0):
        layer = scanfit.layers.MixUp(alpha)
        np.testing.assert_array_equal(np.asarray(layer(images, training=False)), images)
        drawn = []
        for _ in range(25):
            out = np.asarray(layer(images, training=True))
            np.testing.assert_array_equal(out, np.broadcast_to(out[:, :1, :1], out.shape))
            out = out[:, 0, 0, :]  # row i: w e_i + (1 - w) e_j, j the partner of image i
            assert np.all(np.sort(out, axis=1)[:, :-2] == 0)  # two images at most
            own = out[np.arange(8), np.arange(8)]
            others = np.where(np.eye(8, dtype=bool), -1, out)
            np.testing.assert_allclose(own + others.max(axis=1), 1, atol=1e-6)
            seen = own < 1 - 1e-4  # (a weight of 1, or the image paired with itself, hides the partner)
            partners = np.argmax(others, axis=1)[seen]
            assert len(set(partners.tolist())) == len(partners)  # no image is the partner of two
            drawn.extend(own[seen])
        weights.append(np.asarray(drawn))
    for w in weights:
        assert w.min() >= 0 and w.max() <= 1 and abs(w.mean() - 0.5) < 0.1
    # Beta(0.2, 0.2) puts its weight near 0 and 1, Beta(4, 4) near 1/2
    assert np.mean(np.abs(weights[0] - 0.5) > 0.4) > 0.4 and np.mean(np.abs(weights[1] - 0.5) > 0.4) < 0.05


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_cut_mix_pastes_a_box_of_the_partner_image(data_format):
    scanfit.utils.set_random_seed(5)
    images = one_hot_images(6, size=8)
    first = data_format == "channels_first"
    layer = scanfit.layers.CutMix(data_format=data_format)
    given = images.transpose(0, 3, 1, 2) if first else images
    np.testing.assert_array_equal(np.asarray(layer(given, training=False)), given)
    np.testing.assert_array_equal(np.asarray(layer(given[0], training=True)), given[0])  # one image: as it is
    areas = []
    for _ in range(20):
        out = np.asarray(layer(given, training=True))
        out = out.transpose(0, 2, 3, 1) if first else out
        partners = set()
        for i, image in enumerate(out):
            owners = np.argmax(image, axis=-1)
            assert np.all(image.max(axis=-1) == 1)
            others = owners != i
            if others.any():
                partners.add(int(owners[others][0]))
                assert len(set(owners[others].tolist())) == 1
                rows, columns = np.nonzero(others)
                assert others[rows.min():rows.max() + 1, columns.min():columns.max() + 1].all()  # a box
            areas.append(others.mean())
        assert len(partners) <= 6
    assert 0.2 < np.mean(areas) < 0.6 and np.std(areas) > 0.1


@pytest.mark.parametrize("make", [
    lambda L: L.MixUp(),
    lambda L: L.MixUp(alpha=0.5, seed=3, data_format="channels_first"),
    lambda L: L.CutMix(),
    lambda L: L.CutMix((0.2, 0.8), seed=2),
    lambda L: L.CutMix(0.5, data_format="channels_first"),
])
def test_configs_equal_keras(make):
    assert_config_equals_keras(make)


def test_bad_arguments_and_dict_inputs_are_refused():
    with pytest.raises(ValueError, match="alpha must be a positive number"):
        scanfit.layers.MixUp(0)
    with pytest.raises(ValueError, match=r"factor must lie in \[0, 1\]"):
        scanfit.layers.CutMix(2.0)
    with pytest.raises(ValueError, match="dict inputs"):
        scanfit.layers.MixUp()({"images": IMAGES, "labels": np.eye(6)}, training=True)


def test_outputs_are_floats_of_the_compute_dtype():
    images = IMAGES.astype("uint8")
    for layer in [scanfit.layers.MixUp(dtype="mixed_bfloat16"), scanfit.layers.CutMix()]:
        for training in (False, True):
            out = layer(images, training=training)
            assert out.dtype == layer.compute_dtype and out.shape == images.shape
