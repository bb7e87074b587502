"""Optax optimizer state <-> Keras 3's flat list of optimizer variables.

Keras 3 saves an optimizer as an ordered list: ``iteration``, ``learning_rate``
(absent when the learning rate follows a schedule), with ``use_ema`` each
weight's ``average``, the slots, then any scalars (Nadam's ``u_product``).
Each optimizer class creates its slots in groups; within a group Keras
interleaves the group's slots weight by weight
(Adam: momentum and velocity of the first weight, then of the second, ...).
scanfit's optax state (see `scanfit.optimizers`) holds the same numbers in
trees keyed like the trainable weights; `KERAS_SLOTS` says where each Keras
slot lives in the ``"update"`` step of that state, and with which sign.
"""
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.tree_util import DictKey, GetAttrKey, SequenceKey

from scanfit import optimizers
from scanfit.engine.programs import split_values


class Slot(NamedTuple):
    """A Keras slot: its name, the chain position and state field holding it, and its sign there; `shape_of`
    gives its shape from the weight's, when it is not the weight's; `kept_for(variable)`, when given, says
    which weights Keras keeps it for (the others have none)."""

    name: str
    index: int
    field: str
    sign: float = 1.0
    shape_of: Any = None
    kept_for: Any = None


def _factor(drop_axis):
    """Adafactor's ``r`` / ``c``: the weight's shape without one of its last two axes (a scalar placeholder for
    a weight of fewer axes, which Keras saves too)."""
    return lambda shape: tuple(np.delete(shape, drop_axis)) if len(shape) >= 2 else ()


def _sgd(o):
    return ([(Slot("momentum", 1, "trace"),)] if o.momentum else []), []


def _rmsprop(o):
    groups = [(Slot("velocity", 0, "nu"),)]
    if o.momentum > 0:
        groups.append((Slot("momentum", 2, "trace", -1.0),))
    if o.centered:
        groups.append((Slot("average_gradient", 0, "mu"),))
    return groups, []


def _adam(o):
    groups = [(Slot("momentum", 0, "momentum"), Slot("velocity", 0, "velocity"))]
    if o.amsgrad:
        groups.append((Slot("velocity_hat", 0, "velocity_hat"),))
    return groups, []


KERAS_SLOTS = {
    optimizers.SGD: _sgd,
    optimizers.RMSprop: _rmsprop,
    optimizers.Adam: _adam,
    optimizers.Adagrad: lambda o: ([(Slot("accumulator", 0, "sum_of_squares"),)], []),
    optimizers.Nadam: lambda o: (
        [(Slot("momentum", 0, "momentum"), Slot("velocity", 0, "velocity"))],
        [Slot("u_product", 0, "u_product")],
    ),
    optimizers.Adamax: lambda o: ([(Slot("momentum", 0, "momentum"), Slot("norm", 0, "norm"))], []),
    optimizers.Adadelta: lambda o: (
        [(Slot("accumulated_grad", 0, "e_g"), Slot("accumulated_delta_var", 0, "e_x"))],
        [],
    ),
    optimizers.Lion: lambda o: ([(Slot("momentum", 0, "momentum"),)], []),
    optimizers.Lamb: lambda o: ([(Slot("momentum", 0, "momentum"), Slot("velocity", 0, "velocity"))], []),
    optimizers.Ftrl: lambda o: ([(Slot("accumulator", 0, "accumulator"), Slot("linear", 0, "linear"))], []),
    optimizers.Adafactor: lambda o: (
        [(Slot("r", 0, "r", shape_of=_factor(-1)), Slot("c", 0, "c", shape_of=_factor(-2)),
          Slot("velocity", 0, "velocity"))],
        [],
    ),
    optimizers.Muon: lambda o: (  # a velocity only for the weights taking the AdamW step
        [(Slot("momentum", 0, "momentum"),
          Slot("velocity", 0, "velocity", kept_for=lambda v: o.uses_adamw(v.path, v.shape)))],
        [],
    ),
    optimizers.ScheduleFreeAdamW: lambda o: (
        [(Slot("momentum", 0, "momentum"), Slot("velocity", 0, "velocity"))], []),
}

_COUNT = GetAttrKey("count")
MAX_ITERATION = np.iinfo(np.int32).max  # optax counts steps in int32
_LEARNING_RATE = (GetAttrKey("hyperparams"), DictKey("learning_rate"))


class Entry(NamedTuple):
    """One Keras optimizer variable: kind is 'iteration', 'learning_rate', 'slot', 'scalar', or 'fixed' (a
    LossScaleOptimizer's own iteration and learning rate, which Keras keeps at 0)."""

    name: str
    kind: str
    shape: tuple
    weight: str = None
    slot: str = None
    path: tuple = None
    sign: float = 1.0


