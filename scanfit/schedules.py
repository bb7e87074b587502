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
import dataclasses
import math

import jax.numpy as jnp

from scanfit.serialization import lookup, to_config_dict

MODULE = "keras.optimizers.schedules"


def _step_as_float(step):
    return jnp.asarray(step, dtype=jnp.float32)


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


# The decaying schedules are dataclasses: their fields, in order, are their arguments and their config.
# eq=False and repr=False keep the equality, hash and repr of a plain object.
_schedule_dataclass = dataclasses.dataclass(eq=False, repr=False)


@_schedule_dataclass
class _Decay(LearningRateSchedule):
    """A schedule that decays from ``initial_learning_rate`` over ``decay_steps`` (> 0)."""

    initial_learning_rate: float
    decay_steps: int

    def __post_init__(self):
        if self.decay_steps <= 0:
            raise ValueError(f"Argument `decay_steps` must be > 0, got decay_steps={self.decay_steps!r}.")

    def get_config(self):
        return {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}


@_schedule_dataclass
class _RateDecay(_Decay):
    """ExponentialDecay's and InverseTimeDecay's ``decay_rate`` and ``staircase``."""

    decay_rate: float
    staircase: bool = False

    def _progress(self, step):
        """``step / decay_steps``, floored if staircase."""
        progress = _step_as_float(step) / self.decay_steps
        if self.staircase:
            progress = jnp.floor(progress)
        return progress


@_schedule_dataclass
class ExponentialDecay(_RateDecay):
    """``initial_learning_rate * decay_rate ** (step / decay_steps)`` (exponent floored if staircase)."""

    name: str = "ExponentialDecay"

    def __call__(self, step):
        return self.initial_learning_rate * jnp.power(jnp.float32(self.decay_rate), self._progress(step))


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


@_schedule_dataclass
class PolynomialDecay(_Decay):
    """Polynomial interpolation from ``initial_learning_rate`` to ``end_learning_rate`` over ``decay_steps``
    (restarting with a longer period each time if ``cycle``)."""

    end_learning_rate: float = 0.0001
    power: float = 1.0
    cycle: bool = False
    name: str = "PolynomialDecay"

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


@_schedule_dataclass
class InverseTimeDecay(_RateDecay):
    """``initial_learning_rate / (1 + decay_rate * step / decay_steps)`` (ratio floored if staircase)."""

    name: str = "InverseTimeDecay"

    def __call__(self, step):
        return self.initial_learning_rate / (1.0 + self.decay_rate * self._progress(step))


@_schedule_dataclass
class CosineDecay(_Decay):
    """Half a cosine from the start rate down to ``alpha`` times it over ``decay_steps``.

    With ``warmup_target``, the rate first rises linearly from
    ``initial_learning_rate`` to ``warmup_target`` over ``warmup_steps``, then
    the cosine decays from ``warmup_target``.
    """

    alpha: float = 0.0
    name: str = "CosineDecay"
    warmup_target: float | None = None
    warmup_steps: int = 0

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


class CosineDecayRestarts(LearningRateSchedule):
    """Cosine decay with warm restarts (SGDR): a cosine from ``initial_learning_rate`` down to ``alpha`` times
    it over ``first_decay_steps``, then again over a period ``t_mul`` times longer, from a peak ``m_mul``
    times lower, and so on."""

    def __init__(self, initial_learning_rate, first_decay_steps, t_mul=2.0, m_mul=1.0, alpha=0.0,
                 name="SGDRDecay"):
        if first_decay_steps <= 0:
            raise ValueError(f"Argument `first_decay_steps` must be > 0, got {first_decay_steps!r}.")
        self.initial_learning_rate, self.first_decay_steps = initial_learning_rate, first_decay_steps
        self.t_mul, self.m_mul, self.alpha, self.name = t_mul, m_mul, alpha, name

    def __call__(self, step):
        periods = _step_as_float(step) / self.first_decay_steps  # in units of the first period
        if self.t_mul == 1.0:
            restarts = jnp.floor(periods)
            fraction = periods - restarts
        else:  # the periods grow geometrically: find the restart whose span holds `periods`
            t_mul = jnp.float32(self.t_mul)
            restarts = jnp.floor(jnp.log(1.0 - periods * (1.0 - t_mul)) / jnp.log(t_mul))
            before = (1.0 - t_mul ** restarts) / (1.0 - t_mul)
            fraction = (periods - before) / t_mul ** restarts
        cosine = 0.5 * jnp.float32(self.m_mul) ** restarts * (1.0 + jnp.cos(math.pi * fraction))
        return self.initial_learning_rate * ((1.0 - self.alpha) * cosine + self.alpha)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "first_decay_steps": self.first_decay_steps,
                "t_mul": self.t_mul, "m_mul": self.m_mul, "alpha": self.alpha, "name": self.name}


ALL_SCHEDULES = {
    cls.__name__: cls
    for cls in (ExponentialDecay, PiecewiseConstantDecay, PolynomialDecay, InverseTimeDecay, CosineDecay,
                CosineDecayRestarts)
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
