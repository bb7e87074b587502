"""RandAugment and AugMix against Keras 3: for the choices Keras draws (which layers, chain weights) and factor 0,
where each layer's change is certain, scanfit's policies give Keras's images; while training they pick per batch
from scanfit's random bits and stay within their ranges; at inference they are the identity; configs and .keras
files interchange."""
import jax
import keras
import numpy as np
import pytest

import scanfit
from layer_oracle import assert_config_equals_keras, tuples_as_lists
from scanfit import threefry
from scanfit.layers.composite_augmentation import RAND_AUGMENT_OPS

RNG = np.random.default_rng(11)
IMAGES = RNG.uniform(0, 255, size=(3, 6, 7, 3)).astype("float32")
KEYS = threefry.split(np.asarray([0, 7], np.uint32), 11)


def close(got, expected, atol=1e-3):
    np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=1e-5, atol=atol)


@pytest.mark.parametrize("value_range", [(0, 255), (0, 1)])
def test_rand_augment_applies_keras_ops_for_keras_choices(value_range):
    images = IMAGES[:1] * (value_range[1] / 255)  # (one image: Keras equalizes over the batch, scanfit per image)
    ours, theirs = (L.RandAugment(value_range=value_range, factor=0) for L in (scanfit.layers, keras.layers))
    assert [type(layer).__name__.lower() for layer in ours.augmentations] == [
        name.replace("_", "") for name in RAND_AUGMENT_OPS]
    apply_ops = jax.jit(ours.apply_ops)
    transforms = theirs.get_random_transformation(images)["transforms"]
    for pick, name in enumerate(RAND_AUGMENT_OPS):  # each op alone
        expected = getattr(theirs, name).transform_images(images, transforms[name])
        close(apply_ops(images, np.asarray([pick]), list(KEYS)), expected, 1e-3 * value_range[1])
    for picks in ([6, 9], [10, 3], [1, 8]):  # two in turn
        expected = theirs.transform_images(images, {"transforms": transforms, "layer_idxes": np.asarray(picks)})
        close(ours.apply_ops(images, np.asarray(picks), list(KEYS)), expected, 1e-3 * value_range[1])


def test_rand_augment_picked_twice_applies_the_same_draw_twice_as_keras():
    ours, theirs = scanfit.layers.RandAugment(num_ops=2), keras.layers.RandAugment(num_ops=2)
    solarize = RAND_AUGMENT_OPS.index("solarization")
    picks = np.asarray([solarize, solarize])
    ours_once = ours.apply_ops(IMAGES, picks[:1], list(KEYS))
    ours_twice = ours.apply_ops(IMAGES, picks, list(KEYS))
    layer = ours.augmentations[solarize]
    close(ours_twice, layer.change(layer.change(IMAGES, KEYS[solarize]), KEYS[solarize]))
    assert not np.allclose(ours_once, ours_twice)
    # Keras: the same, for its own draw
    transforms = theirs.get_random_transformation(IMAGES)["transforms"]
    twice = theirs.transform_images(IMAGES, {"transforms": transforms, "layer_idxes": picks})
    once = theirs.solarization.transform_images(IMAGES, transforms["solarization"])
    close(twice, theirs.solarization.transform_images(once, transforms["solarization"]))


@pytest.mark.parametrize("all_ops", [True, False])
def test_aug_mix_mixes_keras_chains_for_keras_choices(all_ops):
    ours, theirs = (L.AugMix(factor=0, all_ops=all_ops) for L in (scanfit.layers, keras.layers))
    names = ours.operations
    assert list(names) == list(theirs._augment_layers)
    picks = np.asarray([[0, len(names), 4], [len(names) - 1, 5, 3], [6, 2, 1]])
    weights, weight = np.asarray([0.2, 0.5, 0.3], "float32"), np.float32(0.35)
    batch = IMAGES[:1]  # (one image: Keras equalizes over the batch)
    chains = [[{"layer_name": names[p], "transformation": getattr(theirs, names[p]).get_random_transformation(batch)}
               for p in row if p < len(names)] for row in picks]
    expected = theirs.transform_images(batch, {"chain_mixing_weights": weights, "weight_sample": weight,
                                               "chain_transforms": chains})
    keys = threefry.split(np.asarray([1, 2], np.uint32), 9).reshape(3, 3, 2)
    close(ours.mix(batch, picks, weights, weight, keys), expected)


def op_outputs(layer, images):
    """What each of RandAugment's ops alone (num_ops=1, factor 0: certain changes) makes of `images`."""
    apply_ops = jax.jit(layer.apply_ops)
    return [np.asarray(apply_ops(images, np.asarray([i]), list(KEYS))) for i in range(len(RAND_AUGMENT_OPS))]


def test_rand_augment_picks_its_ops_per_batch_at_random():
    layer = scanfit.layers.RandAugment(num_ops=1, factor=0, value_range=(0, 1))
    images = IMAGES[:2] / 255
    candidates = op_outputs(layer, images)
    change = jax.jit(lambda key: layer.change(images, key))  # what a call while training does with its key
    picked = []
    for key in threefry.split(np.asarray([3, 3], np.uint32), 30):
        out = np.asarray(change(key))
        matches = [i for i, candidate in enumerate(candidates) if np.allclose(out, candidate, atol=1e-5)]
        assert matches, "each output is one op's, applied to the whole batch"
        picked.append(matches[0])
    assert len(set(picked)) >= 5


