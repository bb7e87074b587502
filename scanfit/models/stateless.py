"""Keras 3's stateless API for models, as its JAX backend has it: the pieces of a custom ``train_step``.

`Model.stateless_call` runs the forward pass on values given as lists (in the order of
``model.trainable_variables`` and ``model.non_trainable_variables``) and returns the new non-trainable
values (BatchNormalization's moving statistics) instead of storing them; `Model.compute_loss` is the loss
``compile()`` was given, plus the weight penalties and ``add_loss`` terms of the last stateless call;
`Model.metrics` the loss tracker, ``compile()``'s metrics as one ``compile_metrics`` metric, and the metrics
the model holds as attributes. `default_train_step` and `default_test_step` are Keras's own steps written
with them: a model that overrides only ``compute_loss`` (or only one of the steps) gets them for the rest.
"""
import inspect

import jax
import jax.numpy as jnp

from scanfit import mixed_precision
from scanfit import seeding as scanfit_random
from scanfit.data_utils import unpack_x_y_sample_weight
from scanfit.engine.outputs import CompiledOutputs, flat_outputs, target_shapes
from scanfit.engine.programs import float_inputs, pick, reduce_loss, step_mask
from scanfit.layers import execution
from scanfit.variables import Variable


def values_of(given, variables, what, model):
    """`given` (arrays or Variables, one per variable of `variables`) as a list of arrays, checked."""
    given = list(given)
    if len(given) != len(variables):
        raise ValueError(f"Model {model.name!r} has {len(variables)} {what}, but {len(given)} values were given: "
                         f"pass one value per variable, in the order of model.{what}.")
    arrays = []
    for variable, value in zip(variables, given):
        value = value.value if isinstance(value, Variable) else value
        if tuple(jnp.shape(value)) != variable.shape:
            raise ValueError(f"The value given for {variable.path} has shape {tuple(jnp.shape(value))}, but the "
                             f"variable has shape {variable.shape} ({what} are taken in the model's order).")
        arrays.append(value)
    return arrays


def forward_key(model, training, arrays):
    """The random key of a stateless forward pass: one from the running step of `fit` (a custom train_step),
    a fresh one for an eager call, and, inside a function the user compiles, a `MissingKey` that only a
    layer drawing random numbers (Dropout, noise, augmentation) trips over."""
    if not (training or model.draws_at_inference()):
        return None
    key = execution.next_step_key()
    if key is not None:
        return key
    if any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree.leaves(arrays)):
        return execution.MissingKey(
            f"Model {model.name!r} draws random numbers (Dropout, noise or augmentation layers) in a "
            "stateless_call(training=True) inside a function compiled outside fit, where scanfit has no random "
            "key to give it (Keras keeps one in a seed variable; scanfit does not). Run the step through "
            "model.fit() with a train_step override, which gives every step a key of its own, or call "
            "stateless_call eagerly.")
    return scanfit_random.next_key()


def stateless_call(model, trainable_variables, non_trainable_variables, args, kwargs):
    """``(outputs, new non-trainable values, losses)`` of `Model.stateless_call`; `losses` are the penalties
    of the trainable weights (as Keras 3 counts them), then the activity penalties and add_loss terms of the
    call, as scalars."""
    if len(args) != 1:
        raise TypeError(f"stateless_call takes the model's inputs as one argument after the variables (a list or "
                        f"dict for several inputs), got {len(args)} arguments.")
    training = kwargs.pop("training", None)
    if kwargs:
        raise TypeError(f"stateless_call of model {model.name!r} got unexpected argument(s) {sorted(kwargs)}; "
                        "it takes the inputs and training=.")
    if any(layer.state_variables for layer in model.weight_layers):
        raise NotImplementedError(f"Model {model.name!r} has stateful recurrent layers, whose states "
                                  "stateless_call does not carry; use stateful=False, or fit without a "
                                  "train_step override.")
    x = float_inputs(jax.tree.map(jnp.asarray, args[0]))  # as the engine's programs give a model its batches
    model.ensure_built(jax.tree.map(lambda a: tuple(a.shape), x))
    trainable, fixed = model.trainable_variables, model.non_trainable_variables
    trainable_values = values_of(trainable_variables, trainable, "trainable_variables", model)
    fixed_values = values_of(non_trainable_variables, fixed, "non_trainable_variables", model)
    by_id = {id(v): value for v, value in zip(trainable + fixed, trainable_values + fixed_values)}
    layers = model.weight_layers
    values = [{v.short_name: by_id[id(v)] for v in layer.own_weights} for layer in layers]
    flat = x
    if model.is_functional:
        parts = model.flatten_inputs(x)
        flat = parts[0] if len(parts) == 1 else tuple(parts)
    rng = forward_key(model, training, (x, trainable_values))
    try:
        y, masks, running = model.run_pass(values, flat, training=training, rng=rng)
    except ValueError as error:  # JAX refuses the stand-in key before its own __jax_array__ can say why
        if isinstance(rng, execution.MissingKey) and "__jax_array__" in str(error):
            raise ValueError(rng.message) from None
        raise
    new_fixed = [running.updates.get(id(v.layer), {}).get(v.short_name, value) for v, value in zip(fixed, fixed_values)]
    losses = [v.regularizer(by_id[id(v)]) for v in trainable if v.regularizer is not None]
    carried = {id(array): (array, mask) for array, mask in zip(y if isinstance(y, tuple) else (y,), masks)
               if mask is not None}
    return (model.structure_outputs(y), new_fixed, losses + ([running.extra_loss] if running.loss_count else []),
            carried)


