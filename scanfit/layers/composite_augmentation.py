"""RandAugment and AugMix (Keras 3's arguments and configs): augmentation policies made of scanfit's augmentation
layers, each built with the policy's `factor`, `value_range` and `interpolation` as Keras builds them.

While training, the policy draws, per batch as Keras does, which layers to apply; each layer then draws its own
parameters per image from its key. At inference both are the identity. The methods that apply given choices
(`RandAugment.apply_ops`, `AugMix.mix`) let the tests hold them to Keras's images for Keras's choices.
"""
import jax
import jax.numpy as jnp

from scanfit import threefry
from scanfit.layers.augmentation import (RandomBrightness, RandomContrast, RandomRotation, RandomTranslation,
                                         factor_range)
from scanfit.layers.color_augmentation import (AutoContrast, Equalization, RandomColorDegeneration,
                                               RandomPosterization, RandomSharpness, Solarization, value_range_of)
from scanfit.layers.distortion_augmentation import RandomShear
from scanfit.layers.image_layer import ImageLayer

GEOMETRIC_AND_TONE = ("random_shear", "random_translation", "random_rotation", "random_posterization",
                      "solarization", "auto_contrast", "equalization")
COLOR = ("random_brightness", "random_color_degeneration", "random_contrast", "random_sharpness")
RAND_AUGMENT_OPS = ("random_shear", "random_translation", "random_rotation", "random_brightness",
                    "random_color_degeneration", "random_contrast", "random_sharpness", "random_posterization",
                    "solarization", "auto_contrast", "equalization")


def augmentation_layers(names, factor, value_range, interpolation):
    """The augmentation layers `names` as Keras's policies build them from their (lower, upper) `factor`."""
    value_range = tuple(value_range)
    makers = {
        "random_shear": lambda: RandomShear(x_factor=factor, y_factor=factor, interpolation=interpolation),
        "random_translation": lambda: RandomTranslation(factor, factor, interpolation=interpolation),
        "random_rotation": lambda: RandomRotation(factor, interpolation=interpolation),
        "random_brightness": lambda: RandomBrightness(factor, value_range=value_range),
        "random_color_degeneration": lambda: RandomColorDegeneration(factor, value_range=value_range),
        "random_contrast": lambda: RandomContrast(factor, value_range=value_range),
        "random_sharpness": lambda: RandomSharpness(factor, value_range=value_range),
        "random_posterization": lambda: RandomPosterization(max(1, int(8 * factor[1])), value_range=value_range),
        "solarization": lambda: Solarization(factor, factor, value_range=value_range),
        "auto_contrast": lambda: AutoContrast(value_range=value_range),
        "equalization": lambda: Equalization(value_range=value_range),
    }
    return [makers[name]() for name in names]


def branch(layer):
    """``f(images, key)``: `layer`'s change of (batch, height, width, channels) images, in their dtype."""
    change = layer.change if isinstance(layer, ImageLayer) else layer.augment
    return lambda images, key: change(images, key).astype(images.dtype)


def _count(value, name, smallest):
    if isinstance(value, bool) or not isinstance(value, int) or value < smallest:
        raise ValueError(f"{name} must be an int of at least {smallest}, got {value!r}.")
    return value


