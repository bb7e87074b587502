"""`fit` and `evaluate` for a model with Keras 3's own steps, written with JAX as its JAX backend runs them.

A model whose class overrides ``train_step(self, state, data)``, ``test_step(self, state, data)`` or
``compute_loss`` (Keras 3's "customizing what happens in fit() with JAX", GANs, VAEs) is trained here.
The state is ``(trainable_variables, non_trainable_variables, optimizer_variables, metrics_variables)``,
lists of arrays in the order of ``model.trainable_variables``, ``model.non_trainable_variables``,
``model.optimizer.variables`` and the variables of ``model.metrics`` one metric after the other (evaluation:
the same without the optimizer's); a step returns ``(logs, new state)``. The step is a pure function of
the state's values, so each epoch still runs as one compiled program: a `lax.scan` of the step over the
epoch's batches (a shorter last batch runs in a second program). Callbacks with batch hooks get one program
call per batch; a live progress bar about 50 per epoch.

The logs of an epoch are those the step returned for its last batch (the metrics carry their sums through
the epoch and are reset when it begins, as in Keras); nested dicts (``compile_metrics``'s) are flattened.
The weights, non-trainable values, optimizer and metric variables are written back to their variables at
the end of every epoch, before ``on_epoch_end``.
"""
import math
import sys

import jax
import jax.numpy as jnp
import numpy as np

from scanfit import distribution, optimizers, threefry
from scanfit import seeding as scanfit_random
from scanfit.callbacks.base import TEST_BATCH_HOOKS, TRAIN_BATCH_HOOKS, CallbackList
from scanfit.data_utils import pack_x_y_sample_weight
from scanfit.engine.compiling import is_short_run, jit_long, jit_once, run_length
from scanfit.engine.data import as_batch_size, check_epochs, check_inputs, data_size, training_data
from scanfit.engine.fit_loop import EpochDriver, FitRun, run_epochs
from scanfit.engine.outputs import target_shapes
from scanfit.engine.programs import chunk_plan
from scanfit.engine.progbar import Progbar, is_live, print_epoch_header
from scanfit.engine.training import (
    LIVE_UPDATES_PER_EPOCH, _verbosity, as_results, callback_sequence, optional_steps, require_compiled,
    validation_schedule,
)
from scanfit.layers import execution


def refuse_unsupported(model, what, **given):
    """Refuse, before anything compiles, what the custom-step loop does not do."""
    for name, value in given.items():
        if value is not None and value is not False:
            raise NotImplementedError(
                f"{what} with {name}={value!r} is not supported for model {model.name!r}, whose class defines its "
                "own train_step, test_step or compute_loss; give arrays and leave it out.")
    if distribution.batch_sharding() is not None:
        raise NotImplementedError(f"{what} of a model with its own train_step, test_step or compute_loss does not "
                                  "run under a scanfit.distribution yet.")
    if isinstance(model.optimizer, optimizers.LossScaleOptimizer):
        raise NotImplementedError(
            f"Model {model.name!r} defines its own steps and its optimizer is a LossScaleOptimizer (the "
            "'mixed_float16' policy), whose loss scaling a custom train_step would have to do itself; use "
            "'mixed_bfloat16', or compile with auto_scale_loss=False.")


class StepPrograms:
    """The compiled runs of a model's own step: ``run(state, data, order, key, start)`` applies the step to
    consecutive batches of `order` from sample `start`, and returns ``(state, logs of the last batch)``."""

    def __init__(self, model, training):
        self.model = model
        self.training = training
        self.compiled = {}  # (steps, batch_size, short run) -> jitted run

    def run(self, state, data, order, key, start, steps, batch_size):
        """Compiled, as scanfit's own programs are, for the `compiling.run_length` of the call."""
        signature = (steps, batch_size, is_short_run())
        if signature not in self.compiled:
            jit = jit_once if is_short_run() else jit_long
            self.compiled[signature] = jit(
                lambda state, data, order, key, start: self._run(state, data, order, key, start, steps, batch_size))
        return self.compiled[signature](state, data, order, key, start)

    def _run(self, state, data, order, key, start, steps, batch_size):
        step_function = self.model.train_step if self.training else self.model.test_step

        def one_step(state, index):
            first = start + index * batch_size
            rows = jax.lax.dynamic_slice_in_dim(order, first, batch_size)
            x, y, sample_weight = jax.tree.map(lambda array: jnp.take(array, rows, axis=0), data)
            with execution.step_keys(threefry.fold_in(key, first)):
                logs, new_state = step_function(state, pack_x_y_sample_weight(x, y, sample_weight))
            return as_state(new_state, state, self.training), logs

        state, logs = jax.lax.scan(one_step, state, jnp.arange(steps))
        return state, jax.tree.map(lambda values: values[-1], logs)


