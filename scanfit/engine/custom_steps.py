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
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from scanfit import distribution, optimizers, threefry
from scanfit import seeding as scanfit_random
from scanfit.callbacks.base import TEST_BATCH_HOOKS, TRAIN_BATCH_HOOKS, CallbackList
from scanfit.data_utils import pack_x_y_sample_weight
from scanfit.engine.compiling import jit_long, jit_once, run_length, uses_older_emitters
from scanfit.engine.batches import BatchSource, groups, is_batch_source, unpack_batch
from scanfit.engine.data import (
    as_batch_size, check_epochs, check_inputs, data_size, training_data, unpack_validation_data,
)
from scanfit.engine.fit_loop import EpochDriver, FitRun, run_epochs
from scanfit.engine.outputs import target_shapes
from scanfit.engine.programs import chunk_plan, split_values
from scanfit.engine.progbar import Progbar, is_live, print_epoch_header
from scanfit.engine.training import (
    LIVE_UPDATES_PER_EPOCH, UNKNOWN_STEPS, EpochKeys, _verbosity, as_results, callback_sequence, device_data,
    in_metrics_order, optional_steps, refuse_with_source, require_compiled, validation_schedule,
)
from scanfit.interactive_logging import console
from scanfit.layers import execution
from scanfit.utils.py_dataset import PyDataset


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
    """The compiled runs of a model's own step: ``run(state, data, order, key, start, epoch_offset, steps,
    batch_size)`` applies the step to `steps` consecutive batches of `order` from its place `start`, and returns
    ``(state, logs of the last batch)``; a batch's keys come from `key` and its first sample's place in the
    epoch (`epoch_offset` for the first batch)."""

    def __init__(self, model, training):
        self.model = model
        self.training = training
        self.compiled = {}  # (steps, batch_size, older emitters) -> jitted run

    def run(self, state, data, order, key, start, epoch_offset, steps, batch_size):
        """Compiled, as scanfit's own programs are, for the `compiling.run_length` of the call."""
        signature = (steps, batch_size, uses_older_emitters())
        if signature not in self.compiled:
            jit = jit_once if uses_older_emitters() else jit_long
            self.compiled[signature] = jit(
                lambda state, data, order, key, start, epoch_offset: self._run(
                    state, data, order, key, start, epoch_offset, steps, batch_size))
        return self.compiled[signature](state, data, order, key, start, epoch_offset)

    def _run(self, state, data, order, key, start, epoch_offset, steps, batch_size):
        step_function = self.model.train_step if self.training else self.model.test_step

        def one_step(state, index):
            first = start + index * batch_size
            rows = jax.lax.dynamic_slice_in_dim(order, first, batch_size)
            x, y, sample_weight = jax.tree.map(lambda array: jnp.take(array, rows, axis=0), data)
            with execution.step_keys(threefry.fold_in(key, epoch_offset + index * batch_size)):
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


class StepTrainer(EpochKeys):
    """``model.trainer`` of a model with its own steps, as callbacks and saving read it: the optimizer state (kept
    in ``model.optimizer.variables``, seen here in the layout of fit's own trainer), the epochs' keys (as fit's
    own trainer draws them), and compile()'s resolved metrics. `BackupAndRestore` saves and restores it after
    each epoch."""

    record_epoch_start = False  # TerminateOnNaN asks for the epoch's first state, which these epochs do not keep
    epoch_start = None
    resume = None  # a backup resumes at the start of an epoch (save_freq="epoch")

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.resumed_epoch = None  # set by BackupAndRestore

    @property
    def metrics(self):
        """compile()'s metrics, once resolved (EarlyStopping's ``mode='auto'`` reads their direction)."""
        compiled = self.model.compile_metrics
        return [] if compiled is None or compiled.outputs is None else [m for _, m, _ in compiled.outputs.metrics]

    @property
    def metric_names(self):
        """Keras 3's ``model.metrics_names``: the names of ``model.metrics``."""
        return [metric.name for metric in self.model.metrics]

    def optimizer_state(self):
        """The optimizer's state as fit's own trainer would hold it for this model (the same leaves)."""
        model = self.model
        trainable, _ = split_values(model.weight_values(), model.trainable_mask())
        structure = jax.tree.structure(jax.eval_shape(model.optimizer.build_transform().init, trainable))
        return jax.tree.unflatten(structure, [v.value for v in model.optimizer.variables])

    @property
    def opt_state(self):
        return self.optimizer_state()

    @opt_state.setter
    def opt_state(self, state):
        write_back(self.model.optimizer.variables, jax.tree.leaves(state))