def _slot_layout(optimizer):
    for cls in type(optimizer).__mro__:
        if cls in KERAS_SLOTS:
            return KERAS_SLOTS[cls](optimizer)
    raise TypeError(
        f"scanfit cannot save or load the state of optimizer {getattr(optimizer, 'name', optimizer)!r} "
        f"({type(optimizer).__name__}): only scanfit's built-in optimizer classes map onto Keras's "
        "optimizer variables. Save with include_optimizer=False, or compile with a built-in optimizer."
    )


def _path(slot, layer_index=None, short_name=None, prefix=()):
    path = prefix + (GetAttrKey("inner_state"), DictKey("update"), SequenceKey(slot.index), GetAttrKey(slot.field))
    if layer_index is not None:
        path += (SequenceKey(layer_index), DictKey(short_name))
    return path


def _template(model, mask):
    """A fresh optax state for `model`'s trainable weights (what the first fit would start from)."""
    trainable, _ = split_values(model.weight_values(), mask)
    return model.optimizer.build_transform().init(trainable)


def _inner(optimizer, state):
    """``(optimizer, state, path prefix)`` of the optimizer doing the updates (inside a LossScaleOptimizer) and
    of its `inject_hyperparams` state (inside the moving average of ``use_ema``)."""
    prefix = ()
    if isinstance(optimizer, optimizers.LossScaleOptimizer):
        optimizer, state, prefix = optimizer.inner_optimizer, state.inner_state, (GetAttrKey("inner_state"),)
    if isinstance(state, optimizers.MovingAverageState):
        state, prefix = state.inner_state, prefix + (GetAttrKey("inner_state"),)
    return optimizer, state, prefix


def _layout(model, state, mask):
    """The Keras optimizer variables of `model`, in Keras's order, and where each lives in `state`.

    A LossScaleOptimizer's come first (Keras's order): its own iteration and
    learning rate (always 0), ``step_counter`` and ``dynamic_scale``; then
    the inner optimizer's.
    """
    entries = []
    if isinstance(model.optimizer, optimizers.LossScaleOptimizer):
        prefix = model.optimizer.name
        entries = [
            Entry(f"{prefix}/iteration", "fixed", ()),
            Entry(f"{prefix}/learning_rate", "fixed", ()),
            Entry(f"{prefix}/step_counter", "scalar", (), slot="step_counter", path=(GetAttrKey("step_counter"),)),
            Entry(f"{prefix}/dynamic_scale", "scalar", (), slot="dynamic_scale", path=(GetAttrKey("dynamic_scale"),)),
        ]
    optimizer, state, path_prefix = _inner(model.optimizer, state)
    groups, scalars = _slot_layout(optimizer)
    weights = [(i, v) for i, layer in enumerate(model.weight_layers) for v in layer.own_weights if mask[i][v.short_name]]
    prefix = optimizer.name
    entries.append(Entry(f"{prefix}/iteration", "iteration", ()))
    if "learning_rate" not in state.hyperparams_states:
        entries.append(Entry(f"{prefix}/learning_rate", "learning_rate", ()))
    if optimizer.use_ema:  # Keras's moving average of each weight, ahead of the slots
        average_path = path_prefix[:-1] + (GetAttrKey("average"),)
        entries += [Entry(f"{prefix}/{variable.path.replace('/', '_')}_average", "slot", variable.shape,
                          weight=variable.path, slot="average",
                          path=average_path + (SequenceKey(layer_index), DictKey(variable.short_name)))
                    for layer_index, variable in weights]
    for group in groups:
        for layer_index, variable in weights:
            for slot in group:
                if slot.kept_for is not None and not slot.kept_for(variable):
                    continue
                shape = variable.shape if slot.shape_of is None else slot.shape_of(variable.shape)
                entries.append(Entry(
                    f"{prefix}/{variable.path.replace('/', '_')}_{slot.name}", "slot", shape,
                    weight=variable.path, slot=slot.name,
                    path=_path(slot, layer_index, variable.short_name, path_prefix),
                    sign=slot.sign,
                ))
    for slot in scalars:
        entries.append(Entry(f"{prefix}/{slot.name}", "scalar", (), slot=slot.name, path=_path(slot, prefix=path_prefix),
                             sign=slot.sign))
    return entries


def expected_variables(model, stored_count):
    """The `Entry` list a file holding `stored_count` variables must match to restore `model.optimizer`.

    With `stored_count` None: every variable a trained optimizer has.
    """
    mask = model.trainable_mask()
    return _fitting(_layout(model, _template(model, mask), mask), stored_count)


