"""Keras 3 optimizers built from Optax pieces.

An optimizer object holds Keras's hyperparameters; `build_transform()` turns
them into one `optax.GradientTransformation` that the training engine runs
(``updates, state = tx.update(grads, state, params)``, then
``optax.apply_updates``; ``params`` is required). The update rules reproduce
Keras's numerically, including where Keras departs from Optax's defaults.

Every transform is ``optax.inject_hyperparams`` around an ``optax.named_chain``,
so its state maps onto Keras's optimizer variables like this:

- ``state.count``: Keras's ``iteration``.
- ``state.hyperparams["learning_rate"]``: Keras's ``learning_rate`` variable
  (absent from Keras, and scheduled here, when the learning rate is a schedule);
  ``state.hyperparams["decay_factor"]`` joins it with the legacy ``decay=``.
- ``state.inner_state["update"]``: the per-parameter slots, one tree per slot
  shaped like the params; each class's docstring names them.
- ``state.inner_state["clip"]`` and ``["weight_decay"]`` (when present) hold
  nothing.

Keras keeps its slots as a flat list ordered by variable; these trees are keyed
like the params instead.
"""
import collections
import math
import numbers
import re
import sys
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from scanfit import schedules
from scanfit.checks import in_range, int_at_least
from scanfit.variables import Variable
from scanfit.serialization import lookup, to_config_dict

sys.modules[__name__ + ".schedules"] = schedules

MODULE = "keras.optimizers"
DEFAULT_EPSILON = 1e-7

_name_counts = collections.Counter()


def _unique_name(class_name):
    """Keras's automatic name: snake_case class name, numbered after the first."""
    snake = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", class_name)
    snake = re.sub("([a-z])([A-Z])", r"\1_\2", snake).lower()
    count = _name_counts[snake]
    _name_counts[snake] += 1
    return snake if count == 0 else f"{snake}_{count}"


def reset_names():
    """Restart the automatic optimizer names (``adam``, ``adam_1``, ...), as `keras.backend.clear_session` does."""
    _name_counts.clear()


class LearningRate(float):
    """The value of `Optimizer.learning_rate`: a float that can also set its optimizer's learning rate.

    It compares, prints and computes as the float it was when read. Like the
    Keras variable it stands for, ``assign(value)`` sets the optimizer's
    learning rate (what ``keras.backend.set_value(optimizer.lr, value)``
    calls) and ``numpy()`` reads the optimizer's current one. Copies and
    pickles are plain floats.
    """

    __slots__ = ("_optimizer",)

    def __new__(cls, value, optimizer):
        number = super().__new__(cls, value)
        number._optimizer = optimizer
        return number

    def assign(self, value):
        self._optimizer.learning_rate = value

    def numpy(self):
        return np.float32(self._optimizer.learning_rate)

    def __reduce__(self):
        return float, (float(self),)


def _learning_rate_float(value):
    """A scalar learning rate (finite, >= 0) rounded to float32, as Keras stores it."""
    is_scalar = isinstance(value, numbers.Real) or (hasattr(value, "dtype") and np.ndim(value) == 0)
    if isinstance(value, bool) or not is_scalar:
        raise TypeError(
            "`learning_rate` must be a float (or a LearningRateSchedule when constructing), "
            f"got {type(value).__name__} ({value!r})."
        )
    if not np.isfinite(float(value)) or float(value) < 0:
        raise ValueError(f"`learning_rate` must be a finite number >= 0, got learning_rate={value!r}.")
    return float(np.float32(value))




def _holds_learning_rate(node):
    return isinstance(node, optax.InjectStatefulHyperparamsState) and "learning_rate" in node.hyperparams


def _learning_rate_holders(state):
    """The `inject_hyperparams` states inside `state` that carry a learning rate."""
    nodes = jax.tree.leaves(state, is_leaf=_holds_learning_rate)
    return [node for node in nodes if _holds_learning_rate(node)]


def _learning_rate_holder(state):
    """The one `inject_hyperparams` state in `state` that carries a learning rate."""
    holders = _learning_rate_holders(state)
    if len(holders) != 1:
        raise ValueError(
            f"Expected an optimizer state with exactly one injected `learning_rate` "
            f"hyperparameter, found {len(holders)}. Build the transform with "
            "optax.inject_hyperparams(...)(learning_rate=...)."
        )
    return holders[0]


# Keras update rules that Optax's built-ins compute differently.


class KerasAdamState(NamedTuple):
    """Keras Adam's slots (``velocity_hat`` is None unless amsgrad)."""

    count: jax.Array
    momentum: Any
    velocity: Any
    velocity_hat: Any


def scale_by_keras_adam(beta_1, beta_2, epsilon, amsgrad):
    """Adam's step direction as Keras computes it.

    Keras adds epsilon to the sqrt of the *uncorrected* second moment and
    folds both bias corrections into the step size; with AMSGrad it keeps the
    running max of the uncorrected second moment.
    """

    def init_fn(params):
        zeros = optax.tree.zeros_like(params)
        return KerasAdamState(jnp.zeros([], jnp.int32), zeros, zeros, zeros if amsgrad else None)

    def update_fn(grads, state, params=None):
        count = optax.safe_increment(state.count)
        momentum = optax.tree.update_moment(grads, state.momentum, beta_1, 1)
        velocity = optax.tree.update_moment_per_elem_norm(grads, state.velocity, beta_2, 2)
        velocity_hat = jax.tree.map(jnp.maximum, state.velocity_hat, velocity) if amsgrad else None
        step_size = jnp.sqrt(1 - beta_2**count) / (1 - beta_1**count)
        updates = jax.tree.map(
            lambda m, v: step_size * m / (jnp.sqrt(v) + epsilon),
            momentum, velocity_hat if amsgrad else velocity,
        )
        return updates, KerasAdamState(count, momentum, velocity, velocity_hat)

    return optax.GradientTransformation(init_fn, update_fn)


class KerasNadamState(NamedTuple):
    """Keras Nadam's slots plus its running product of momentum-schedule factors."""

    count: jax.Array
    u_product: jax.Array
    momentum: Any
    velocity: Any


def scale_by_keras_nadam(beta_1, beta_2, epsilon):
    """Nadam's step direction with Keras's momentum schedule ``beta_1 * (1 - 0.5 * 0.96**t)``."""

    def init_fn(params):
        zeros = optax.tree.zeros_like(params)
        u_product = jnp.ones([], optax.tree.dtype(params, "highest"))
        return KerasNadamState(jnp.zeros([], jnp.int32), u_product, zeros, zeros)

    def update_fn(grads, state, params=None):
        count = optax.safe_increment(state.count)
        step = count.astype(state.u_product.dtype)
        u_now = beta_1 * (1.0 - 0.5 * 0.96**step)
        u_next = beta_1 * (1.0 - 0.5 * 0.96 ** (step + 1))
        u_product = state.u_product * u_now
        u_product_next = u_product * u_next
        momentum = optax.tree.update_moment(grads, state.momentum, beta_1, 1)
        velocity = optax.tree.update_moment_per_elem_norm(grads, state.velocity, beta_2, 2)
        velocity_correction = 1 - beta_2**step

        def direction(g, m, v):
            m_hat = u_next * m / (1 - u_product_next) + (1 - u_now) * g / (1 - u_product)
            return m_hat / (jnp.sqrt(v / velocity_correction) + epsilon)

        updates = jax.tree.map(direction, grads, momentum, velocity)
        return updates, KerasNadamState(count, u_product, momentum, velocity)

    return optax.GradientTransformation(init_fn, update_fn)


class KerasAdamaxState(NamedTuple):
    """Keras Adamax's slots."""

    count: jax.Array
    momentum: Any
    norm: Any


def scale_by_keras_adamax(beta_1, beta_2, epsilon):
    """Adamax's step direction as Keras computes it: epsilon added to the norm, not inside its max."""

    def init_fn(params):
        zeros = optax.tree.zeros_like(params)
        return KerasAdamaxState(jnp.zeros([], jnp.int32), zeros, zeros)

    def update_fn(grads, state, params=None):
        count = optax.safe_increment(state.count)
        momentum = optax.tree.update_moment(grads, state.momentum, beta_1, 1)
        norm = optax.tree.update_infinity_moment(grads, state.norm, beta_2, 0.0)
        correction = 1 - beta_1**count
        updates = jax.tree.map(lambda m, u: m / (correction * (u + epsilon)), momentum, norm)
        return updates, KerasAdamaxState(count, momentum, norm)

    return optax.GradientTransformation(init_fn, update_fn)