def trainer_of(model):
    """The model's `StepTrainer`, made at its first fit since it was compiled."""
    if not isinstance(model.trainer, StepTrainer):
        model.trainer = StepTrainer(model)
    return model.trainer


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
    """Build what the state holds before the first step: the model, ``compile_metrics``, the outputs' loss
    trackers and the optimizer."""
    model.ensure_built(jax.tree.map(lambda a: tuple(a.shape), x))
    if y is not None:
        model.track_output_losses(target_shapes(model, y))
        if model.compile_metrics is not None:
            model.compile_metrics.build_for(target_shapes(model, y))
    optimizer = model.optimizer
    if not optimizer.variables or [id(v) for v in optimizer.built_for] != [id(v) for v in model.trainable_variables]:
        optimizer.build(model.trainable_variables)
    restored, optimizer.restored_state = getattr(optimizer, "restored_state", None), None
    if restored is not None:  # a state read from a saved model, in the layout of fit's own trainer
        write_back(optimizer.variables, jax.tree.leaves(restored))


class ArrayBatches:
    """Arrays on the device, cut into batches of `batch_size` (the last one shorter when it does not divide)."""

    def __init__(self, x, y, sample_weight, batch_size):
        self.data = device_data(x, y, sample_weight)  # checked arrays: floats are float32 already
        self.num_samples, self.batch_size = data_size(x), batch_size
        self.steps = math.ceil(self.num_samples / batch_size)

    def chunks(self, epoch_key, shuffle, steps_per_chunk):
        """``(data, order, start, segments)`` for each chunk of `steps_per_chunk` steps (all of them when None),
        in an order shuffled by `epoch_key` when `shuffle`."""
        order = np.arange(self.num_samples, dtype=np.int32)
        if shuffle:
            order = np.random.default_rng(np.asarray(epoch_key)).permutation(self.num_samples).astype(np.int32)
        order = jax.device_put(order)
        for start, segments in chunk_plan(self.num_samples, self.batch_size, steps_per_chunk or self.steps):
            yield self.data, order, start, segments


class SourceBatches:
    """The batches of a generator, an iterable of batches or a PyDataset, read a group at a time (see
    `batches.groups`); each batch handed to the step as the source gave it: x, (x, y) or (x, y, sample_weight)."""

    def __init__(self, model, source, allow_nonfinite):
        self.model, self.source, self.allow_nonfinite = model, source, allow_nonfinite
        self.steps = source.batches_per_pass()

    def convert(self, index, batch):
        given_weights = unpack_batch(batch)[2]
        x, y, weights = self.source.convert(self.model, index, batch, False, None, self.allow_nonfinite)
        if y is None:
            if given_weights is not None:
                raise ValueError(f"{self.source.what}: batch {index} has sample weights but no targets.")
            return (x,)
        return (x, y) if given_weights is None else (x, y, weights)

    def first_arrays(self):
        """``(x, y)`` of the first batch, to build the model from."""
        return (self.convert(0, self.source.first_batch()) + (None,))[:2]

    def chunks(self, epoch_key, shuffle, steps_per_chunk):
        """As `ArrayBatches.chunks`, one chunk per group of batches read (a PyDataset's in an order drawn from
        `epoch_key` when `shuffle`, as Keras reorders them)."""
        self.source.on_epoch_begin()
        if shuffle:
            self.source.shuffle_by(scanfit_random.fold_in(epoch_key, 2))
        for data, segments, _ in groups(self.source, None, self.convert, steps_per_chunk):
            samples = sum(count * size for count, size in segments)
            yield tuple(data) + (None,) * (3 - len(data)), jax.device_put(np.arange(samples, dtype=np.int32)), 0, \
                segments
        self.source.on_epoch_end()


def run_chunks(programs, state, chunks, key, before=None, after=None):
    """Run the step over the batches of `chunks` (from a `chunks` method); `before(step)` / `after(steps_done,
    logs)` around each program call. A batch's keys come from `key` and its first sample's place in the epoch.
    Returns ``(state, logs of the last batch, steps run)``."""
    logs, steps_done, samples_done = {}, 0, 0
    for data, order, start, segments in chunks:
        for count, size in segments:
            if before is not None:
                before(steps_done)
            state, logs = programs.run(state, data, order, key, np.int32(start), np.int32(samples_done), count, size)
            steps_done, start, samples_done = steps_done + count, start + count * size, samples_done + count * size
            if after is not None:
                after(steps_done, logs)
    return state, logs, steps_done