def _fitting(layout, stored_count):
    """`layout`, or only its iteration and learning rate when that is all the file holds.

    Keras creates the slots at the first training step, so a model saved
    before it holds just those (the slots then start fresh).
    """
    head = [entry for entry in layout if entry.kind in ("fixed", "iteration", "learning_rate")]
    return head if stored_count == len(head) else layout


def _current_state(model):
    """The optax state the next fit starts from: the trainer's, a restored one, or a fresh one."""
    trainer = model.trainer
    if trainer is not None and trainer.opt_state is not None:
        return trainer.opt_state
    restored = getattr(model.optimizer, "restored_state", None)
    if restored is not None:
        return restored
    return _template(model, model.trainable_mask())


def optimizer_variables(model):
    """`model.optimizer`'s state as Keras's variables: a list of ``(name, array)``."""
    state = _current_state(model)
    leaves = dict(jax.tree_util.tree_flatten_with_path(state)[0])
    variables = []
    for entry in _layout(model, state, model.trainable_mask()):
        if entry.kind == "fixed":
            value = np.zeros((), np.int64 if entry.name.endswith("/iteration") else np.float32)
        elif entry.kind == "iteration":
            value = np.asarray(_inner(model.optimizer, state)[1].count, dtype=np.int64)
        elif entry.kind == "learning_rate":
            value = np.asarray(model.optimizer.learning_rate, dtype=np.float32)
        else:
            value = np.asarray(leaves[entry.path])
            if entry.sign != 1.0:
                value = -value
        variables.append((entry.name, value))
    return variables


def restore_optimizer_variables(model, values, source):
    """Make `values` (Keras's optimizer variables, in order) the state `model`'s next fit starts from.

    Sets the optimizer's ``iterations`` and learning rate too. The state goes
    to the live trainer if there is one, else to ``optimizer.restored_state``
    (which the next trainer takes). Raises a ValueError naming `source` if
    the count or a shape does not fit.
    """
    optimizer = model.optimizer
    mask = model.trainable_mask()
    template = _template(model, mask)
    values = [np.asarray(value) for value in values]
    layout = _fitting(_layout(model, template, mask), len(values))
    if len(values) != len(layout):
        raise ValueError(
            f"{source} holds {len(values)} optimizer variables, but {type(optimizer).__name__} "
            f"{optimizer.name!r} for this model has {len(layout)} ({_summary(layout)}). "
            "Was the file saved with another optimizer or another set of trainable weights?"
        )
    for entry, value in zip(layout, values):
        if tuple(value.shape) != tuple(entry.shape):
            raise ValueError(
                f"{source}: optimizer variable {entry.name!r} has shape {tuple(value.shape)}, "
                f"expected {tuple(entry.shape)}."
            )
    by_kind = {entry.kind: value for entry, value in zip(layout, values)}
    iteration = by_kind["iteration"]
    if not (np.isfinite(iteration) and float(iteration).is_integer() and 0 <= iteration <= MAX_ITERATION):
        raise ValueError(
            f"{source}: the optimizer's iteration count {iteration} is not an integer from 0 to {MAX_ITERATION}."
        )
    iteration = int(iteration)
    learning_rate = by_kind.get("learning_rate")
    replacements = {
        entry.path: (-value if entry.sign != 1.0 else value)
        for entry, value in zip(layout, values)
        if entry.path is not None
    }
    learning_rate_path = _inner(optimizer, template)[2] + _LEARNING_RATE
    leaves, treedef = jax.tree_util.tree_flatten_with_path(template)
    new_leaves = []
    for path, leaf in leaves:
        if path in replacements:
            value = replacements[path]
        elif path[-1] == _COUNT:
            value = iteration
        elif path == learning_rate_path and learning_rate is not None:
            value = learning_rate
        else:
            value = leaf
        new_leaves.append(jnp.asarray(value, dtype=leaf.dtype))
    state = jax.tree_util.tree_unflatten(treedef, new_leaves)
    optimizer.iterations = iteration
    if learning_rate is not None:
        optimizer.learning_rate = float(learning_rate)
    if model.trainer is not None:  # already trained since compile: replace the live state
        model.trainer.opt_state = state
    else:
        optimizer.restored_state = state


def _summary(layout):
    slots = sorted({entry.slot for entry in layout if entry.kind == "slot"})
    kinds = [entry.kind for entry in layout if entry.kind in ("iteration", "learning_rate")]
    weights = len({entry.weight for entry in layout if entry.kind == "slot"})
    return f"{' and '.join(kinds)}, then {', '.join(slots) or 'no slots'} for {weights} trainable weights"
