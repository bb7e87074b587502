"""The optimizer's moving average of the weights (``use_ema=True``) moved into and out of a model's weights.

The average lives in the optimizer state that the model's trainer keeps (or, after loading a file and before the
next fit, in ``optimizer.restored_state``), as a dict of the trainable weights' values per weight layer. `fit`
ends with `finalize` (Keras's ``optimizer.finalize_variable_values``); ``keras.callbacks.SwapEMAWeights`` uses
`swap` and `copy_weights_to_average`.
"""


def _state(model):
    """The optimizer state holding the average, or None when there is none yet."""
    trainer = model.trainer
    if trainer is not None and trainer.opt_state is not None:
        return trainer.opt_state
    return getattr(model.optimizer, "restored_state", None)


def _set_state(model, state):
    trainer = model.trainer
    if trainer is not None and trainer.opt_state is not None:
        trainer.opt_state = state
    else:
        model.optimizer.restored_state = state


def _trainable_values(model, average):
    """The model's current values of the weights `average` holds (a dict per weight layer)."""
    return [{variable.short_name: variable.value for variable in layer.own_weights if variable.short_name in values}
            for layer, values in zip(model.weight_layers, average)]


def _set_weights(model, average):
    for layer, values in zip(model.weight_layers, average):
        for variable in layer.own_weights:
            if variable.short_name in values:
                variable.value = values[variable.short_name]


def finalize(model):
    """Set the model's trainable weights to the optimizer's moving average, as Keras's `fit` ends (before the
    callbacks' ``on_train_end``); nothing without ``use_ema`` or before the first training step."""
    state = _state(model) if getattr(model.optimizer, "keeps_moving_average", False) else None
    if state is not None:
        _set_weights(model, model.optimizer.moving_average(state))


def _average_state(model, who):
    """The state holding the moving average, or a ValueError naming `who` when the optimizer keeps none."""
    check_moving_average(model, who)
    state = _state(model)
    if state is None:
        raise ValueError(f"{who}: the optimizer of model {model.name!r} has no moving average of the weights yet; "
                         "train the model (fit) or load a trained one first.")
    return state


def check_moving_average(model, who):
    """Raise a ValueError naming `who` unless `model`'s optimizer keeps a moving average of the weights."""
    optimizer = model.optimizer
    if not getattr(optimizer, "keeps_moving_average", False):
        raise ValueError(f"{who} needs an optimizer with use_ema=True (a moving average of the weights), but model "
                         f"{model.name!r} has {type(optimizer).__name__} {getattr(optimizer, 'name', '')!r}, which "
                         "keeps none. Compile with e.g. keras.optimizers.Adam(use_ema=True).")


def swap(model, who):
    """Exchange the model's trainable weights and the optimizer's moving average (SwapEMAWeights)."""
    state = _average_state(model, who)
    average = model.optimizer.moving_average(state)
    _set_state(model, model.optimizer.with_moving_average(state, _trainable_values(model, average)))
    _set_weights(model, average)


def copy_weights_to_average(model, who):
    """Set the optimizer's moving average to the model's trainable weights."""
    state = _average_state(model, who)
    weights = _trainable_values(model, model.optimizer.moving_average(state))
    _set_state(model, model.optimizer.with_moving_average(state, weights))