class KerasLionState(NamedTuple):
    """Keras Lion's slot."""

    momentum: Any


def scale_by_keras_lion(beta_1, beta_2):
    """Lion's step direction: the sign of the momentum moved towards the gradient by ``1 - beta_1``; the momentum
    itself then moves towards the gradient by ``1 - beta_2``."""

    def init_fn(params):
        return KerasLionState(optax.tree.zeros_like(params))

    def update_fn(grads, state, params=None):
        direction = jax.tree.map(lambda m, g: jnp.sign(m * beta_1 + g * (1.0 - beta_1)), state.momentum, grads)
        momentum = jax.tree.map(lambda m, g: m * beta_2 + g * (1.0 - beta_2), state.momentum, grads)
        return direction, KerasLionState(momentum)

    return optax.GradientTransformation(init_fn, update_fn)


def _decayed(params, learning_rate, weight_decay):
    """The weights as Keras's weight decay leaves them before an update step (``p -= lr * weight_decay * p``)."""
    if not weight_decay:
        return params
    return jax.tree.map(lambda p: p - learning_rate * weight_decay * p, params)


class KerasLambState(NamedTuple):
    """Keras Lamb's slots."""

    count: jax.Array
    momentum: Any
    velocity: Any


def keras_lamb(learning_rate, beta_1, beta_2, epsilon, weight_decay):
    """Lamb's whole update, weight decay included (its trust ratio reads the decayed weights, as in Keras): Adam's
    bias-corrected step, scaled per weight array by ``|weights| / |step|``."""

    def init_fn(params):
        zeros = optax.tree.zeros_like(params)
        return KerasLambState(jnp.zeros([], jnp.int32), zeros, zeros)

    def update_fn(grads, state, params=None):
        count = optax.safe_increment(state.count)
        momentum = jax.tree.map(lambda m, g: m + (g - m) * (1 - beta_1), state.momentum, grads)
        velocity = jax.tree.map(lambda v, g: v + (jnp.square(g) - v) * (1 - beta_2), state.velocity, grads)
        beta_1_power, beta_2_power = beta_1 ** count, beta_2 ** count

        def update(p, decayed, m, v):
            step = (m / (1.0 - beta_1_power)) / (jnp.sqrt(v / (1.0 - beta_2_power)) + epsilon)
            w_norm, g_norm = jnp.sqrt(jnp.sum(jnp.square(decayed))), jnp.sqrt(jnp.sum(jnp.square(step)))
            ratio = jnp.where((w_norm > 0) & (g_norm > 0), w_norm / jnp.where(g_norm > 0, g_norm, 1.0), 1.0)
            return decayed - p - ratio * learning_rate * step

        decayed = _decayed(params, learning_rate, weight_decay)
        return jax.tree.map(update, params, decayed, momentum, velocity), KerasLambState(count, momentum, velocity)

    return optax.GradientTransformation(init_fn, update_fn)


class KerasFtrlState(NamedTuple):
    """Keras Ftrl's slots."""

    accumulator: Any
    linear: Any


def keras_ftrl(learning_rate, power, initial_accumulator_value, l1, l2, l2_shrinkage, beta, weight_decay):
    """FTRL-proximal's whole update as Keras computes it (the new weights come from the accumulated squared
    gradients and the ``linear`` slot; weight decay first, as in Keras)."""

    def init_fn(params):
        return KerasFtrlState(jax.tree.map(lambda p: jnp.full_like(p, initial_accumulator_value), params),
                              optax.tree.zeros_like(params))

    def update_fn(grads, state, params=None):
        l2_total = l2 + beta / (2.0 * learning_rate)
        decayed = _decayed(params, learning_rate, weight_decay)

        def step(p, w, g, accumulator, linear):
            new_accumulator = accumulator + jnp.square(g)
            rate_change = (new_accumulator ** -power - accumulator ** -power) / learning_rate
            linear = linear + g + 2 * l2_shrinkage * w - rate_change * w
            quadratic = new_accumulator ** -power / learning_rate + 2 * l2_total
            new_weights = (jnp.clip(linear, -l1, l1) - linear) / quadratic
            return new_weights - p, new_accumulator, linear

        steps = jax.tree.map(step, params, decayed, grads, state.accumulator, state.linear)
        treedef = jax.tree.structure(params)
        updates, accumulator, linear = (treedef.unflatten(parts) for parts in zip(*treedef.flatten_up_to(steps)))
        return updates, KerasFtrlState(accumulator, linear)

    return optax.GradientTransformation(init_fn, update_fn)


class KerasAdafactorState(NamedTuple):
    """Keras Adafactor's slots: the factored second moments ``r`` (rows) and ``c`` (columns) of each weight of
    two or more axes (a scalar placeholder for the others) and ``velocity``."""

    count: jax.Array
    r: Any
    c: Any
    velocity: Any


def _rms(x):
    return jnp.sqrt(jnp.mean(jnp.square(x)))


def keras_adafactor(learning_rate, beta_2_decay, epsilon_1, epsilon_2, clip_threshold, weight_decay):
    """Adafactor's whole update as Keras 3 computes it: a step of ``min(lr, 1/sqrt(t))`` times the weight's
    RMS (at least `epsilon_2`) along the gradient over the square root of a second moment factored over the
    last two axes (kept whole for weights of fewer axes), clipped to RMS `clip_threshold`."""

    def init_fn(params):
        def factors(p, drop_axis):
            return jnp.zeros(np.delete(p.shape, drop_axis) if p.ndim >= 2 else (), p.dtype)
        return KerasAdafactorState(jnp.zeros([], jnp.int32), jax.tree.map(lambda p: factors(p, -1), params),
                                   jax.tree.map(lambda p: factors(p, -2), params), optax.tree.zeros_like(params))

    def update_fn(grads, state, params=None):
        count = optax.safe_increment(state.count)
        step = count.astype(jnp.float32)
        relative_rate = jnp.minimum(learning_rate, 1.0 / jnp.sqrt(step))
        beta_2 = 1.0 - step ** beta_2_decay

        def update(p, w, g, r, c, v):
            squared = jnp.square(g) + epsilon_1
            if p.ndim >= 2:
                r = beta_2 * r + (1.0 - beta_2) * jnp.mean(squared, axis=-1)
                c = beta_2 * c + (1.0 - beta_2) * jnp.mean(squared, axis=-2)
                v = (r / jnp.mean(r, axis=-1, keepdims=True))[..., None] * c[..., None, :]
            else:
                v = beta_2 * v + (1.0 - beta_2) * squared
            direction = g / jnp.sqrt(v)
            direction = direction / jnp.maximum(1.0, _rms(direction) / clip_threshold)
            return w - p - jnp.maximum(epsilon_2, _rms(w)) * relative_rate * direction, r, c, v

        decayed = _decayed(params, learning_rate, weight_decay)
        steps = jax.tree.map(update, params, decayed, grads, state.r, state.c, state.velocity)
        treedef = jax.tree.structure(params)
        updates, r, c, velocity = (treedef.unflatten(parts) for parts in zip(*treedef.flatten_up_to(steps)))
        return updates, KerasAdafactorState(count, r, c, velocity)

    return optax.GradientTransformation(init_fn, update_fn)


def key_path_name(key_path):
    """A weight's place in a params tree as one string: its keys joined by "/" (``[0]["kernel"]`` -> "0/kernel")."""
    return "/".join(str(getattr(key, "key", getattr(key, "idx", getattr(key, "name", key)))) for key in key_path)


def _map_with_places(function, tree, *rest):
    """``function(place, leaf, *leaves)`` over `tree`, `place` being the leaf's `key_path_name`; the per-leaf
    tuples it returns come back as one tree per position."""
    results = jax.tree_util.tree_map_with_path(lambda path, *leaves: function(key_path_name(path), *leaves),
                                               tree, *rest)
    treedef = jax.tree.structure(tree)
    return tuple(treedef.unflatten(parts) for parts in zip(*treedef.flatten_up_to(results)))