def compiled_loss(model, y, y_pred, sample_weight):
    """``(the loss compile() was given, each output's loss before its weight)`` on one batch (``(None, [])``
    when it was given none)."""
    if y is None or not jax.tree.leaves(model.compile_settings.loss):
        return None, []
    outputs = CompiledOutputs(model, target_shapes(model, y), with_metrics=False)
    y, y_pred = flat_outputs(model, y), flat_outputs(model, y_pred)
    masks = [model.output_mask(pick(y_pred, output)) for output, _, _, _, _ in outputs.losses]
    y_pred = mixed_precision.to_float32(y_pred)
    batch = jax.tree.leaves(y)[0].shape[0]
    w = jnp.ones((batch,), jnp.float32) if sample_weight is None else jnp.asarray(sample_weight, jnp.float32)
    total, each = jnp.zeros((), jnp.float32), []
    for (output, _, loss, weight, _), mask in zip(outputs.losses, masks):
        per_sample = jnp.asarray(loss.per_sample(pick(y, output), pick(y_pred, output)), jnp.float32)
        per_sample = jnp.broadcast_to(per_sample, (batch, 1)) if per_sample.ndim == 0 else per_sample
        per_sample = per_sample.reshape(batch, -1)
        mask = step_mask([mask], None, per_sample)  # the output's Keras mask, as Keras's loss takes it
        each.append(reduce_loss(per_sample, w.reshape(batch) if w.size == batch else w, mask, loss.reduction))
        total = total + weight * each[-1]
    return total, each


def model_loss(model, x, y, y_pred, sample_weight, training):
    """`Model.compute_loss`, also an override written before Keras 3.3 gave it `training` (as Keras calls it)."""
    if "training" in inspect.signature(model.compute_loss).parameters:
        return model.compute_loss(x, y, y_pred, sample_weight, training=training)
    return model.compute_loss(x, y, y_pred, sample_weight)


def loss_in_pass(model, trainable_variables, non_trainable_variables, metrics_variables, x, y, y_pred,
                 sample_weight, training):
    """`model_loss` as Keras's JAX trainer runs it: the layers a `compute_loss` override calls (Deep Learning with
    Python's VAE runs its decoder and sampler there) compute with the given values of the model's variables, and
    the metrics it updates (its loss trackers) update their values in `metrics_variables` (in the order of
    ``model.metrics``' variables). Returns ``(loss, (trainable_variables, new non-trainable values, new metrics
    values))``, as Keras's ``stateless_compute_loss``."""
    trainable, fixed = model.trainable_variables, model.non_trainable_variables
    trainable_values = values_of(trainable_variables, trainable, "trainable_variables", model)
    fixed_values = values_of(non_trainable_variables, fixed, "non_trainable_variables", model)
    metric_variables = [v for metric in model.metrics for v in metric.variables]
    metrics_values = values_of(metrics_variables, metric_variables, "metrics_variables", model)
    by_id = {id(v): value for v, value in zip(trainable + fixed, trainable_values + fixed_values)}
    layers = model.weight_layers
    running = execution.Execution({id(layer): {v.short_name: by_id[id(v)] for v in layer.own_weights}
                                   for layer in layers}, training, forward_key(model, training, (x, trainable_values)))
    with execution.executing(running), \
            execution.binding({id(v): value for v, value in zip(metric_variables, metrics_values)}) as bound:
        loss = model_loss(model, x, y, y_pred, sample_weight, training)
    new_fixed = [running.updates.get(id(v.layer), {}).get(v.short_name, value) for v, value in zip(fixed, fixed_values)]
    return loss, (trainable_values, new_fixed, [bound[id(v)] for v in metric_variables])