def fit(model, x, y, *, batch_size, epochs, verbose, callbacks, validation_split, validation_data, shuffle,
        class_weight, sample_weight, initial_epoch, validation_batch_size, validation_freq, steps_per_epoch,
        validation_steps, allow_nonfinite, finalize_weights=True):
    """Keras's `fit` for a model with its own steps: arrays or a batch source in, a `History` out
    (`finalize_weights`: see `fit_loop.run_epochs`)."""
    require_compiled(model)
    refuse_unsupported(model, "fit", steps_per_epoch=steps_per_epoch, validation_steps=validation_steps)
    verbose = _verbosity(verbose)
    batch_size_given, batch_size = batch_size, as_batch_size(batch_size)
    val_batch_size = batch_size if validation_batch_size is None else as_batch_size(
        validation_batch_size, name="validation_batch_size")
    check_epochs(epochs, initial_epoch)
    should_validate = validation_schedule(validation_freq)
    callbacks = callback_sequence(callbacks)
    backups = [c for c in callbacks if type(c).__name__ == "BackupAndRestore"]
    if any(backup.save_freq != "epoch" for backup in backups):
        raise NotImplementedError("BackupAndRestore resumes a model with its own train_step from the start of an "
                                  "epoch: give it save_freq='epoch'.")
    if backups and is_batch_source(x) and not isinstance(x, PyDataset):
        raise ValueError("BackupAndRestore cannot resume a fit whose x is a generator or an iterable (they cannot "
                         "go back to a batch): give a keras.utils.PyDataset or arrays, or drop BackupAndRestore.")
    if not isinstance(shuffle, (bool, np.bool_)):
        raise ValueError(f"shuffle must be True or False, got {shuffle!r}.")
    if validation_split and validation_data is not None:
        raise ValueError("Give either validation_data or validation_split, not both.")
    validation = None
    if is_batch_source(x):
        refuse_with_source("fit", batch_size=batch_size_given, y=y, sample_weight=sample_weight,
                           validation_split=validation_split, class_weight=class_weight)
        batches = SourceBatches(model, BatchSource(x, "x"), allow_nonfinite)
        prepare(model, *batches.first_arrays())
    else:
        weighted = sample_weight is not None or class_weight is not None
        x, y, weights, split = training_data(model, x, y, sample_weight, class_weight, validation_split, None,
                                             allow_nonfinite)
        prepare(model, x, y)
        batches = ArrayBatches(x, y, weights if weighted else None, batch_size)
        if split is not None:
            validation = ArrayBatches(*split[:2], split[2] if weighted else None, val_batch_size)
    if is_batch_source(validation_data):
        validation = SourceBatches(model, BatchSource(validation_data, "validation_data"), allow_nonfinite)
    elif validation_data is not None:
        val_x, val_y, val_weights = unpack_validation_data(model, validation_data, allow_nonfinite)
        validation = ArrayBatches(val_x, val_y, val_weights if len(validation_data) == 3 else None, val_batch_size)
    run = FitRun(model, callbacks, {"verbose": verbose, "epochs": epochs, "steps": batches.steps})
    trainer_of(model).begin_fit(initial_epoch)
    driver = CustomStepEpochs(run, model, batches, shuffle, verbose, epochs, validation)
    samples = getattr(batches, "num_samples", None)
    with run_length(None if samples is None else samples * max(epochs - initial_epoch, 1), model):
        return run_epochs([run], driver, initial_epoch, epochs, should_validate, finalize_weights)[0]