def newton_schulz_orthogonalize(x, steps, a, b, c):
    """Keras Muon's approximate orthogonalization of a matrix: divided by its Frobenius norm (plus 1e-7), then
    `steps` quintic Newton-Schulz iterations ``x <- a x + (b G + c G G) x`` with ``G = x x^T``, taken on the
    wide orientation (a tall matrix is transposed there and back)."""
    tall = x.shape[-2] > x.shape[-1]
    if tall:
        x = jnp.swapaxes(x, -1, -2)
    x = x / (jnp.linalg.norm(x, axis=(-2, -1), keepdims=True) + 1e-7)
    for _ in range(steps):
        gram = x @ jnp.swapaxes(x, -1, -2)
        x = a * x + (b * gram + c * gram @ gram) @ x
    return jnp.swapaxes(x, -1, -2) if tall else x


class KerasMuonState(NamedTuple):
    """Keras Muon's slots: ``momentum`` for every weight, ``velocity`` for those taking the AdamW step (zeros,
    unused, for the others, which have none in Keras)."""

    count: jax.Array
    momentum: Any
    velocity: Any


def keras_muon(learning_rate, uses_adamw, momentum, nesterov, ns_steps, muon_coefficients, rms_rate, adam_beta_1,
               adam_beta_2, epsilon, adam_lr_ratio, weight_decay, adam_weight_decay):
    """Muon's whole update as Keras 3.15 computes it, weight decay included.

    A weight for which ``uses_adamw(place, shape)`` is false takes the Muon
    step: momentum ``m = momentum * m + g``, its (Nesterov: ``g + momentum * m``)
    direction orthogonalized (`newton_schulz_orthogonalize`), times the
    learning rate and, with `rms_rate`, ``sqrt(max(rows, columns)) * rms_rate``;
    it decays by `weight_decay`. The others take Keras's Adam step at
    ``learning_rate * adam_lr_ratio`` and decay by `adam_weight_decay`. Both
    decays use the plain learning rate (``p -= lr * decay * p``).
    """

    def init_fn(params):
        zeros = optax.tree.zeros_like(params)
        return KerasMuonState(jnp.zeros([], jnp.int32), zeros, zeros)

    def update_fn(grads, state, params=None):
        count = optax.safe_increment(state.count)

        def update(place, p, g, m, v):
            if uses_adamw(place, p.shape):
                step = count.astype(p.dtype)
                m = m + (g - m) * (1 - adam_beta_1)
                v = v + (jnp.square(g) - v) * (1 - adam_beta_2)
                alpha = learning_rate * adam_lr_ratio * jnp.sqrt(1 - adam_beta_2**step) / (1 - adam_beta_1**step)
                change, decay = m * alpha / (jnp.sqrt(v) + epsilon), adam_weight_decay
            else:
                m = m + (g + m * (momentum - 1))
                direction = g + momentum * m if nesterov else m
                change = learning_rate * newton_schulz_orthogonalize(direction, ns_steps, *muon_coefficients)
                if rms_rate is not None:
                    change = change * math.sqrt(max(p.shape)) * rms_rate
                decay = weight_decay
            return _decayed(p, learning_rate, decay) - p - change, m, v

        updates, momentum_, velocity = _map_with_places(update, params, grads, state.momentum, state.velocity)
        return updates, KerasMuonState(count, momentum_, velocity)

    return optax.GradientTransformation(init_fn, update_fn)


class KerasScheduleFreeState(NamedTuple):
    """Keras ScheduleFreeAdamW's slots: ``momentum`` (the sequence z the steps move, starting at the weights)
    and ``velocity``."""

    count: jax.Array
    momentum: Any
    velocity: Any


def keras_schedule_free_adamw(learning_rate, beta_1, beta_2, epsilon, warmup_steps, weight_decay):
    """Schedule-free AdamW's whole update as Keras 3.15 computes it.

    The weights are y; the state holds z (``momentum``) and Adam's
    ``velocity``. Each step moves z by the gradient over ``sqrt(v / (1 -
    beta_2**t)) + epsilon`` times the learning rate (ramped up linearly over
    `warmup_steps`), recovers the average x from the weights as ``(y - (1 -
    beta_1) z_old) / beta_1``, averages it with the new z by ``1/t``, and sets
    the weights to ``(1 - beta_1) z + beta_1 x``. Weight decay (``y -= lr *
    weight_decay * y``, unramped rate) comes first, as in Keras, and so enters
    the recovered x. The model trains and evaluates with y (Keras swaps in no
    other weights).
    """

    def init_fn(params):
        return KerasScheduleFreeState(jnp.zeros([], jnp.int32), jax.tree.map(jnp.copy, params),
                                      optax.tree.zeros_like(params))

    def update_fn(grads, state, params=None):
        count = optax.safe_increment(state.count)
        decayed = _decayed(params, learning_rate, weight_decay)

        def update(p, y, g, z, v):
            step = count.astype(p.dtype)
            rate = learning_rate * jnp.minimum(step / warmup_steps, 1.0) if warmup_steps > 0 else learning_rate
            v = v + (jnp.square(g) - v) * (1 - beta_2)
            new_z = z - rate * g / (jnp.sqrt(v / (1 - beta_2**step)) + epsilon)
            weight = 1.0 / step
            x = (1 - weight) * ((y - (1 - beta_1) * z) / beta_1) + weight * new_z
            return (1 - beta_1) * new_z + beta_1 * x - p, new_z, v

        updates, momentum, velocity = _map_with_places(lambda _, *leaves: update(*leaves), params, decayed, grads,
                                                       state.momentum, state.velocity)
        return updates, KerasScheduleFreeState(count, momentum, velocity)

    return optax.GradientTransformation(init_fn, update_fn)


def clip_by_norm_per_variable(clipnorm):
    """Keras's ``clipnorm``: rescale each gradient array on its own to L2 norm at most ``clipnorm``."""

    def clip(grad, _):
        norm = jnp.sqrt(jnp.sum(jnp.square(grad)))
        return grad * clipnorm / jnp.maximum(norm, clipnorm)

    return optax.stateless_with_tree_map(clip)


class MovingAverageState(NamedTuple):
    """``use_ema``'s state around the optimizer's own: `average` (Keras's ``average`` variables, shaped like
    the weights) is the exponential moving average of the weights."""

    inner_state: Any
    average: Any


def moving_average_of_weights(inner, momentum, overwrite_frequency):
    """`inner` (an `inject_hyperparams` transform) keeping Keras's moving average of the weights it updates.

    After each update the average moves towards the new weights (before any
    constraint, as in Keras): ``average = momentum * average + (1 - momentum)
    * weights``, with momentum 0 at iteration 0 (so the average starts as the
    weights after the first step; no bias correction). With
    `overwrite_frequency` N, every N-th update (iterations N, 2N, ... once
    counted) sets the weights to the new average instead.
    """

    def init_fn(params):
        return MovingAverageState(inner.init(params), optax.tree.zeros_like(params))

    def update_fn(grads, state, params=None):
        iteration = _learning_rate_holder(state.inner_state).count  # Keras's `iterations` before this step
        updates, inner_state = inner.update(grads, state.inner_state, params)
        new_params = optax.apply_updates(params, updates)

        def move(average, weights):
            rate = jnp.where(iteration == 0, 0.0, momentum).astype(weights.dtype)
            return rate * average + (1 - rate) * weights

        average = jax.tree.map(move, state.average, new_params)
        if overwrite_frequency:
            overwrite = (iteration + 1) % overwrite_frequency == 0
            updates = jax.tree.map(lambda a, p, u: jnp.where(overwrite, a - p, u), average, params, updates)
        return updates, MovingAverageState(inner_state, average)

    return optax.GradientTransformation(init_fn, update_fn)


