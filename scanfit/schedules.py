"""Learning-rate schedules with Keras 3's arguments, formulas and configs.

Keras code reaches these as ``keras.optimizers.schedules``: `scanfit.optimizers`
exposes this module under that name (``scanfit.optimizers.schedules.CosineDecay``
and ``from scanfit.optimizers.schedules import CosineDecay`` both work).

A schedule is called with the optimizer's step count (0 on the first update) and
returns a float32 scalar. It is written with `jax.numpy`, so the same object
gives a Python-side value (``float(schedule(3))``) and runs inside a jitted
training step on a traced step. To write your own, subclass
`LearningRateSchedule` and define ``__call__(step)`` and ``get_config()``.
"""
import math

import jax.numpy as jnp

from scanfit.serialization import lookup, to_config_dict

MODULE = "keras.optimizers.schedules"


def _step_as_float(step):
    return jnp.asarray(step, dtype=jnp.float32)


def _check_positive(argument, value):
    if value <= 0:
        raise ValueError(f"Argument `{argument}` must be > 0, got {argument}={value!r}.")


class LearningRateSchedule:
    """Base class: a learning rate as a function of the optimizer's step count."""

    def __call__(self, step):
        raise NotImplementedError(
            f"Learning rate schedule {type(self).__name__} must define __call__(self, step)."
        )

    def get_config(self):
        raise NotImplementedError(
            f"Learning rate schedule {type(self).__name__} must define get_config() "
            "to be serializable."
        )

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class ExponentialDecay(LearningRateSchedule):
    """``initial_learning_rate * decay_rate ** (step / decay_steps)`` (exponent floored if staircase)."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False,
                 name="ExponentialDecay"):
        _check_positive("decay_steps", decay_steps)
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.decay_rate = decay_rate
        self.staircase = staircase
        self.name = name

    def __call__(self, step):
        progress = _step_as_float(step) / self.decay_steps
        if self.staircase:
            progress = jnp.floor(progress)
        return self.initial_learning_rate * jnp.power(jnp.float32(self.decay_rate), progress)

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "decay_rate": self.decay_rate,
            "staircase": self.staircase,
            "name": self.name,
        }


class PiecewiseConstantDecay(LearningRateSchedule):
    """``values[0]`` while ``step <= boundaries[0]``, ``values[i]`` on ``(boundaries[i-1], boundaries[i]]``,
    ``values[-1]`` after the last boundary."""

    def __init__(self, boundaries, values, name="PiecewiseConstant"):
        if len(boundaries) != len(values) - 1:
            raise ValueError(
                "`boundaries` must have one element fewer than `values`, got "
                f"boundaries={boundaries!r} (length {len(boundaries)}) and "
                f"values={values!r} (length {len(values)})."
            )
        self.boundaries = boundaries
        self.values = values
        self.name = name

    def __call__(self, step):
        boundaries_passed = jnp.searchsorted(
            jnp.asarray(self.boundaries, dtype=jnp.float32), _step_as_float(step), side="left"
        )
        return jnp.asarray(self.values, dtype=jnp.float32)[boundaries_passed]

    def get_config(self):
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


class PolynomialDecay(LearningRateSchedule):
    """Polynomial interpolation from ``initial_learning_rate`` to ``end_learning_rate`` over ``decay_steps``
    (restarting with a longer period each time if ``cycle``)."""

    def __init__(self, initial_learning_rate, decay_steps, end_learning_rate=0.0001, power=1.0,
                 cycle=False, name="PolynomialDecay"):
        _check_positive("decay_steps", decay_steps)
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.end_learning_rate = end_learning_rate
        self.power = power
        self.cycle = cycle
        self.name = name

    def __call__(self, step):
        step = _step_as_float(step)
        if self.cycle:
            periods = jnp.where(step == 0, 1.0, jnp.ceil(step / self.decay_steps))
            horizon = self.decay_steps * periods
        else:
            horizon = jnp.float32(self.decay_steps)
            step = jnp.minimum(step, horizon)
        remaining = 1.0 - step / horizon
        span = self.initial_learning_rate - self.end_learning_rate
        return span * jnp.power(remaining, jnp.float32(self.power)) + self.end_learning_rate

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "end_learning_rate": self.end_learning_rate,
            "power": self.power,
            "cycle": self.cycle,
            "name": self.name,
        }


class InverseTimeDecay(LearningRateSchedule):
    """``initial_learning_rate / (1 + decay_rate * step / decay_steps)`` (ratio floored if staircase)."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False,
                 name="InverseTimeDecay"):
        _check_positive("decay_steps", decay_steps)
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.decay_rate = decay_rate
        self.staircase = staircase
        self.name = name

    def __call__(self, step):
        progress = _step_as_float(step) / self.decay_steps
        if self.staircase:
            progress = jnp.floor(progress)
        return self.initial_learning_rate / (1.0 + self.decay_rate * progress)

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "decay_rate": self.decay_rate,
            "staircase": self.staircase,
            "name": self.name,
        }


class CosineDecay(LearningRateSchedule):
    """Half a cosine from the start rate down to ``alpha`` times it over ``decay_steps``.

    With ``warmup_target``, the rate first rises linearly from
    ``initial_learning_rate`` to ``warmup_target`` over ``warmup_steps``, then
    the cosine decays from ``warmup_target``.
    """

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, name="CosineDecay",
                 warmup_target=None, warmup_steps=0):
        _check_positive("decay_steps", decay_steps)
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.alpha = alpha
        self.name = name
        self.warmup_target = warmup_target
        self.warmup_steps = warmup_steps

    def _cosine(self, steps_into_decay, start_rate):
        cosine = 0.5 * (1.0 + jnp.cos(math.pi * steps_into_decay / self.decay_steps))
        return start_rate * ((1.0 - self.alpha) * cosine + self.alpha)

    def __call__(self, step):
        step = _step_as_float(step)
        if self.warmup_target is None:
            return self._cosine(jnp.minimum(step, self.decay_steps), self.initial_learning_rate)
        step = jnp.minimum(step, self.decay_steps + self.warmup_steps)
        warmup_fraction = step / max(self.warmup_steps, 1)
        warming = (self.warmup_target - self.initial_learning_rate) * warmup_fraction
        return jnp.where(
            step < self.warmup_steps,
            warming + self.initial_learning_rate,
            self._cosine(step - self.warmup_steps, self.warmup_target),
        )

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "alpha": self.alpha,
            "name": self.name,
            "warmup_target": self.warmup_target,
            "warmup_steps": self.warmup_steps,
        }


ALL_SCHEDULES = {
    cls.__name__: cls
    for cls in (ExponentialDecay, PiecewiseConstantDecay, PolynomialDecay, InverseTimeDecay, CosineDecay)
}


def serialize(schedule):
    """The Keras 3 config dict of a schedule."""
    if not isinstance(schedule, LearningRateSchedule):
        raise TypeError(
            f"serialize() expects a LearningRateSchedule, got {type(schedule).__name__} ({schedule!r})."
        )
    return to_config_dict(MODULE, type(schedule).__name__, schedule.get_config())


def deserialize(config, custom_objects=None):
    """Rebuild a schedule from its Keras config dict."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(
            f"A schedule config must be a dict with a 'class_name' key, got {config!r}."
        )
    cls = lookup("learning rate schedule", ALL_SCHEDULES, config["class_name"], custom_objects)
    return cls.from_config(dict(config.get("config") or {}))