class CustomStepEpochs(EpochDriver):
    """The epochs of a model with its own steps, for `fit_loop.run_epochs`."""

    def __init__(self, run, model, batches, shuffle, verbose, epochs, validation):
        self.run, self.model, self.batches, self.validation = run, model, batches, validation
        self.shuffle, self.verbose, self.epochs = shuffle, verbose, epochs
        self.programs = step_programs(model, training=True)
        self.stream = console()
        self.live = verbose == 1 and is_live(self.stream)
        self.batch_hooks = run.callbacks.wants(TRAIN_BATCH_HOOKS)
        self.steps_per_chunk = 1 if self.batch_hooks else (
            max(1, math.ceil((batches.steps or UNKNOWN_STEPS) / LIVE_UPDATES_PER_EPOCH)) if self.live else None)
        self.trainer = trainer_of(model)
        self.bar, self.steps_run = None, batches.steps

    def first_epoch(self, initial_epoch):
        resumed_epoch, self.trainer.resumed_epoch = self.trainer.resumed_epoch, None  # set by BackupAndRestore
        if resumed_epoch is None:
            return initial_epoch
        if isinstance(self.batches, SourceBatches):
            self.batches.source.replay_epochs(resumed_epoch)
        return resumed_epoch

    def train(self, epoch, runs):
        model, callbacks = self.model, self.run.callbacks
        optimizer = model.optimizer
        if self.verbose:
            print_epoch_header(epoch, self.epochs, self.stream)
        self.bar = bar = Progbar(self.batches.steps, verbose=self.verbose, stream=self.stream, live=self.live)
        optimizer_state = jax.tree.unflatten(optimizer.state_structure, [v.value for v in optimizer.variables])
        optimizer_state = optimizer.with_learning_rate(optimizer_state, optimizer.learning_rate)
        state = ([v.value for v in model.trainable_variables], [v.value for v in model.non_trainable_variables],
                 jax.tree.leaves(optimizer_state), metric_values(model))
        epoch_key = self.trainer.epoch_key(epoch)

        def before(step):
            if self.batch_hooks:
                callbacks.on_train_batch_begin(step)

        def after(steps_done, logs):
            logs = flat_logs(logs)
            if self.batch_hooks:
                callbacks.on_train_batch_end(steps_done - 1, dict(logs))
            bar.update(steps_done, list(logs.items()), finalize=False)

        chunks = self.batches.chunks(epoch_key, self.shuffle, self.steps_per_chunk)
        state, logs, self.steps_run = run_chunks(self.programs, state, chunks, epoch_key, before, after)
        if self.steps_run == 0:
            warnings.warn(f"Epoch {epoch + 1}: x ran out of data, so training stops (as in Keras). Give a PyDataset "
                          "or an iterable that can be read again, such as a list of batches.", UserWarning,
                          stacklevel=5)
            return False
        trainable, fixed, optimizer_values, metrics_values = state
        write_back(model.trainable_variables, trainable)
        write_back(model.non_trainable_variables, fixed)
        write_back(optimizer.variables, optimizer_values)
        write_back([v for metric in model.metrics for v in metric.variables], metrics_values)
        optimizer.iterations += self.steps_run
        self.run.logs = flat_logs(logs)
        return True

    def validate(self, epoch, runs):
        if self.validation is not None:
            logs = evaluate_batches(self.model, self.validation, self.run.callbacks)
            self.run.logs.update({"val_" + name: value for name, value in logs.items()})

    def report(self, epoch, runs):
        self.bar.update(self.steps_run, list(self.run.logs.items()), finalize=True)


def evaluate_batches(model, batches, callback_list):
    """The logs of the test step over `batches`, with Keras's test hooks; the metrics' variables hold their
    final values afterwards."""
    callback_list.on_test_begin()
    wants_hooks = callback_list.wants(TEST_BATCH_HOOKS)
    state = ([v.value for v in model.trainable_variables], [v.value for v in model.non_trainable_variables],
             metric_values(model))
    after = (lambda steps_done, logs: callback_list.on_test_batch_end(steps_done - 1, flat_logs(logs)))
    state, logs, _ = run_chunks(step_programs(model, training=False), state,
                                batches.chunks(None, False, 1 if wants_hooks else None), scanfit_random.next_key(),
                                callback_list.on_test_batch_begin if wants_hooks else None,
                                after if wants_hooks else None)
    write_back(model.non_trainable_variables, state[1])  # (what a layer's call() assigned, as Keras keeps it)
    write_back([v for metric in model.metrics for v in metric.variables], state[2])
    logs = flat_logs(logs)
    callback_list.on_test_end(logs)
    return logs


def evaluate(model, x, y, *, batch_size, verbose, sample_weight, callbacks, return_dict, allow_nonfinite, steps):
    """Keras's `evaluate` for a model with its own steps."""
    require_compiled(model)
    refuse_unsupported(model, "evaluate", steps=optional_steps(steps, "steps"))
    verbose = _verbosity(verbose)
    batch_size_given, batch_size = batch_size, as_batch_size(batch_size)
    if is_batch_source(x):
        refuse_with_source("evaluate", batch_size=batch_size_given, y=y, sample_weight=sample_weight)
        batches = SourceBatches(model, BatchSource(x, "x"), allow_nonfinite)
        prepare(model, *batches.first_arrays())
    else:
        x, y = check_inputs(model, x, y, allow_nonfinite)
        prepare(model, x, y)
        weights = None
        if sample_weight is not None:
            weights = training_data(model, x, y, sample_weight, None, 0.0, None, allow_nonfinite)[2]
        batches = ArrayBatches(x, y, weights, batch_size)
    callback_list = CallbackList(callback_sequence(callbacks), model,
                                 {"verbose": verbose, "epochs": 1, "steps": batches.steps})
    with run_length(getattr(batches, "num_samples", None), model):
        logs = evaluate_batches(model, batches, callback_list)
    Progbar(batches.steps, verbose=verbose, live=False).update(batches.steps or 0, list(logs.items()), finalize=True)
    return as_results(logs if return_dict else in_metrics_order(model, logs), return_dict)