def test_policies_stay_in_range_draw_per_image_and_are_the_identity_at_inference():
    scanfit.utils.set_random_seed(4)
    images = np.repeat(IMAGES[:1] / 255, 6, axis=0)
    for layer in (scanfit.layers.RandAugment(value_range=(0, 1), num_ops=3, factor=0.8),
                  scanfit.layers.AugMix(value_range=(0, 1), factor=(0.4, 0.9), alpha=0.5)):
        outputs = [np.asarray(layer(images, training=True)) for _ in range(3)]
        for out in outputs:
            assert out.shape == images.shape and out.dtype == np.float32
            assert out.min() >= 0 and out.max() <= 1
        assert any(len(np.unique(out.reshape(6, -1), axis=0)) > 1 for out in outputs)  # draws per image
        assert not np.allclose(outputs[0], outputs[1])
        np.testing.assert_array_equal(np.asarray(layer(images, training=False)), images)
        assert layer(images[0], training=True).shape == images[0].shape  # one image


def test_aug_mix_without_steps_gives_the_images():
    # Each chain is then the images themselves, and the chain weights sum to 1.
    for alpha in (0.3, 1.0, 4.0):
        out = scanfit.layers.AugMix(chain_depth=0, alpha=alpha)(IMAGES, training=True)
        close(out, IMAGES)


def test_the_same_seed_gives_the_same_draws_and_channels_first_the_same_images():
    outputs = []
    for seed in (5, 5, 6):
        scanfit.utils.set_random_seed(seed)
        outputs.append(np.asarray(scanfit.layers.AugMix(factor=0.5)(IMAGES, training=True)))
    np.testing.assert_array_equal(outputs[0], outputs[1])
    assert not np.allclose(outputs[0], outputs[2])
    scanfit.utils.set_random_seed(5)
    first = scanfit.layers.AugMix(factor=0.5, data_format="channels_first")(IMAGES.transpose(0, 3, 1, 2),
                                                                           training=True)
    close(np.asarray(first).transpose(0, 2, 3, 1), outputs[0])


CONFIGS = [
    lambda L: L.RandAugment(),
    lambda L: L.RandAugment(value_range=(0, 1), num_ops=3, factor=(0.2, 0.7), interpolation="nearest", seed=4,
                            data_format="channels_first"),
    lambda L: L.AugMix(),
    lambda L: L.AugMix(value_range=[0, 1], num_chains=2, chain_depth=4, factor=0.6, alpha=0.5, all_ops=False,
                       interpolation="nearest", seed=1),
]


@pytest.mark.parametrize("make", CONFIGS)
def test_configs_equal_keras(make):
    k_config, s_config = assert_config_equals_keras(make)
    in_keras = type(make(keras.layers)).from_config(s_config).get_config()
    in_keras.pop("name")
    assert in_keras == k_config


def test_bad_arguments_and_inputs_are_refused():
    L = scanfit.layers
    with pytest.raises(ValueError, match=r"factor must lie in \[0, 1\]"):
        L.RandAugment(factor=1.5)
    with pytest.raises(ValueError, match="num_ops must be an int"):
        L.RandAugment(num_ops=-1)
    with pytest.raises(ValueError, match="interpolation"):
        L.RandAugment(interpolation="bicubic")
    with pytest.raises(ValueError, match="alpha must be a positive"):
        L.AugMix(alpha=0)
    with pytest.raises(ValueError, match="num_chains must be an int of at least 1"):
        L.AugMix(num_chains=0)
    with pytest.raises(ValueError, match="value_range must be a pair"):
        L.AugMix(value_range=255)
    with pytest.raises(ValueError, match="3 channels"):
        scanfit.Sequential([scanfit.Input((8, 8, 1)), L.RandAugment()])
    assert L.AugMix(all_ops=False)(IMAGES[..., :1], training=True).shape == IMAGES[..., :1].shape
    with pytest.raises(ValueError, match="dict inputs"):
        L.AugMix()({"images": IMAGES, "labels": np.zeros(3)}, training=True)


@pytest.mark.parametrize("make", [CONFIGS[1], CONFIGS[3]])
def test_keras_files_interchange(tmp_path, make):
    """.keras files both ways, with the same configs and predictions (the identity at inference)."""
    def build(K):
        shape = (3, 6, 7) if make(K.layers).data_format == "channels_first" else (6, 7, 3)
        return K.Sequential([K.Input(shape), make(K.layers), K.layers.Flatten(), K.layers.Dense(2)])

    theirs, ours = build(keras), build(scanfit)
    ours.set_weights(theirs.get_weights())
    theirs.save(tmp_path / "k.keras")
    ours.save(tmp_path / "s.keras")
    images = IMAGES.transpose(0, 3, 1, 2) / 255 if make(keras.layers).data_format == "channels_first" else IMAGES
    expected = theirs.predict(images, verbose=0)
    for path in (tmp_path / "k.keras", tmp_path / "s.keras"):
        for loaded in (keras.models.load_model(path), scanfit.models.load_model(path)):
            config, reference = loaded.layers[0].get_config(), theirs.layers[0].get_config()
            config.pop("name"), reference.pop("name")
            assert tuples_as_lists(config) == tuples_as_lists(reference)
            close(loaded.predict(images, verbose=0), expected, 1e-4)


def test_a_model_with_the_policies_trains_and_predicts_deterministically():
    model = scanfit.Sequential([scanfit.Input((6, 7, 3)), scanfit.layers.RandAugment(num_ops=1),
                                scanfit.layers.AugMix(num_chains=2, chain_depth=1), scanfit.layers.Rescaling(1 / 255),
                                scanfit.layers.Flatten(), scanfit.layers.Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    history = model.fit(IMAGES, np.asarray([0, 1, 0]), epochs=2, batch_size=3, verbose=0).history
    assert np.all(np.isfinite(history["loss"]))
    np.testing.assert_array_equal(model.predict(IMAGES, verbose=0), model.predict(IMAGES, verbose=0))