class RandAugment(ImageLayer):
    """Applies `num_ops` operations in turn, each picked per batch among shear, translation, rotation,
    brightness, colour degeneration, contrast, sharpness, posterization, solarization, auto-contrast and
    equalization, each layer built from `factor` (a number f: [0, f]; a pair in [0, 1]) as Keras builds it. As
    in Keras, a layer picked twice applies the same draw twice. Takes RGB images."""

    needs_rgb = True

    def __init__(self, value_range=(0, 255), num_ops=2, factor=0.5, interpolation="bilinear", seed=None,
                 data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.value_range = value_range_of(value_range, "RandAugment")
        self.num_ops = _count(num_ops, "RandAugment num_ops", 0)
        self.factor = factor_range(factor, "RandAugment factor", lowest=0.0)
        self.interpolation, self.seed = interpolation, seed
        self.augmentations = augmentation_layers(RAND_AUGMENT_OPS, self.factor, value_range, interpolation)

    def change(self, images, rng):
        pick_key, *keys = threefry.split(rng, 1 + len(self.augmentations))
        picks = jnp.floor(threefry.uniform(pick_key, (self.num_ops,), maxval=float(len(self.augmentations))))
        return self.apply_ops(images, picks.astype(jnp.int32), keys)

    def apply_ops(self, images, picks, keys):
        """`images` changed by the layers at the indexes `picks` (of `RAND_AUGMENT_OPS`) in turn, each layer
        drawing with its key of `keys` (one per layer)."""
        branches = [lambda x, ks, layer=layer, i=i: branch(layer)(x, ks[i])
                    for i, layer in enumerate(self.augmentations)]
        images, _ = jax.lax.scan(lambda x, pick: (jax.lax.switch(pick, branches, x, keys), None), images,
                                 jnp.asarray(picks, jnp.int32))
        return images

    def get_config(self):
        return {**super().get_config(), "value_range": self.value_range, "num_ops": self.num_ops,
                "factor": self.factor, "interpolation": self.interpolation, "seed": self.seed}


class AugMix(ImageLayer):
    """Mixes each batch with `num_chains` augmented copies of it: each chain applies `chain_depth` steps, each
    step a layer picked per batch (or, with one chance more, none) among shear, translation, rotation,
    posterization, solarization, auto-contrast, equalization and, with `all_ops`, brightness, colour
    degeneration, contrast and sharpness, built from `factor` (a number f: [0, f]; a pair in [0, 1]). The
    chains are weighted by a Dirichlet(`alpha`) draw and the result is ``w images + (1 - w) chains``, w drawn
    from Beta(`alpha`, `alpha`), clipped to `value_range`. With `all_ops`, it takes RGB images."""

    def __init__(self, value_range=(0, 255), num_chains=3, chain_depth=3, factor=0.3, alpha=1.0, all_ops=True,
                 interpolation="bilinear", seed=None, data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.value_range = value_range_of(value_range, "AugMix")
        self.num_chains = _count(num_chains, "AugMix num_chains", 1)
        self.chain_depth = _count(chain_depth, "AugMix chain_depth", 0)
        self.factor = factor_range(factor, "AugMix factor", lowest=0.0)
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or alpha <= 0:
            raise ValueError(f"AugMix alpha must be a positive number, got alpha={alpha!r}.")
        if not isinstance(all_ops, bool):
            raise ValueError(f"AugMix all_ops must be True or False, got all_ops={all_ops!r}.")
        self.alpha, self.all_ops, self.interpolation, self.seed = alpha, all_ops, interpolation, seed
        self.needs_rgb = all_ops
        self.operations = GEOMETRIC_AND_TONE + (COLOR if all_ops else ())
        self.augmentations = augmentation_layers(self.operations, self.factor, value_range, interpolation)

    def change(self, images, rng):
        chain_key, weight_key, pick_key, step_key = threefry.split(rng, 4)
        chain_weights = jax.random.dirichlet(chain_key, jnp.full((self.num_chains,), float(self.alpha)))
        weight = jax.random.beta(weight_key, self.alpha, self.alpha)
        shape = (self.num_chains, self.chain_depth)
        picks = jnp.floor(threefry.uniform(pick_key, shape, maxval=float(len(self.augmentations) + 1)))
        keys = threefry.split(step_key, self.num_chains * self.chain_depth).reshape(shape + (2,))
        return self.mix(images, picks.astype(jnp.int32), chain_weights, weight, keys)

    def mix(self, images, picks, chain_weights, weight, keys):
        """``weight images + (1 - weight) sum_c chain_weights[c] chain_c``, clipped to `value_range`, where chain
        c applies in turn the layers at the indexes ``picks[c]`` (of `operations`; the index
        ``len(operations)`` applies none), step d drawing with ``keys[c, d]``."""
        steps = [branch(layer) for layer in self.augmentations] + [lambda x, key: x]

        def step(augmented, pick_and_key):
            return jax.lax.switch(pick_and_key[0], steps, augmented, pick_and_key[1]), None

        def chain(mixed, chain_inputs):
            chain_picks, chain_keys, chain_weight = chain_inputs
            augmented, _ = jax.lax.scan(step, images, (chain_picks, chain_keys))
            return mixed + augmented * chain_weight, None

        mixed, _ = jax.lax.scan(chain, jnp.zeros_like(images), (jnp.asarray(picks, jnp.int32), jnp.asarray(keys),
                                                                 jnp.asarray(chain_weights, images.dtype)))
        weight = jnp.asarray(weight, images.dtype)
        return jnp.clip(weight * images + (1 - weight) * mixed, self.value_range[0], self.value_range[1])

    def get_config(self):
        return {**super().get_config(), "value_range": self.value_range, "num_chains": self.num_chains,
                "chain_depth": self.chain_depth, "factor": self.factor, "alpha": self.alpha, "all_ops": self.all_ops,
                "interpolation": self.interpolation, "seed": self.seed}