class Optimizer:
    """Base class: Keras's common optimizer arguments and the engine-facing interface.

    Subclasses define ``_update_transform(learning_rate)``: the transform from
    (clipped) gradients to the additive parameter updates, learning rate
    included. Weight decay (``p -= lr * weight_decay * p``, as Keras applies it
    before each update) and clipping are added here.

    ``lr=`` is accepted as a legacy alias of ``learning_rate``; so is tf.keras
    2's ``decay=`` (the learning rate becomes ``lr / (1 + decay * iteration)``).

    ``use_ema=True`` keeps Keras's moving average of the weights in the state
    (see `moving_average_of_weights`); `fit` ends by setting the weights to
    it, and ``keras.callbacks.SwapEMAWeights`` evaluates with it.
    """

    default_learning_rate = 0.001
    hyperparameter_names = ()
    use_ema = False  # (an OptaxOptimizer keeps no moving average)
    update_decays_weights = False  # True where the update itself applies weight decay (it reads decayed weights)
    reads_weight_paths = False  # True where the update depends on the weights' paths (Muon)

    def __init__(self, learning_rate=None, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None,
                 loss_scale_factor=None, gradient_accumulation_steps=None, name=None, **legacy):
        alias = legacy.pop("lr", None)
        decay = legacy.pop("decay", None)
        if legacy:
            raise TypeError(
                f"{type(self).__name__} got unexpected keyword argument(s) {sorted(legacy)}."
            )
        if alias is not None:
            if learning_rate is not None:
                raise TypeError(
                    f"Pass either `learning_rate` or its legacy alias `lr`, not both "
                    f"(got learning_rate={learning_rate!r}, lr={alias!r})."
                )
            learning_rate = alias
        if learning_rate is None:
            learning_rate = self.default_learning_rate
        if use_ema:  # (checked only then, as in Keras)
            in_range("ema_momentum", ema_momentum, 0, 1)
            if ema_overwrite_frequency is not None:
                int_at_least("ema_overwrite_frequency", ema_overwrite_frequency, 1)
        if loss_scale_factor is not None:
            raise NotImplementedError(
                f"loss_scale_factor={loss_scale_factor!r} (a fixed loss scale) is not supported by scanfit; "
                "pass loss_scale_factor=None. For float16 training, wrap the optimizer in "
                "keras.optimizers.LossScaleOptimizer (compile does so under the 'mixed_float16' policy)."
            )
        if gradient_accumulation_steps is not None:
            raise NotImplementedError(
                f"gradient_accumulation_steps={gradient_accumulation_steps!r} is not supported by "
                "scanfit yet; pass gradient_accumulation_steps=None."
            )
        clip_arguments = {"clipnorm": clipnorm, "clipvalue": clipvalue, "global_clipnorm": global_clipnorm}
        if sum(value is not None for value in clip_arguments.values()) > 1:
            given = ", ".join(f"{key}={value!r}" for key, value in clip_arguments.items())
            raise ValueError(
                f"Set at most one of `clipnorm`, `clipvalue` and `global_clipnorm`, got {given}."
            )
        if decay is not None and decay < 0:
            raise ValueError(f"`decay` must be >= 0, got decay={decay!r}.")
        for key, value in clip_arguments.items():
            if value is not None:
                in_range(key, value, 0, low_open=True)
        if weight_decay is not None:
            in_range("weight_decay", weight_decay, 0)

        if callable(learning_rate):
            self._learning_rate = learning_rate
        else:
            self._learning_rate = _learning_rate_float(learning_rate)
        self.name = name if name is not None else _unique_name(type(self).__name__)
        self.weight_decay = weight_decay
        self.clipnorm = clipnorm
        self.clipvalue = clipvalue
        self.global_clipnorm = global_clipnorm
        self.use_ema = use_ema
        self.ema_momentum = ema_momentum
        self.ema_overwrite_frequency = ema_overwrite_frequency
        self.loss_scale_factor = loss_scale_factor
        self.gradient_accumulation_steps = gradient_accumulation_steps
        self.decay = decay or None
        self.iterations = 0

    @property
    def _is_scheduled(self):
        return callable(self._learning_rate)

    @property
    def learning_rate(self):
        """The current learning rate as a float (a schedule is evaluated at `iterations`); see `LearningRate`."""
        if self._is_scheduled:
            return LearningRate(float(self._learning_rate(self.iterations)), self)
        return LearningRate(self._learning_rate, self)

    @learning_rate.setter
    def learning_rate(self, value):
        if self._is_scheduled:
            raise TypeError(
                f"{self.name} was created with a learning-rate schedule, so its learning rate "
                "cannot be set; create the optimizer with a float learning_rate to change it."
            )
        self._learning_rate = _learning_rate_float(value)

    @property
    def lr(self):
        """Legacy alias of `learning_rate`."""
        return self.learning_rate

    @lr.setter
    def lr(self, value):
        self.learning_rate = value

    def build_transform(self, weight_paths=None):
        """The optax transform for these settings, learning rate injected into its state.

        `weight_paths` maps a weight's place in the params tree (its keys joined by "/", see `key_path_name`)
        to its Keras path (``"dense/kernel"``), for the optimizers whose update depends on it (Muon); a weight
        missing from it goes by its place. With ``use_ema`` it is wrapped in `moving_average_of_weights`.
        """
        transform = self._injected_transform(weight_paths)
        if self.use_ema:
            return moving_average_of_weights(transform, self.ema_momentum, self.ema_overwrite_frequency)
        return transform

    def _injected_transform(self, weight_paths):
        if self.decay:
            decay = self.decay
            factory = lambda learning_rate, decay_factor: self._transform_steps(learning_rate * decay_factor,
                                                                                weight_paths)
            return optax.inject_hyperparams(factory)(
                learning_rate=self._learning_rate,
                decay_factor=lambda step: 1.0 / (1.0 + decay * step),
            )
        steps = lambda learning_rate: self._transform_steps(learning_rate, weight_paths)
        return optax.inject_hyperparams(steps)(learning_rate=self._learning_rate)

    def _transform_steps(self, learning_rate, weight_paths=None):
        steps = []
        clip = self._clip_transform()
        if clip is not None:
            steps.append(("clip", clip))
        if self.reads_weight_paths:
            steps.append(("update", self._update_transform(learning_rate, weight_paths or {})))
        else:
            steps.append(("update", self._update_transform(learning_rate)))
        if self.weight_decay and not self.update_decays_weights:
            steps.append(("weight_decay", optax.add_decayed_weights(-learning_rate * self.weight_decay)))
        return optax.named_chain(*steps)

    def _clip_transform(self):
        if self.clipnorm and self.clipnorm > 0:
            return clip_by_norm_per_variable(self.clipnorm)
        if self.global_clipnorm and self.global_clipnorm > 0:
            return optax.clip_by_global_norm(self.global_clipnorm)
        if self.clipvalue and self.clipvalue > 0:
            return optax.clip(self.clipvalue)
        return None

    def _update_transform(self, learning_rate):
        raise NotImplementedError(
            f"{type(self).__name__} must define _update_transform(learning_rate); scanfit "
            "optimizers are built from optax transforms, not Keras's update_step."
        )

    # --- Keras 3's stateless API: a custom train_step, a training loop written with JAX ---------------
    def build(self, var_list):
        """Create the optimizer's state for `var_list` (``model.trainable_variables``) as `variables`, which
        `stateless_apply` takes and returns as values (in Keras 3 they are also built by the first fit)."""
        var_list = list(var_list)
        groups, self.param_places = {}, []
        for variable in var_list:
            group = groups.setdefault(id(variable.layer if variable.layer is not None else variable), len(groups))
            place = (group, variable.short_name if variable.layer is not None else variable.path)
            if place in self.param_places:
                raise ValueError(f"build() was given two variables named {variable.path!r} of one layer.")
            self.param_places.append(place)
        self.param_groups = len(groups)
        self.built_for = var_list
        self.stateless_transform = self.build_transform(
            {f"{group}/{name}": variable.path for (group, name), variable in zip(self.param_places, var_list)})
        state = jax.jit(self.stateless_transform.init)(self._as_params([jnp.asarray(v) for v in var_list]))
        leaves, self.state_structure = jax.tree.flatten(state)
        self.state_variables = [Variable(leaf, path=f"{self.name}/state_{index}", trainable=False)
                                for index, leaf in enumerate(leaves)]
        self.jitted_apply = jax.jit(self.stateless_apply)

    @property
    def variables(self):
        """The optimizer state's arrays as variables, once `build` made them (Keras 3's ``optimizer.variables``:
        its iteration count, learning rate and slots; scanfit's are the leaves of its optax state)."""
        return list(getattr(self, "state_variables", []))

    def stateless_apply(self, optimizer_variables, grads, trainable_variables):
        """``(new trainable values, new optimizer values)`` after one update with `grads`, from the values of
        `variables` and of the variables `build` was given (a None gradient leaves its variable as it is);
        their constraints apply to the new values, as in Keras 3."""
        if not hasattr(self, "state_variables"):
            raise ValueError(f"Optimizer {self.name!r} is not built: call optimizer.build(model.trainable_variables) "
                             "before stateless_apply (fit does it for a model's optimizer).")
        given = {"optimizer_variables": (list(optimizer_variables), len(self.state_variables)),
                 "grads": (list(grads), len(self.built_for)),
                 "trainable_variables": (list(trainable_variables), len(self.built_for))}
        for what, (values, count) in given.items():
            if len(values) != count:
                raise ValueError(f"stateless_apply of {self.name!r} takes {count} {what}, got {len(values)} (the "
                                 "optimizer was built for the variables it was given, in that order).")
        params = [jnp.asarray(value) for value in given["trainable_variables"][0]]  # a Variable gives its value
        grads = [jnp.zeros_like(p) if g is None else jnp.asarray(g) for g, p in zip(given["grads"][0], params)]
        state = jax.tree.unflatten(self.state_structure, [jnp.asarray(v) for v in given["optimizer_variables"][0]])
        params = self._as_params(params)
        updates, state = self.stateless_transform.update(self._as_params(grads), state, params)
        new = self._as_list(optax.apply_updates(params, updates))
        new = [v.constraint(value) if v.constraint is not None else value for v, value in zip(self.built_for, new)]
        return new, jax.tree.leaves(state)

    def _as_params(self, values):
        """Values in the order `build` was given as the optax state's parameters: one ``{name: value}`` dict per
        layer (layers in order of first appearance), so that the state's leaves are in the order of the state
        `fit` keeps for a model (a dict per weight layer of ``model.weight_layers``)."""
        params = [{} for _ in range(self.param_groups)]
        for (group, name), value in zip(self.param_places, values):
            params[group][name] = value
        return params

    def _as_list(self, params):
        return [params[group][name] for group, name in self.param_places]

    def apply(self, grads, trainable_variables=None):
        """Update `trainable_variables` (those `build` was given, by default; a new list builds the optimizer
        for it) with `grads`, in place, as Keras 3's ``optimizer.apply`` does."""
        variables = self.built_for if trainable_variables is None and hasattr(self, "built_for") else trainable_variables
        if variables is None:
            raise ValueError(f"Optimizer {self.name!r} does not know which variables to update: pass "
                             "trainable_variables, or call build(model.trainable_variables) first.")
        variables = list(variables)
        if [id(v) for v in variables] != [id(v) for v in getattr(self, "built_for", [])]:
            self.build(variables)
        new, state = self.jitted_apply([v.value for v in self.state_variables], list(grads),
                                       [v.value for v in variables])
        for variable, value in zip(variables + self.state_variables, new + state):
            variable.assign(value)
        self.iterations += 1

    def apply_gradients(self, grads_and_vars):
        """tf.keras's spelling of `apply`: ``optimizer.apply_gradients(zip(grads, model.trainable_variables))``."""
        pairs = list(grads_and_vars)
        self.apply([g for g, _ in pairs], [v for _, v in pairs])

    def finalize_variable_values(self, var_list):
        """Keras 3's last step of training with ``use_ema``: the variables `build` was given (`var_list`) take the
        moving average's values; nothing without use_ema. `fit` does this itself when it ends."""
        if not self.keeps_moving_average:
            return
        if not hasattr(self, "state_variables"):
            raise ValueError(f"Optimizer {self.name!r} has no moving average to finalize: it was not built (a "
                             "model's fit keeps its own state and sets the weights to the average as it ends).")
        state = jax.tree.unflatten(self.state_structure, [v.value for v in self.state_variables])
        average, var_list = self._as_list(self.moving_average(state)), list(var_list)
        if len(var_list) != len(average):
            raise ValueError(f"finalize_variable_values of {self.name!r} takes the {len(average)} variables it was "
                             f"built for, got {len(var_list)}.")
        for variable, value in zip(var_list, average):
            variable.assign(value)

    @property
    def keeps_moving_average(self):
        """Whether the state holds a moving average of the weights (``use_ema``)."""
        return bool(self.use_ema)

    def moving_average(self, state):
        """The moving average of the weights in `state`, shaped like the weights (``use_ema`` only)."""
        return state.average

    def with_moving_average(self, state, average):
        """A copy of `state` holding `average` (shaped like the weights) as its moving average."""
        return state._replace(average=average)

    def applied_updates(self, state):
        """How many updates `state` has applied, for optimizers that may skip a step (None: every step applies).
        Read before a training program is given `state`, which it consumes."""
        return None

    def iterations_after(self, applied_before, new_state, steps):
        """`iterations` once `steps` more training steps took the optimizer to `new_state` from a state whose
        `applied_updates` were `applied_before`."""
        return int(self.iterations) + steps

    def state_learning_rate(self, state):
        """The learning rate the next update from `state` will use (before any legacy decay)."""
        holder = _learning_rate_holder(state)
        if self._is_scheduled:
            return float(self._learning_rate(holder.count))
        return float(holder.hyperparams["learning_rate"])

    def with_learning_rate(self, state, learning_rate):
        """A copy of `state` whose next updates use `learning_rate`; same shapes and dtypes, so no recompile.

        A scheduled learning rate is left to its schedule: `state` comes back unchanged.
        """
        if "learning_rate" in _learning_rate_holder(state).hyperparams_states:
            return state
        value = _learning_rate_float(learning_rate)

        def replace(node):
            if not _holds_learning_rate(node):
                return node
            old = node.hyperparams["learning_rate"]
            # device_put of a NumPy scalar: an eager jnp.asarray compiles a program (0.02 s in a process's first fit)
            hyperparams = {**node.hyperparams, "learning_rate": jax.device_put(np.asarray(value, dtype=old.dtype))}
            return node._replace(hyperparams=hyperparams)

        return jax.tree.map(replace, state, is_leaf=_holds_learning_rate)

    def get_config(self):
        """Keras 3's config keys (plus ``decay`` when the legacy decay is set)."""
        if isinstance(self._learning_rate, schedules.LearningRateSchedule):
            learning_rate = schedules.serialize(self._learning_rate)
        elif self._is_scheduled:
            raise TypeError(
                f"{self.name}'s learning rate is a plain callable ({self._learning_rate!r}), which "
                "cannot be serialized; use a scanfit.optimizers.schedules.LearningRateSchedule."
            )
        else:
            learning_rate = self._learning_rate
        config = {
            "name": self.name,
            "learning_rate": learning_rate,
            "weight_decay": self.weight_decay,
            "clipnorm": self.clipnorm,
            "global_clipnorm": self.global_clipnorm,
            "clipvalue": self.clipvalue,
            "use_ema": self.use_ema,
            "ema_momentum": self.ema_momentum,
            "ema_overwrite_frequency": self.ema_overwrite_frequency,
            "loss_scale_factor": self.loss_scale_factor,
            "gradient_accumulation_steps": self.gradient_accumulation_steps,
        }
        config.update({key: getattr(self, key) for key in self.hyperparameter_names})
        if self.decay:
            config["decay"] = self.decay
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = schedules.deserialize(config["learning_rate"], custom_objects)
        return cls(**config)