def update_metrics(model, metrics_variables, loss, output_losses, x, y, y_pred, sample_weight):
    """``(new metrics_variables, logs)``: the loss tracker takes `loss` and each output's loss tracker that
    output's loss (`output_losses`, from `Model.compute_loss`), weighted by the batch size, and ``compile_metrics``
    ``(y, y_pred, sample_weight)``, as Keras's default steps do; the logs hold the results of every metric of
    `model.metrics` (the model's own ones unchanged)."""
    new, logs, start = [], {}, 0
    batch = jax.tree.leaves(x)[0].shape[0]
    for metric in model.metrics:
        count = len(metric.variables)
        state = metrics_variables[start:start + count]
        start += count
        if metric is model.compiled_loss_tracker:
            state = metric.stateless_update_state(state, loss, sample_weight=batch)
        elif any(metric is tracker for tracker in model.output_loss_trackers):
            index = [id(t) for t in model.output_loss_trackers].index(id(metric))
            if index < len(output_losses):  # (a compute_loss of the user's own may not compute them)
                state = metric.stateless_update_state(state, output_losses[index], sample_weight=batch)
        elif metric is model.compile_metrics and y is not None:
            state = metric.stateless_update_state(state, y, y_pred, sample_weight=sample_weight)
        result = metric.stateless_result(state)
        logs.update(result if isinstance(result, dict) else {metric.name: result})
        new += state
    return new, logs


def call_in_step(model, trainable, fixed, metrics_variables, x, training):
    """`Model.stateless_call` in a step: a layer's call() that updates a metric of ``model.metrics`` (Keras's
    endpoint-layer pattern) updates its values in `metrics_variables` (in the order of the metrics' variables).
    Returns ``(y_pred, new non-trainable values, new metrics values)``."""
    variables = [v for metric in model.metrics for v in metric.variables]
    with execution.binding({id(v): value for v, value in zip(variables, metrics_variables)}) as bound:
        y_pred, new_fixed = model.stateless_call(trainable, fixed, x, training=training)
    return y_pred, new_fixed, [bound[id(v)] for v in variables]


def default_train_step(model, state, data):
    """Keras's training step: the loss from `Model.compute_loss`, its gradient, the optimizer's update,
    and the metrics. Returns ``(logs, state)``."""
    trainable, fixed, optimizer_variables, metrics_variables = state
    x, y, sample_weight = unpack_x_y_sample_weight(data)

    def loss_and_updates(trainable):
        y_pred, new_fixed, new_metrics = call_in_step(model, trainable, fixed, metrics_variables, x, training=True)
        loss, (_, new_fixed, new_metrics) = loss_in_pass(model, trainable, new_fixed, new_metrics, x, y, y_pred,
                                                         sample_weight, training=True)
        return loss, (y_pred, new_fixed, new_metrics, model.output_losses)

    (loss, (y_pred, fixed, metrics_variables, output_losses)), grads = jax.value_and_grad(
        loss_and_updates, has_aux=True)(trainable)
    trainable, optimizer_variables = model.optimizer.stateless_apply(optimizer_variables, grads, trainable)
    metrics_variables, logs = update_metrics(model, metrics_variables, loss, output_losses, x, y, y_pred,
                                             sample_weight)
    return logs, (trainable, fixed, optimizer_variables, metrics_variables)


def default_test_step(model, state, data):
    """Keras's evaluation step: the loss and the metrics of one batch. Returns ``(logs, state)``."""
    trainable, fixed, metrics_variables = state
    x, y, sample_weight = unpack_x_y_sample_weight(data)
    y_pred, fixed, metrics_variables = call_in_step(model, trainable, fixed, metrics_variables, x, training=False)
    loss, (_, fixed, metrics_variables) = loss_in_pass(model, trainable, fixed, metrics_variables, x, y, y_pred,
                                                       sample_weight, training=False)
    metrics_variables, logs = update_metrics(model, metrics_variables, loss, model.output_losses, x, y, y_pred,
                                             sample_weight)
    return logs, (trainable, fixed, metrics_variables)