def as_state(new_state, old_state, training):
    """A step's returned state as the lists the programs carry, checked against the state it was given."""
    parts = ("trainable_variables", "non_trainable_variables") + (("optimizer_variables",) if training else ()) + (
        "metrics_variables",)
    if not isinstance(new_state, (tuple, list)) or len(new_state) != len(parts):
        raise ValueError(f"A {'train' if training else 'test'}_step must return (logs, state) with state "
                         f"({', '.join(parts)}), got a state of {type(new_state).__name__}"
                         + (f" of length {len(new_state)}." if isinstance(new_state, (tuple, list)) else "."))
    new_state = tuple(list(part) for part in new_state)
    for name, new, old in zip(parts, new_state, old_state):
        if len(new) != len(old):
            raise ValueError(f"The state's {name} came back from the step with {len(new)} values instead of "
                             f"{len(old)}: return one new value for each value given.")
    return tuple([jnp.asarray(value, jnp.result_type(before)) for value, before in zip(new, old)]
                 for new, old in zip(new_state, old_state))


def step_programs(model, training):
    """The model's `StepPrograms` for training or evaluation, kept until it is compiled again."""
    key = "train" if training else "test"
    if key not in model.step_programs:
        model.step_programs[key] = StepPrograms(model, training)
    return model.step_programs[key]


def flat_logs(logs):
    """Logs as floats, nested dicts (``compile_metrics``'s results) flattened, as Keras reports them."""
    flat = {}
    for name, value in logs.items():
        if isinstance(value, dict):
            flat.update(flat_logs(value))
        else:
            value = np.asarray(value)
            flat[name] = float(value) if value.size == 1 else value
    return flat


def metric_values(model):
    """The metrics' starting values (after `reset_state`), one metric after the other."""
    return [value for metric in model.metrics for value in metric.stateless_reset_state()]


def write_back(variables, values):
    """Store `values` in `variables`, in order."""
    for variable, value in zip(variables, values):
        variable.assign(value)


def prepare(model, x, y):
    """Build what the state holds before the first step: the model, ``compile_metrics`` and the optimizer."""
    model.ensure_built(jax.tree.map(lambda a: tuple(a.shape), x))
    if model.compile_metrics is not None and y is not None:
        model.compile_metrics.build_for(target_shapes(model, y))
    optimizer = model.optimizer
    if not optimizer.variables or [id(v) for v in optimizer.built_for] != [id(v) for v in model.trainable_variables]:
        optimizer.build(model.trainable_variables)


def device_arrays(x, y, sample_weight):
    """The data on the device: floats as float32, other types as they are; None stays None."""
    put = lambda a: jax.device_put(np.asarray(a, np.float32) if np.asarray(a).dtype.kind == "f" else np.asarray(a))
    return jax.tree.map(put, (x, y, sample_weight))