class SGD(Optimizer):
    """Gradient descent, optionally with (Nesterov) momentum. Default learning_rate 0.01.

    Keras keeps the learning rate inside the momentum (``m = momentum * m - lr * g``),
    so the chain scales by ``-lr`` before `optax.trace`; `optax.sgd` traces first.
    Slots: ``update[1].trace`` is Keras's ``momentum`` (only when momentum > 0).
    """

    default_learning_rate = 0.01
    hyperparameter_names = ("momentum", "nesterov")

    def __init__(self, learning_rate=None, momentum=0.0, nesterov=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        if isinstance(momentum, bool) or not isinstance(momentum, numbers.Real) or not 0 <= momentum <= 1:
            raise ValueError(f"`momentum` must be a float in [0, 1], got momentum={momentum!r}.")
        self.momentum = float(momentum)
        self.nesterov = nesterov

    def _update_transform(self, learning_rate):
        descent = optax.scale_by_learning_rate(learning_rate)
        if self.momentum == 0:
            return descent
        return optax.chain(descent, optax.trace(decay=self.momentum, nesterov=self.nesterov))


class RMSprop(Optimizer):
    """RMSprop (Keras defaults: rho 0.9, epsilon 1e-7 inside the sqrt, zero initial velocity).

    Slots in ``update``: ``[0].nu`` is Keras's ``velocity``, ``[0].mu`` its
    ``average_gradient`` (centered only), ``[2].trace`` is minus its
    ``momentum`` (momentum > 0 only).
    """

    hyperparameter_names = ("rho", "momentum", "epsilon", "centered")

    def __init__(self, learning_rate=None, rho=0.9, momentum=0.0, epsilon=DEFAULT_EPSILON, centered=False,
                 **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.rho = in_range("rho", rho, 0, 1)
        self.momentum = in_range("momentum", momentum, 0, 1)
        self.epsilon = in_range("epsilon", DEFAULT_EPSILON if epsilon is None else epsilon, 0)
        self.centered = centered

    def _update_transform(self, learning_rate):
        return optax.rmsprop(
            learning_rate, decay=self.rho, eps=self.epsilon, centered=self.centered,
            momentum=self.momentum if self.momentum > 0 else None,
        )


class Adagrad(Optimizer):
    """Adagrad. Slots: ``update[0].sum_of_squares`` is Keras's ``accumulator`` (starts at 0.1)."""

    hyperparameter_names = ("initial_accumulator_value", "epsilon")

    def __init__(self, learning_rate=None, initial_accumulator_value=0.1, epsilon=DEFAULT_EPSILON, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.initial_accumulator_value = in_range("initial_accumulator_value", initial_accumulator_value, 0)
        self.epsilon = in_range("epsilon", DEFAULT_EPSILON if epsilon is None else epsilon, 0)

    def _update_transform(self, learning_rate):
        return optax.adagrad(learning_rate, self.initial_accumulator_value, self.epsilon)


class _AdamLike(Optimizer):
    """Base of Adam, Nadam, Adamax and Lamb: ``beta_1``, ``beta_2``, ``epsilon``, and a step direction
    (``_direction()``) scaled by the learning rate (Lamb makes its whole update itself)."""

    hyperparameter_names = ("beta_1", "beta_2", "epsilon")

    def __init__(self, learning_rate=None, beta_1=0.9, beta_2=0.999, epsilon=DEFAULT_EPSILON, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.beta_1 = in_range("beta_1", beta_1, 0, 1, high_open=True)
        self.beta_2 = in_range("beta_2", beta_2, 0, 1, high_open=True)
        self.epsilon = in_range("epsilon", DEFAULT_EPSILON if epsilon is None else epsilon, 0)

    def _update_transform(self, learning_rate):
        return optax.chain(self._direction(), optax.scale_by_learning_rate(learning_rate))


class Adam(_AdamLike):
    """Adam, with Keras's epsilon placement (see `scale_by_keras_adam`).

    Slots: ``update[0]`` is a `KerasAdamState` whose ``momentum``,
    ``velocity`` and ``velocity_hat`` are Keras's variables of those names.
    """

    hyperparameter_names = _AdamLike.hyperparameter_names + ("amsgrad",)

    def __init__(self, learning_rate=None, beta_1=0.9, beta_2=0.999, epsilon=DEFAULT_EPSILON, amsgrad=False,
                 **kwargs):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, **kwargs)
        self.amsgrad = amsgrad

    def _direction(self):
        return scale_by_keras_adam(self.beta_1, self.beta_2, self.epsilon, self.amsgrad)


class AdamW(Adam):
    """Adam with decoupled weight decay ``p -= lr * weight_decay * p`` (default 0.004)."""

    def __init__(self, learning_rate=None, weight_decay=0.004, beta_1=0.9, beta_2=0.999,
                 epsilon=DEFAULT_EPSILON, amsgrad=False, **kwargs):
        if weight_decay is None:
            raise ValueError("AdamW needs a float `weight_decay`, got weight_decay=None.")
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad, weight_decay=weight_decay, **kwargs)


class Nadam(_AdamLike):
    """Nadam with Keras's momentum schedule (see `scale_by_keras_nadam`).

    Slots: ``update[0]`` is a `KerasNadamState`: ``momentum`` and ``velocity``
    per parameter, and the scalar ``u_product``.
    """

    def _direction(self):
        return scale_by_keras_nadam(self.beta_1, self.beta_2, self.epsilon)


class Adamax(_AdamLike):
    """Adamax (see `scale_by_keras_adamax`). Slots: ``update[0]`` holds ``momentum`` and ``norm``."""

    def _direction(self):
        return scale_by_keras_adamax(self.beta_1, self.beta_2, self.epsilon)


class Adadelta(Optimizer):
    """Adadelta (Keras defaults: rho 0.95, epsilon 1e-7, learning_rate 0.001).

    Slots: ``update[0].e_g`` is Keras's ``accumulated_grad``, ``update[0].e_x``
    its ``accumulated_delta_var``.
    """

    hyperparameter_names = ("rho", "epsilon")

    def __init__(self, learning_rate=None, rho=0.95, epsilon=DEFAULT_EPSILON, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.rho = in_range("rho", rho, 0, 1)
        self.epsilon = in_range("epsilon", DEFAULT_EPSILON if epsilon is None else epsilon, 0)

    def _update_transform(self, learning_rate):
        return optax.chain(
            optax.scale_by_adadelta(self.rho, self.epsilon),
            optax.scale_by_learning_rate(learning_rate),
        )


class Lion(Optimizer):
    """Lion (Keras defaults: beta_1 0.9, beta_2 0.99): steps of size learning_rate in the sign of an interpolated
    momentum (see `scale_by_keras_lion`). Slots: ``update[0].momentum``."""

    hyperparameter_names = ("beta_1", "beta_2")

    def __init__(self, learning_rate=None, beta_1=0.9, beta_2=0.99, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.beta_1 = in_range("beta_1", beta_1, 0, 1, low_open=True)
        self.beta_2 = in_range("beta_2", beta_2, 0, 1)

    def _update_transform(self, learning_rate):
        return optax.chain(scale_by_keras_lion(self.beta_1, self.beta_2), optax.scale_by_learning_rate(learning_rate))


class Lamb(_AdamLike):
    """Lamb: Adam's step rescaled per weight array by a trust ratio (see `keras_lamb`). Slots: ``update[0]``
    holds ``momentum`` and ``velocity``."""

    update_decays_weights = True

    def _update_transform(self, learning_rate):
        return optax.chain(keras_lamb(learning_rate, self.beta_1, self.beta_2, self.epsilon, self.weight_decay))


class Ftrl(Optimizer):
    """FTRL-proximal with Keras's arguments and defaults (see `keras_ftrl`). Slots: ``update[0]`` holds
    ``accumulator`` (starting at initial_accumulator_value) and ``linear``."""

    hyperparameter_names = ("learning_rate_power", "initial_accumulator_value", "l1_regularization_strength",
                            "l2_regularization_strength", "l2_shrinkage_regularization_strength", "beta")
    update_decays_weights = True

    def __init__(self, learning_rate=None, learning_rate_power=-0.5, initial_accumulator_value=0.1,
                 l1_regularization_strength=0.0, l2_regularization_strength=0.0,
                 l2_shrinkage_regularization_strength=0.0, beta=0.0, **kwargs):
        super().__init__(learning_rate, **kwargs)
        if learning_rate_power > 0:
            raise ValueError(f"`learning_rate_power` must be <= 0, got learning_rate_power={learning_rate_power!r}.")
        self.learning_rate_power = learning_rate_power
        self.initial_accumulator_value = in_range("initial_accumulator_value", initial_accumulator_value, 0)
        self.l1_regularization_strength = in_range("l1_regularization_strength", l1_regularization_strength, 0)
        self.l2_regularization_strength = in_range("l2_regularization_strength", l2_regularization_strength, 0)
        self.l2_shrinkage_regularization_strength = in_range(
            "l2_shrinkage_regularization_strength", l2_shrinkage_regularization_strength, 0)
        self.beta = in_range("beta", beta, 0)

    def _update_transform(self, learning_rate):
        return optax.chain(keras_ftrl(
            learning_rate, self.learning_rate_power, self.initial_accumulator_value, self.l1_regularization_strength,
            self.l2_regularization_strength, self.l2_shrinkage_regularization_strength, self.beta,
            self.weight_decay))


class Adafactor(Optimizer):
    """Adafactor with Keras 3's arguments and update (see `keras_adafactor`): memory-light second moments for
    large matrices. As in Keras, the step size is ``min(learning_rate, 1/sqrt(step))`` whether or not
    `relative_step` is set (Keras keeps the flag in the config only). Slots: ``update[0]`` holds ``r``, ``c``
    and ``velocity``."""

    hyperparameter_names = ("beta_2_decay", "epsilon_1", "epsilon_2", "clip_threshold", "relative_step")
    update_decays_weights = True

    def __init__(self, learning_rate=None, beta_2_decay=-0.8, epsilon_1=1e-30, epsilon_2=1e-3, clip_threshold=1.0,
                 relative_step=True, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.beta_2_decay = beta_2_decay
        self.epsilon_1 = in_range("epsilon_1", epsilon_1, 0)
        self.epsilon_2 = in_range("epsilon_2", epsilon_2, 0)
        self.clip_threshold = in_range("clip_threshold", clip_threshold, 0, low_open=True)
        self.relative_step = relative_step

    def _update_transform(self, learning_rate):
        return optax.chain(keras_adafactor(learning_rate, self.beta_2_decay, self.epsilon_1, self.epsilon_2,
                                           self.clip_threshold, self.weight_decay))


class Muon(Optimizer):
    """Muon with Keras 3.15's arguments, defaults and update (see `keras_muon`): orthogonalized momentum steps
    for 2-D weights, Keras's AdamW step for the rest (see `uses_adamw`). Keras advises leaving the embeddings
    (`exclude_embeddings`) and the output layer (name it in `exclude_layers`) to AdamW. Slots: ``update[0]``
    holds ``momentum`` and ``velocity``."""

    hyperparameter_names = ("adam_beta_1", "adam_beta_2", "epsilon", "exclude_layers", "muon_a", "muon_b", "muon_c",
                            "adam_lr_ratio", "momentum", "ns_steps", "nesterov", "exclude_embeddings",
                            "adam_weight_decay", "rms_rate")
    update_decays_weights = True
    reads_weight_paths = True

    def __init__(self, learning_rate=None, adam_beta_1=0.9, adam_beta_2=0.999, adam_weight_decay=0.004,
                 epsilon=1e-7, weight_decay=0.004, exclude_layers=None, exclude_embeddings=True, muon_a=3.4445,
                 muon_b=-4.7750, muon_c=2.0315, adam_lr_ratio=1, momentum=0.95, ns_steps=5, nesterov=True,
                 rms_rate=0.2, **kwargs):
        super().__init__(learning_rate, weight_decay=weight_decay, **kwargs)
        self.adam_beta_1 = in_range("adam_beta_1", adam_beta_1, 0, 1, high_open=True)
        self.adam_beta_2 = in_range("adam_beta_2", adam_beta_2, 0, 1, high_open=True)
        self.epsilon = in_range("epsilon", epsilon, 0)
        if adam_weight_decay is not None:
            in_range("adam_weight_decay", adam_weight_decay, 0)
        self.adam_weight_decay = adam_weight_decay
        if isinstance(exclude_layers, str) or not all(isinstance(k, str) for k in exclude_layers or []):
            raise ValueError(f"`exclude_layers` must be a list of strings (regular expressions searched for in "
                             f"the weights' paths), got exclude_layers={exclude_layers!r}.")
        for keyword in exclude_layers or []:
            re.compile(keyword)
        self.exclude_layers = exclude_layers or []
        self.exclude_embeddings = exclude_embeddings
        self.muon_a, self.muon_b, self.muon_c = (in_range(name, value) for name, value in (
            ("muon_a", muon_a), ("muon_b", muon_b), ("muon_c", muon_c)))
        self.adam_lr_ratio = in_range("adam_lr_ratio", adam_lr_ratio, 0)
        self.momentum = in_range("momentum", momentum, 0, 1)
        self.ns_steps = int_at_least("ns_steps", ns_steps, 0, allow_none=False)
        self.nesterov = nesterov
        if rms_rate is not None:
            in_range("rms_rate", rms_rate, 0)
        self.rms_rate = rms_rate

    def uses_adamw(self, path, shape):
        """Whether the weight at `path` (``"dense/kernel"``) of `shape` takes the AdamW step, as in Keras: any
        weight not of exactly 2 axes, one whose path holds "embedding" (any case; with `exclude_embeddings`),
        and one whose path an `exclude_layers` expression is found in."""
        if len(shape) != 2 or (self.exclude_embeddings and "embedding" in path.lower()):
            return True
        return any(re.search(keyword, path) for keyword in self.exclude_layers)

    def _update_transform(self, learning_rate, weight_paths):
        return optax.chain(keras_muon(
            learning_rate, lambda place, shape: self.uses_adamw(weight_paths.get(place, place), shape),
            self.momentum, self.nesterov, self.ns_steps, (self.muon_a, self.muon_b, self.muon_c), self.rms_rate,
            self.adam_beta_1, self.adam_beta_2, self.epsilon, self.adam_lr_ratio, self.weight_decay,
            self.adam_weight_decay))


class ScheduleFreeAdamW(Optimizer):
    """Schedule-free AdamW with Keras 3.15's arguments, defaults (learning_rate 0.0025, epsilon 1e-8, no weight
    decay) and update (see `keras_schedule_free_adamw`). Slots: ``update[0]`` holds ``momentum`` (z) and
    ``velocity``."""

    default_learning_rate = 0.0025
    hyperparameter_names = ("beta_1", "beta_2", "epsilon", "warmup_steps")
    update_decays_weights = True

    def __init__(self, learning_rate=None, beta_1=0.9, beta_2=0.999, epsilon=1e-8, warmup_steps=0, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.beta_1 = in_range("beta_1", beta_1, 0, 1, low_open=True)  # (Keras divides by it)
        self.beta_2 = in_range("beta_2", beta_2, 0, 1, high_open=True)
        self.epsilon = in_range("epsilon", epsilon, 0)
        self.warmup_steps = int_at_least("warmup_steps", warmup_steps, 0, allow_none=False)

    def _update_transform(self, learning_rate):
        return optax.chain(keras_schedule_free_adamw(learning_rate, self.beta_1, self.beta_2, self.epsilon,
                                                     self.warmup_steps, self.weight_decay))


class OptaxOptimizer(Optimizer):
    """A ready-made `optax.GradientTransformation` used as a Keras optimizer.

    Its learning rate can be read and set only when the transform was made with
    ``optax.inject_hyperparams(...)(learning_rate=<float>)``; it cannot be
    serialized.
    """

    def __init__(self, transform, name=None):
        if not isinstance(transform, optax.GradientTransformation):
            raise TypeError(
                f"OptaxOptimizer expects an optax.GradientTransformation, got "
                f"{type(transform).__name__} ({transform!r})."
            )
        self.transform = transform
        self.name = name if name is not None else _unique_name("OptaxOptimizer")
        self.iterations = 0
        self._learning_rate = None

    def build_transform(self, weight_paths=None):
        return self.transform  # (an optax transform sees the params tree only, not the weights' paths)

    def _injected_learning_rate(self):
        """The float learning rate the transform's initial state carries, or raise AttributeError."""
        probe_state = self.transform.init({"probe": jnp.zeros((1,), jnp.float32)})
        holders = _learning_rate_holders(probe_state)
        if len(holders) != 1 or "learning_rate" in holders[0].hyperparams_states:
            raise AttributeError(
                f"{self.name} wraps an optax transform without a single injectable float learning "
                "rate, so it has no settable `learning_rate`. Build it with "
                "optax.inject_hyperparams(<optimizer>)(learning_rate=<float>) to get one."
            )
        return float(holders[0].hyperparams["learning_rate"])

    @property
    def learning_rate(self):
        """The injected learning rate (AttributeError if the transform has none)."""
        if self._learning_rate is None:
            self._learning_rate = self._injected_learning_rate()
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        self._injected_learning_rate()
        self._learning_rate = _learning_rate_float(value)

    def get_config(self):
        raise TypeError(
            f"{self.name} wraps a raw optax transform, which cannot be serialized; use a "
            "scanfit optimizer class (e.g. scanfit.optimizers.Adam) to save it."
        )


class LossScaleState(NamedTuple):
    """Dynamic loss scaling's state around the inner optimizer's: Keras's ``step_counter`` and ``dynamic_scale``."""

    step_counter: jax.Array
    dynamic_scale: jax.Array
    inner_state: Any


def dynamic_loss_scaling(inner, initial_scale, dynamic_growth_steps):
    """`inner` behind Keras's dynamic loss scaling; the gradients it gets are those of ``loss * dynamic_scale``.

    Finite gradients are divided by the scale and handed to `inner`; after
    `dynamic_growth_steps` finite steps in a row the scale doubles. A step
    with a non-finite gradient changes no weight and no inner state, and
    halves the scale.
    """
    def init_fn(params):
        return LossScaleState(jnp.zeros((), jnp.int32), jnp.asarray(initial_scale, jnp.float32), inner.init(params))

    def update_fn(grads, state, params=None):
        leaves = jax.tree.leaves(grads)
        finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(g)) for g in leaves])) if leaves else jnp.asarray(True)
        scale = state.dynamic_scale

        def apply(_):
            unscaled = jax.tree.map(lambda g: g / scale.astype(g.dtype), grads)
            updates, inner_state = inner.update(unscaled, state.inner_state, params)
            grow = state.step_counter == dynamic_growth_steps - 1
            counter = jnp.where(grow, 0, state.step_counter + 1).astype(jnp.int32)
            return updates, LossScaleState(counter, jnp.where(grow, scale * 2.0, scale), inner_state)

        def skip(_):
            zeros = jax.tree.map(jnp.zeros_like, grads)
            return zeros, LossScaleState(jnp.zeros((), jnp.int32), scale * 0.5, state.inner_state)

        return jax.lax.cond(finite, apply, skip, None)

    return optax.GradientTransformation(init_fn, update_fn)


def loss_scale_of(state):
    """The factor a training step multiplies its loss by before differentiating: 1 unless `state` scales."""
    return state.dynamic_scale if isinstance(state, LossScaleState) else 1.0


class LossScaleOptimizer(Optimizer):
    """Keras 3's dynamic loss scaling around `inner_optimizer` (what ``compile`` adds under 'mixed_float16').

    The loss is multiplied by the scale (``initial_scale``, 2**15 by default)
    before differentiating and the gradients divided by it; a step with a
    non-finite gradient is skipped and halves the scale, and the scale
    doubles after `dynamic_growth_steps` (2000) finite steps in a row. The
    learning rate and ``iterations`` are the inner optimizer's.
    """

    def __init__(self, inner_optimizer, initial_scale=2.0**15, dynamic_growth_steps=2000, name=None, dynamic=True,
                 **kwargs):
        if not isinstance(inner_optimizer, Optimizer) or isinstance(inner_optimizer, LossScaleOptimizer):
            raise TypeError(
                f"LossScaleOptimizer(inner_optimizer=...) expects a scanfit optimizer such as "
                f"keras.optimizers.Adam(), got {inner_optimizer!r}."
            )
        if dynamic is not True:
            raise ValueError(
                f"LossScaleOptimizer(dynamic={dynamic!r}) is not supported (nor in Keras 3): the loss scale is "
                "always dynamic; leave dynamic out."
            )
        if kwargs:
            raise ValueError(
                f"LossScaleOptimizer does not take {sorted(kwargs)}: set these on the inner optimizer instead."
            )
        if isinstance(initial_scale, bool) or not isinstance(initial_scale, numbers.Real) or not (
                0 < float(initial_scale) < float("inf")):
            raise ValueError(f"LossScaleOptimizer initial_scale must be a positive finite number, "
                             f"got initial_scale={initial_scale!r}.")
        if isinstance(dynamic_growth_steps, bool) or not isinstance(dynamic_growth_steps, numbers.Integral) or (
                dynamic_growth_steps < 1):
            raise ValueError(f"LossScaleOptimizer dynamic_growth_steps must be a positive int, "
                             f"got dynamic_growth_steps={dynamic_growth_steps!r}.")
        self.inner_optimizer = inner_optimizer
        inner_iterations = inner_optimizer.iterations
        super().__init__(learning_rate=0.0, name=name)  # sets iterations to 0: the inner optimizer's count stays
        inner_optimizer.iterations = inner_iterations
        self.initial_scale = float(initial_scale)
        self.dynamic_growth_steps = int(dynamic_growth_steps)

    @property
    def learning_rate(self):
        return self.inner_optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        self.inner_optimizer.learning_rate = value

    @property
    def iterations(self):
        return self.inner_optimizer.iterations

    @iterations.setter
    def iterations(self, value):
        self.inner_optimizer.iterations = value

    def build_transform(self, weight_paths=None):
        return dynamic_loss_scaling(self.inner_optimizer.build_transform(weight_paths), self.initial_scale,
                                    self.dynamic_growth_steps)

    @property
    def keeps_moving_average(self):
        return self.inner_optimizer.keeps_moving_average

    def moving_average(self, state):
        return self.inner_optimizer.moving_average(state.inner_state)

    def with_moving_average(self, state, average):
        return state._replace(inner_state=self.inner_optimizer.with_moving_average(state.inner_state, average))

    def applied_updates(self, state):
        return int(_learning_rate_holder(state.inner_state).count)

    def iterations_after(self, applied_before, new_state, steps):
        """Only the steps that updated the weights count, as in Keras (a skipped step leaves the inner state)."""
        return int(self.iterations) + self.applied_updates(new_state) - applied_before

    def state_learning_rate(self, state):
        return self.inner_optimizer.state_learning_rate(state.inner_state)

    def with_learning_rate(self, state, learning_rate):
        return state._replace(inner_state=self.inner_optimizer.with_learning_rate(state.inner_state, learning_rate))

    def get_config(self):
        return {
            "name": self.name,
            "inner_optimizer": serialize(self.inner_optimizer),
            "initial_scale": self.initial_scale,
            "dynamic_growth_steps": self.dynamic_growth_steps,
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        inner = deserialize(config.pop("inner_optimizer"), custom_objects)
        return cls(inner, **config)


ALL_OPTIMIZERS = {
    cls.__name__.lower(): cls
    for cls in (SGD, RMSprop, Adagrad, Adam, AdamW, Nadam, Adamax, Adadelta, Lion, Lamb, Ftrl, Adafactor, Muon,
                ScheduleFreeAdamW, LossScaleOptimizer)
}


def serialize(optimizer):
    """The Keras 3 config dict of an optimizer."""
    if not isinstance(optimizer, Optimizer):
        raise TypeError(
            f"serialize() expects a scanfit optimizer, got {type(optimizer).__name__} ({optimizer!r})."
        )
    return to_config_dict(MODULE, type(optimizer).__name__, optimizer.get_config())


def deserialize(config, custom_objects=None):
    """Rebuild an optimizer from a Keras config dict (built-in class names are case-insensitive)."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"An optimizer config must be a dict with a 'class_name' key, got {config!r}.")
    class_name = config["class_name"]
    if isinstance(class_name, str) and class_name.lower() in ALL_OPTIMIZERS:
        class_name = class_name.lower()
    cls = lookup("optimizer", ALL_OPTIMIZERS, class_name, custom_objects)
    return cls.from_config(config.get("config") or {}, custom_objects)


def get(identifier):
    """An optimizer from a name, a config dict, an optimizer, or an optax transform."""
    if identifier is None or isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, optax.GradientTransformation):
        return OptaxOptimizer(identifier)
    if isinstance(identifier, str):
        return deserialize({"class_name": identifier, "config": {}})
    if isinstance(identifier, dict):
        return deserialize(identifier)
    raise TypeError(
        f"Could not interpret optimizer {identifier!r} (a {type(identifier).__name__}): expected a "
        f"name ({', '.join(sorted(ALL_OPTIMIZERS))}), a config dict, an optimizer, or an "
        "optax.GradientTransformation."
    )