def run_batches(programs, state, data, num_samples, batch_size, order, key, steps_per_chunk=None,
                before=None, after=None):
    """Run the step over every batch of `data` in `order` (the last one shorter when it does not divide);
    `before(step)` / `after(steps_done, logs)` around each chunk of `steps_per_chunk` steps. Returns
    ``(state, logs of the last batch)``."""
    logs = {}
    for start, segments in chunk_plan(num_samples, batch_size, steps_per_chunk or math.ceil(num_samples / batch_size)):
        for count, size in segments:
            if before is not None:
                before(start // batch_size)
            state, logs = programs.run(state, data, order, key, jnp.asarray(start, jnp.int32), count, size)
            if after is not None:
                after(start // batch_size + count, logs)
    return state, logs


def fit(model, x, y, *, batch_size, epochs, verbose, callbacks, validation_split, validation_data, shuffle,
        class_weight, sample_weight, initial_epoch, validation_batch_size, validation_freq, steps_per_epoch,
        validation_steps, allow_nonfinite):
    """Keras's `fit` for a model with its own steps: arrays in, a `History` out."""
    require_compiled(model)
    refuse_unsupported(model, "fit", steps_per_epoch=steps_per_epoch, validation_steps=validation_steps)
    verbose = _verbosity(verbose)
    batch_size = as_batch_size(batch_size)
    val_batch_size = batch_size if validation_batch_size is None else as_batch_size(
        validation_batch_size, name="validation_batch_size")
    check_epochs(epochs, initial_epoch)
    should_validate = validation_schedule(validation_freq)
    callbacks = callback_sequence(callbacks)
    if any(type(c).__name__ == "BackupAndRestore" for c in callbacks):
        raise NotImplementedError("BackupAndRestore cannot resume a model with its own train_step yet: drop it.")
    if not isinstance(shuffle, (bool, np.bool_)):
        raise ValueError(f"shuffle must be True or False, got {shuffle!r}.")
    weighted = sample_weight is not None or class_weight is not None
    x, y, weights, validation = training_data(model, x, y, sample_weight, class_weight, validation_split,
                                              validation_data, allow_nonfinite)
    prepare(model, x, y)
    data = device_arrays(x, y, weights if weighted else None)
    val_data = None
    if validation is not None:
        val_x, val_y, val_weights = validation
        given_weights = validation_data is not None and len(validation_data) == 3
        val_data = (device_arrays(val_x, val_y, val_weights if given_weights or (weighted and validation_split)
                                  else None), data_size(val_x))
    num_samples = data_size(x)
    steps = math.ceil(num_samples / batch_size)
    run = FitRun(model, callbacks, {"verbose": verbose, "epochs": epochs, "steps": steps})
    driver = CustomStepEpochs(run, model, data, num_samples, batch_size, shuffle, verbose, epochs, steps,
                              val_data, val_batch_size)
    with run_length(num_samples * max(epochs - initial_epoch, 1)):
        return run_epochs([run], driver, initial_epoch, epochs, should_validate)[0]


class CustomStepEpochs(EpochDriver):
    """The epochs of a model with its own steps, for `fit_loop.run_epochs`."""

    def __init__(self, run, model, data, num_samples, batch_size, shuffle, verbose, epochs, steps, val_data,
                 val_batch_size):
        self.run, self.model, self.data = run, model, data
        self.num_samples, self.batch_size, self.shuffle = num_samples, batch_size, shuffle
        self.verbose, self.epochs, self.steps = verbose, epochs, steps
        self.val_data, self.val_batch_size = val_data, val_batch_size
        self.programs = step_programs(model, training=True)
        self.stream = sys.stdout
        self.live = verbose == 1 and is_live(self.stream)
        self.batch_hooks = run.callbacks.wants(TRAIN_BATCH_HOOKS)
        self.steps_per_chunk = 1 if self.batch_hooks else (
            max(1, math.ceil(steps / LIVE_UPDATES_PER_EPOCH)) if self.live else None)
        self.base_key = scanfit_random.next_key()
        self.bar = None

    def train(self, epoch, runs):
        model, callbacks = self.model, self.run.callbacks
        optimizer = model.optimizer
        if self.verbose:
            print_epoch_header(epoch, self.epochs, self.stream)
        self.bar = bar = Progbar(self.steps, verbose=self.verbose, stream=self.stream, live=self.live)
        optimizer_state = jax.tree.unflatten(optimizer.state_structure, [v.value for v in optimizer.variables])
        optimizer_state = optimizer.with_learning_rate(optimizer_state, optimizer.learning_rate)
        state = ([v.value for v in model.trainable_variables], [v.value for v in model.non_trainable_variables],
                 jax.tree.leaves(optimizer_state), metric_values(model))
        order = np.arange(self.num_samples, dtype=np.int32)
        epoch_key = scanfit_random.fold_in(self.base_key, epoch)
        if self.shuffle:
            order = np.random.default_rng(np.asarray(epoch_key)).permutation(self.num_samples).astype(np.int32)

        def before(step):
            if self.batch_hooks:
                callbacks.on_train_batch_begin(step)

        def after(steps_done, logs):
            logs = flat_logs(logs)
            if self.batch_hooks:
                callbacks.on_train_batch_end(steps_done - 1, dict(logs))
            bar.update(steps_done, list(logs.items()), finalize=False)

        state, logs = run_batches(self.programs, state, self.data, self.num_samples, self.batch_size,
                                  jax.device_put(order), epoch_key, self.steps_per_chunk, before, after)
        trainable, fixed, optimizer_values, metrics_values = state
        write_back(model.trainable_variables, trainable)
        write_back(model.non_trainable_variables, fixed)
        write_back(optimizer.variables, optimizer_values)
        write_back([v for metric in model.metrics for v in metric.variables], metrics_values)
        optimizer.iterations += self.steps
        self.run.logs = flat_logs(logs)
        return True

    def validate(self, epoch, runs):
        if self.val_data is not None:
            (data, num_samples) = self.val_data
            logs = evaluate_arrays(self.model, data, num_samples, self.val_batch_size, self.run.callbacks)
            self.run.logs.update({"val_" + name: value for name, value in logs.items()})

    def report(self, epoch, runs):
        self.bar.update(self.steps, list(self.run.logs.items()), finalize=True)


def evaluate_arrays(model, data, num_samples, batch_size, callback_list):
    """The logs of the test step over `data` (device arrays), with Keras's test hooks; the metrics' variables
    hold their final values afterwards."""
    callback_list.on_test_begin()
    wants_hooks = callback_list.wants(TEST_BATCH_HOOKS)
    state = ([v.value for v in model.trainable_variables], [v.value for v in model.non_trainable_variables],
             metric_values(model))
    programs = step_programs(model, training=False)
    state, logs = run_batches(
        programs, state, data, num_samples, batch_size, jax.device_put(np.arange(num_samples, dtype=np.int32)),
        scanfit_random.next_key(), 1 if wants_hooks else None,
        callback_list.on_test_batch_begin if wants_hooks else None,
        (lambda steps_done, logs: callback_list.on_test_batch_end(steps_done - 1, flat_logs(logs)))
        if wants_hooks else None)
    write_back([v for metric in model.metrics for v in metric.variables], state[2])
    logs = flat_logs(logs)
    callback_list.on_test_end(logs)
    return logs


def evaluate(model, x, y, *, batch_size, verbose, sample_weight, callbacks, return_dict, allow_nonfinite, steps):
    """Keras's `evaluate` for a model with its own steps."""
    require_compiled(model)
    refuse_unsupported(model, "evaluate", steps=optional_steps(steps, "steps"))
    verbose = _verbosity(verbose)
    batch_size = as_batch_size(batch_size)
    x, y = check_inputs(model, x, y, allow_nonfinite)
    prepare(model, x, y)
    num_samples = data_size(x)
    weights = None
    if sample_weight is not None:
        weights = training_data(model, x, y, sample_weight, None, 0.0, None, allow_nonfinite)[2]
    callback_list = CallbackList(callback_sequence(callbacks), model,
                                 {"verbose": verbose, "epochs": 1, "steps": math.ceil(num_samples / batch_size)})
    with run_length(num_samples):
        logs = evaluate_arrays(model, device_arrays(x, y, weights), num_samples, batch_size, callback_list)
    Progbar(math.ceil(num_samples / batch_size), verbose=verbose, live=False).update(
        math.ceil(num_samples / batch_size), list(logs.items()), finalize=True)
    return as_results(logs, return_dict)
