"""compile / fit / evaluate / predict: Keras's training API around the compiled programs.

Python runs once per epoch (or once per chunk of steps, when a live progress
bar or a per-batch callback asks for it): it hands the current weights and
optimizer state to a compiled program, writes the results back into the
model's variables, and runs the callbacks with Keras's `logs`.
"""
import contextlib
import functools
import inspect
import math
import warnings

import jax
import numpy as np

from scanfit import losses, metrics as metrics_module, optimizers
from scanfit import distribution
from scanfit import seeding as scanfit_random
from scanfit.callbacks.base import PREDICT_BATCH_HOOKS, TEST_BATCH_HOOKS, TRAIN_BATCH_HOOKS, Callback, CallbackList
from scanfit.engine.data import (
    as_batch_size,
    as_sample_weights,
    check_epochs,
    check_inputs,
    check_targets,
    data_shapes,
    data_size,
    training_data,
    unpack_validation_data,
)
from scanfit.engine.batches import (
    ArraySource,
    BatchSource,
    HostArrays,
    groups,
    is_batch_source,
    should_stream,
    unchanged,
    unpack_batch,
)
from scanfit.engine.compiling import copies, in_background, is_short_run, jit_once, run_length, uses_older_emitters
from scanfit.engine.fit_loop import EpochDriver, FitRun, run_epochs
from scanfit.engine.outputs import CompiledOutputs
from scanfit.engine.staging import fingerprint
from scanfit.engine.state import CompileSettings, EpochPosition, TrainState
from scanfit.engine.programs import (
    Programs,
    chunk_plan,
    epoch_seeds,
    epoch_segments,
    merge_values,
    split_values,
)
from scanfit.engine.progbar import Progbar, is_live, print_epoch_header
from scanfit.interactive_logging import console
from scanfit.layers.base import Layer
from scanfit.layers.masking import Masking
from scanfit.serialization import built_in

LIVE_UPDATES_PER_EPOCH = 50
UNKNOWN_STEPS = 800  # what a live bar's chunks are sized for when a batch source's length is unknown


def compile_model(model, optimizer, loss, metrics, weighted_metrics, loss_weights=None):
    """``(optimizer object, CompileSettings)`` for ``model.compile(...)``; the layers' trainable flags are
    frozen in the settings for the next fit.

    Each setting is checked here, and an error names the argument it is about.
    """
    with naming_argument("optimizer"):
        if optimizer is None:
            raise ValueError("an optimizer is needed: a name such as 'adam', or an optimizer object.")
        optimizer = optimizers.get(optimizer)
    with naming_argument("loss"):
        for identifier in _leaves(loss):
            if not (isinstance(identifier, str) and identifier.lower() in ("crossentropy", "ce")):
                losses.per_sample_fn(identifier)  # an unknown loss fails here, at compile, as in Keras
    with naming_argument("loss_weights"):
        if loss_weights is not None and not isinstance(loss_weights, (int, float, list, tuple, dict)):
            raise TypeError(f"expected a number, a list or a dict of numbers, got {loss_weights!r}")
        for weight in _leaves(loss_weights):
            if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight):
                raise TypeError(f"expected finite numbers, got {weight!r}")
    identifiers = []
    for name, value in (("metrics", metrics), ("weighted_metrics", weighted_metrics)):
        with naming_argument(name):
            identifiers.append(_identifier_list(value, name))
            for identifier in _leaves(identifiers[-1]):
                if identifier not in ("accuracy", "acc", "crossentropy", "ce"):
                    metrics_module.get(identifier)
    return optimizer, CompileSettings(loss, loss_weights, *identifiers, model.trainable_flags())


@contextlib.contextmanager
def naming_argument(name):
    """Re-raise a ValueError/TypeError about a compile argument with the argument's name in front."""
    try:
        yield
    except (ValueError, TypeError) as error:
        if name in str(error):
            raise
        raise type(error)(f"compile({name}=...): {error}") from error


def check_compile_options(run_eagerly, steps_per_execution, jit_compile, auto_scale_loss):
    """Refuse the `compile` options that scanfit cannot honour; the others change nothing here."""
    if not isinstance(run_eagerly, (bool, np.bool_)) or run_eagerly:
        raise ValueError(f"run_eagerly={run_eagerly!r} is not supported: scanfit always compiles each epoch into one "
                         "program (leave it out, or pass False). To debug a model, call it on arrays: model(x).")
    if not (jit_compile is True or (isinstance(jit_compile, str) and jit_compile == "auto")):
        raise ValueError(f"jit_compile={jit_compile!r} is not supported: scanfit always compiles with XLA "
                         "(leave it out, or pass True or 'auto').")
    if not (isinstance(steps_per_execution, str) and steps_per_execution == "auto") and (
            isinstance(steps_per_execution, bool) or not isinstance(steps_per_execution, (int, np.integer))
            or steps_per_execution < 1):
        raise ValueError(f"steps_per_execution must be a positive int, got {steps_per_execution!r}")
    if not isinstance(auto_scale_loss, bool):
        raise TypeError(f"auto_scale_loss must be True or False, got {auto_scale_loss!r}")


# Keras's hooks for customizing fit, evaluate and predict that scanfit does not call (train_step, test_step
# and compute_loss are: see scanfit.engine.custom_steps).
STEP_HOOKS = ("predict_step", "compute_metrics", "make_train_function", "make_test_function", "make_predict_function")


def refuse_step_overrides(model, base):
    """Refuse a model class that overrides one of `STEP_HOOKS` (fit would silently leave it uncalled), or
    writes train_step or test_step in tf.keras 2's form, ``(self, data)`` with a GradientTape.
    `base` is scanfit's Model class (its own `make_predict_function` is not an override)."""
    for cls in type(model).__mro__:
        if cls is base:
            return
        overridden = [name for name in STEP_HOOKS if name in vars(cls)]
        if overridden:
            raise NotImplementedError(
                f"{cls.__name__} overrides {', '.join(overridden)}, which scanfit does not call: fit, evaluate and "
                "predict run whole epochs as compiled programs. Remove the override; customize training with "
                "Keras 3's JAX forms of train_step(self, state, data), test_step(self, state, data) or "
                "compute_loss, or put extra loss terms in a layer's add_loss().")
        for name in ("train_step", "test_step"):
            if name in vars(cls) and len(inspect.signature(vars(cls)[name]).parameters) == 2:
                raise NotImplementedError(
                    f"{cls.__name__}.{name}(self, data) is tf.keras 2's form (a GradientTape and self.optimizer "
                    f"applying gradients), which needs TensorFlow. scanfit runs Keras 3's JAX form: "
                    f"{name}(self, state, data) returning (logs, state), with self.stateless_call, "
                    "jax.value_and_grad, self.optimizer.stateless_apply and metric.stateless_update_state.")


def _is_per_output_dict(value):
    return isinstance(value, dict) and "class_name" not in value


def _leaves(spec):
    """The identifiers in a loss or metrics spec (a value, a list, nested lists, or a dict by output)."""
    if spec is None:
        return []
    if _is_per_output_dict(spec):
        return [leaf for value in spec.values() for leaf in _leaves(value)]
    if isinstance(spec, (list, tuple)):
        return [leaf for value in spec for leaf in _leaves(value)]
    return [spec]


def _identifier_list(value, what):
    if value is None:
        return []
    if _is_per_output_dict(value):
        return dict(value)
    if isinstance(value, (str, dict)) or callable(value):
        return [value]
    if isinstance(value, (list, tuple)):
        return list(value)
    raise TypeError(f"{what} must be a name, a metric object, a list of them, or a dict by output; got {value!r}")


def _same_arrays(tree, other):
    """Whether two trees hold the very same array objects."""
    leaves, other_leaves = jax.tree.leaves(tree), jax.tree.leaves(other)
    return len(leaves) == len(other_leaves) and all(a is b for a, b in zip(leaves, other_leaves))


class EpochKeys:
    """The random keys of a model's epochs: each derives from one base key and the epoch's number, counted on
    across `fit` calls (`begin_fit`). BackupAndRestore saves and restores `base_key` and `key_offset`."""

    def __init__(self):
        self.base_key = scanfit_random.next_key()
        self.key_offset = 0  # added to an epoch's number to pick its key (see begin_fit)
        self.keys_used = 0  # one past the highest key index an epoch has drawn

    def begin_fit(self, initial_epoch):
        """Start a `fit` call at `initial_epoch`: its epochs draw keys after those the epochs before drew, as
        Keras's seed state goes on from call to call. A loop of ``fit(epochs=1)`` calls shuffles and drops out
        anew each call; ``fit(epochs=2)`` equals two such calls, and ``fit(epochs=1)`` then
        ``fit(epochs=2, initial_epoch=1)``. A first call keeps each epoch's own key (epoch k draws key k)."""
        self.key_offset = max(self.keys_used - initial_epoch, 0)

    def epoch_key(self, epoch):
        """Epoch `epoch`'s random key (raw, on the host), from which `epoch_seeds` derives its shuffle and dropout;
        the key is counted in `keys_used`, so that the next `fit` call goes on after it."""
        index = epoch + self.key_offset
        self.keys_used = max(self.keys_used, index + 1)
        return scanfit_random.fold_in(self.base_key, index)


class Trainer(EpochKeys):
    """Per-compile state: resolved metrics, trainable mask, optimizer state, programs."""

    def __init__(self, model, y_shape):
        self.model = model
        self.y_shape = y_shape
        self.outputs = CompiledOutputs(model, y_shape)
        self.loss = self.outputs.losses[0][2]  # the first (for one output, the only) resolved loss
        self.metrics = [metric for _, metric, _ in self.outputs.metrics]
        self.held_metrics = model.held_metrics()  # the metrics a layer's call() may update, logged after these
        self.mask = model.trainable_mask()
        by_layer = [{v.short_name: v for v in layer.own_weights} for layer in model.weight_layers]
        penalties = [
            {name: var.regularizer for name, var in variables.items() if mask[name] and var.regularizer is not None}
            for variables, mask in zip(by_layer, self.mask)
        ]
        constraints = [
            {name: var.constraint for name, var in variables.items() if mask[name] and var.constraint is not None}
            for variables, mask in zip(by_layer, self.mask)
        ]
        self.transform = model.optimizer.build_transform(weight_paths={  # (Muon picks each weight's step by path)
            f"{index}/{name}": variable.path for index, variables in enumerate(by_layer)
            for name, variable in variables.items()})
        self.programs = Programs(
            model.apply,
            self.outputs.program_losses(),
            self.outputs.program_metrics(),
            self.transform,
            penalties,
            constraints,
            pad_evaluation=(computes_per_sample(model) and not uses_activity_regularizers(model)
                            and self.outputs.reduce_by_batch_size()
                            and not self.outputs.stateful_metrics() and not makes_masks(model)
                            and not self.held_metrics),
            stateful_metrics=self.outputs.stateful_metrics(),
            carries_state=carries_layer_state(model),
            held_metrics=self.held_metrics,
        )
        # An optimizer state that scanfit.saving restored from a file is used once, by the next Trainer.
        self.opt_state = getattr(model.optimizer, "restored_state", None)
        self.opt_state_ahead = None  # (weights, Future of the optimizer state): create_optimizer_state_ahead
        model.optimizer.restored_state = None
        EpochKeys.__init__(self)
        self.epochs_compiled = set()  # the signatures compile_epoch compiled for
        self.resumed_epoch = None  # the epoch a restored backup goes on from (set by BackupAndRestore)
        self.resume = None  # an EpochPosition inside that epoch to continue from (set by BackupAndRestore)
        self.position = None  # where the running epoch is, after each chunk
        self.record_epoch_start = False  # keep each epoch's starting state for first_nonfinite_batch()
        self.epoch_start = None

    @property
    def metric_names(self):
        return ["loss"] + self.outputs.log_names() + [metric.name for metric in self.held_metrics]

    def logs_from_sums(self, sums, prefix=""):
        sums = jax.device_get(sums)
        loss_total, count, totals, weights = (np.asarray(s, dtype=np.float64) for s in sums[:4])
        logs = {prefix + "loss": float(loss_total / count)}
        for name, value in zip(self.outputs.log_names(), self.outputs.results(totals, weights, sums[4])):
            logs[prefix + name] = value
        for metric, state in zip(self.held_metrics, self.programs.held_states(sums)):
            logs[prefix + metric.name] = metric.result_of(state)
        return logs

    def run_logs(self, sums):
        """The logs of a finished run (a training epoch, an evaluation); the model's metric objects
        (`model.metrics`) take its state too, as Keras's hold the last run's (a fit's validation, an evaluate,
        a train_on_batch). The running logs of batch hooks use `logs_from_sums` alone."""
        sums = jax.device_get(sums)
        self.publish_metrics(sums)
        return self.logs_from_sums(sums)

    def publish_metrics(self, sums):
        """Write the state of `sums` into ``model.compiled_loss_tracker`` (its total and count) and the metrics
        of ``model.compile_metrics`` (a mean's total and weight, a stateful metric's variables), and the held
        metrics' states into their variables."""
        model = self.model
        model.compiled_loss_tracker.total.assign(np.asarray(sums[0], np.float32))  # (arrays: no eager compile)
        model.compiled_loss_tracker.count.assign(np.asarray(sums[1], np.float32))
        for metric, state in zip(self.held_metrics, self.programs.held_states(sums)):
            for variable, value in zip(metric.variables, state):
                variable.assign(np.asarray(value, variable.dtype).reshape(variable.shape))
        if model.compile_metrics is None:
            return
        model.compile_metrics.build_for(self.y_shape)
        logged = len(self.outputs.losses) if len(self.outputs.losses) > 1 else 0
        means = iter(zip(sums[2][logged:], sums[3][logged:]))
        states = iter(sums[4])
        for (_, ours, _), (_, theirs, _) in zip(self.outputs.metrics, model.compile_metrics.outputs.metrics):
            values = next(states) if ours.is_stateful else next(means)
            for variable, value in zip(theirs.variables, values):
                variable.assign(np.asarray(value, variable.dtype).reshape(variable.shape))

    def optimizer_state(self):
        """The optimizer state, created from the model's trainable weights on first use."""
        ahead, self.opt_state_ahead = self.opt_state_ahead, None
        if self.opt_state is None:
            trainable, _ = split_values(self.model.weight_values(), self.mask)
            if ahead is not None and _same_arrays(ahead[0], trainable):
                self.opt_state = ahead[1].result()
            else:  # no state was started, or the weights changed since (an optimizer state may copy them)
                self.opt_state = jit_once(self.transform.init)(trainable)
        return self.opt_state

    def create_optimizer_state_ahead(self):
        """Start creating the optimizer state on the background thread (one small compiled program)."""
        trainable, _ = split_values(self.model.weight_values(), self.mask)
        self.opt_state_ahead = (trainable, in_background(jit_once(self.transform.init), trainable))

    def train_epoch(self, epoch, data, batch_size, shuffle, steps_per_chunk=None, after_chunk=None, before_chunk=None):
        """Train one epoch, or its rest when `self.resume` points into it; returns the epoch's sums.

        Weights, optimizer state and `optimizer.iterations` are written back
        after the epoch, or after every chunk when it runs in chunks.
        """
        trainable, fixed, opt_state, key = self.epoch_start_state(epoch)
        seeds = epoch_seeds(key)
        num_samples = data_size(data)
        resume, self.resume = self.resume, None
        if resume is not None and resume.epoch == epoch:
            carry, steps_done = TrainState(trainable, fixed, opt_state, resume.rng, resume.sums), resume.step
            steps_per_chunk = steps_per_chunk or 1
        else:
            carry = TrainState(trainable, fixed, opt_state, seeds[1], self.programs.empty_sums())
            steps_done = 0
        if self.record_epoch_start:  # a copy: the training programs consume the arrays they are given
            self.epoch_start = (epoch, copies(carry), steps_done, data, batch_size, shuffle)
        if steps_per_chunk is None:
            segments = epoch_segments(num_samples, batch_size)
            applied = self.model.optimizer.applied_updates(opt_state)
            carry = self.programs.train_epoch(trainable, fixed, opt_state, data, seeds, segments=segments,
                                              shuffle=shuffle)
            self._publish(epoch, sum(count for count, _ in segments), carry, steps_done, applied)
            return carry.sums
        order = self.programs.permutation(seeds[0], num_samples=num_samples, shuffle=shuffle)
        plan = _remaining_chunks(num_samples, batch_size, steps_per_chunk, steps_done)
        return self._run_chunks(epoch, carry, data, order, plan, steps_done, after_chunk, before_chunk)

    def _run_chunks(self, epoch, carry, data, order, plan, steps_done, after_chunk, before_chunk):
        """Run the chunks of `plan` from `carry`, publishing each; the sums at the end."""
        for start, segments in plan:
            if before_chunk:
                before_chunk(steps_done)
            # A learning rate set by a callback since the last chunk takes effect at this step, as in Keras.
            carry = carry._replace(opt_state=self.with_current_learning_rate(carry.opt_state))
            applied = self.model.optimizer.applied_updates(carry.opt_state)
            carry = self.programs.train_chunk(carry, data, order, start, segments=segments)
            steps_before, steps_done = steps_done, steps_done + sum(count for count, _ in segments)
            self._publish(epoch, steps_done, carry, steps_before, applied)
            if after_chunk:
                after_chunk(steps_done, carry.sums)
        return carry.sums

    def train_steps(self, data_pass, data, batch_size, shuffle, first_step, steps, steps_per_chunk=None,
                    after_chunk=None, before_chunk=None):
        """Run `steps` steps of pass `data_pass` over the data, from its step `first_step`; returns their sums.

        This is `fit(steps_per_epoch=...)`: the pass's order comes from its own key, so the steps of a pass
        that several epochs share are those of one shuffle.
        """
        trainable, fixed, opt_state, key = self.epoch_start_state(data_pass)
        shuffle_seed, rng = epoch_seeds(key)
        num_samples = data_size(data)
        order = self.programs.permutation(shuffle_seed, num_samples=num_samples, shuffle=shuffle)
        carry = TrainState(trainable, fixed, opt_state, rng, self.programs.empty_sums())
        plan = step_plan(num_samples, batch_size, first_step, steps, steps_per_chunk or steps)
        return self._run_chunks(data_pass, carry, data, order, plan, 0, after_chunk, before_chunk)

    def epoch_order(self, epoch, num_samples, shuffle):
        """Epoch `epoch`'s order of the samples on the host: the permutation `train_epoch` draws on the device."""
        shuffle_seed, _ = epoch_seeds(self.epoch_key(epoch))
        return np.asarray(self.programs.permutation(shuffle_seed, num_samples=num_samples, shuffle=shuffle))

    def epoch_start_state(self, epoch):
        """(trainable, fixed, opt_state, key) an epoch starts from: the model's weights, the current learning rate."""
        trainable, fixed = split_values(self.model.weight_values(), self.mask)
        opt_state = self.with_current_learning_rate(self.optimizer_state())
        return trainable, fixed, opt_state, self.epoch_key(epoch)

    def with_current_learning_rate(self, opt_state):
        """`opt_state` holding the optimizer's learning rate as it is now (callbacks may have changed it)."""
        optimizer = self.model.optimizer
        if not hasattr(optimizer, "learning_rate"):  # a raw optax transform may have no learning rate
            return opt_state
        return optimizer.with_learning_rate(opt_state, optimizer.learning_rate)

    def _publish(self, epoch, steps_done, carry, steps_before, applied_before, samples_done=None):
        """Write a chunk's results back into the model, the optimizer and `self.position`; `applied_before` is
        the optimizer's `applied_updates` before the chunk."""
        optimizer = self.model.optimizer
        optimizer.iterations = optimizer.iterations_after(applied_before, carry.opt_state, steps_done - steps_before)
        self.opt_state = carry.opt_state
        write_back(self.model, merge_values(carry.trainable, carry.fixed))
        self.position = EpochPosition(epoch, steps_done, carry.rng, carry.sums, samples_done)

    def first_nonfinite_batch(self):
        """Replay the last epoch step by step from its recorded start (see `record_epoch_start`).

        Returns the 0-based batch after which the running loss first is NaN
        or infinite, or None. The model's weights are not touched.
        """
        epoch, carry, steps_done, data, batch_size, shuffle = self.epoch_start
        carry = copies(carry)  # the recorded start stays, for another replay
        order = self.epoch_order(epoch, data_size(data), shuffle)
        for start, segments in _remaining_chunks(data_size(data), batch_size, 1, steps_done):
            carry = self.programs.train_chunk(carry, data, order, start, segments=segments)
            if not np.isfinite(float(carry.sums[0])):
                return start // batch_size
        return None

    def train_groups(self, epoch, groups, after_chunk=None, before_chunk=None, start=None):
        """Train one epoch on `groups` (``(data, segments, first batch)`` each, from `batches.groups`), one
        compiled program per group; returns the epoch's sums and its number of steps.

        `start` is ``(steps done, samples done, rng, sums)`` when the groups begin inside the epoch: the
        steps keep the keys of their place in the epoch.
        """
        trainable, fixed, opt_state, key = self.epoch_start_state(epoch)
        steps_done, samples_done, rng, sums = 0, 0, epoch_seeds(key)[1], self.programs.empty_sums()
        if start is not None:
            steps_done, samples_done, rng, sums = start
        carry = TrainState(trainable, fixed, opt_state, rng, sums)
        for data, segments, _ in groups:
            if before_chunk:
                before_chunk(steps_done)
            carry = carry._replace(opt_state=self.with_current_learning_rate(carry.opt_state))
            samples = sum(count * size for count, size in segments)
            applied = self.model.optimizer.applied_updates(carry.opt_state)
            carry = self.programs.train_chunk(carry, data, np.arange(samples, dtype=np.int32), 0, segments=segments,
                                              epoch_offset=samples_done)
            steps_before, steps_done = steps_done, steps_done + sum(count for count, _ in segments)
            samples_done += samples
            self._publish(epoch, steps_done, carry, steps_before, applied, samples_done)
            if after_chunk:
                after_chunk(steps_done, carry.sums)
        return carry.sums, steps_done

    def train_streamed(self, epoch, host, batch_size, shuffle, steps_per_chunk=None, after_chunk=None,
                       before_chunk=None, first_step=0, steps=None):
        """`train_epoch` for `HostArrays` (or, with `steps`, `train_steps` from `first_step` of pass `epoch`):
        the batches of the epoch's order gathered on the host and streamed in groups; it goes on from
        `self.resume` when that points into this epoch. Returns the sums."""
        rng, sums = epoch_seeds(self.epoch_start_state(epoch)[3])[1], self.programs.empty_sums()
        resume, self.resume = self.resume, None
        if resume is not None and resume.epoch == epoch:
            first_step, rng, sums = resume.step, resume.rng, resume.sums
        order = self.epoch_order(epoch, data_size(host.arrays), shuffle)
        order = order[first_step * batch_size:None if steps is None else (first_step + steps) * batch_size]
        start = (first_step, first_step * batch_size, rng, sums)
        source = ArraySource(host, batch_size, order)
        return self.train_groups(epoch, groups(source, None, unchanged, steps_per_chunk), after_chunk, before_chunk,
                                 start)[0]

    def compile_epoch(self, data, batch_size, shuffle):
        """Compile the program that `train_epoch` runs on the arrays `data` (whole epochs) now, before the
        optimizer state exists: only its shapes are needed. Once per shapes and options: asking JAX's caches
        again took about 0.8 ms, each `fit` call's (a `train_on_batch` loop's) largest cost."""
        signature = (jax.tree.structure(data), tuple((a.shape, a.dtype) for a in jax.tree.leaves(data)), batch_size,
                     shuffle, uses_older_emitters(), distribution.batch_sharding())
        if signature in self.epochs_compiled:
            return
        trainable, fixed = split_values(self.model.weight_values(), self.mask)
        opt_state = self.opt_state
        if opt_state is None:
            opt_state = jax.eval_shape(self.transform.init, trainable)
        segments = epoch_segments(data_size(data), batch_size)
        self.programs.train_epoch.lower(trainable, fixed, self.with_current_learning_rate(opt_state), data,
                                        epoch_seeds(self.base_key), segments=segments, shuffle=shuffle).compile()
        self.epochs_compiled.add(signature)

    def compile_evaluation_ahead(self, data, batch_size):
        """Start compiling the program that `evaluate(data, batch_size)` runs (without batch hooks) on a
        background thread (JAX's caches make this cheap when it is compiled already), for arrays `data`."""
        if not isinstance(data, HostArrays) and not callable(data):
            data, arguments = self.evaluation_arguments(data, batch_size)
            self.programs.evaluate.compile_ahead(self.model.weight_values(), data, rng=inference_key(self.model),
                                                **arguments)

    def evaluation_arguments(self, data, batch_size):
        """(data, keyword arguments) of the evaluation program for the arrays `data`.

        In a short run (`compiling.run_length`), a model whose output for a sample depends on that sample
        alone gets its data padded on the host to a power-of-two number of batches (copies of the last
        sample, at weight 0), so that data sets of similar size (the validation data and the test data of
        a small search, say) share one compiled program.
        """
        num_samples = data_size(data)
        if not (num_samples and is_short_run() and distribution.batch_sharding() is None
                and self.programs.can_pad(self.model.weight_values(), data)):
            return data, {"segments": epoch_segments(num_samples, batch_size)}
        batches = 1 << (math.ceil(num_samples / batch_size) - 1).bit_length()
        extra = batches * batch_size - num_samples
        x, y, weights = jax.device_get(data)

        def repeat_last(a):
            return np.concatenate([a, np.repeat(a[-1:], extra, axis=0)])

        padded = (jax.tree.map(repeat_last, x), jax.tree.map(repeat_last, y),
                  np.concatenate([weights, np.zeros((extra,) + weights.shape[1:], weights.dtype)]))
        return device_data(*padded), {"segments": ((batches, batch_size),), "real_samples": np.int32(num_samples)}

    def evaluate(self, data, batch_size, before_batch=None, after_batch=None):
        """The sums of loss and metrics over `data`: one program, or one per batch when hooks are given.

        `data` is the arrays, or a function ``groups(group_steps)`` giving the groups of a batch source.
        """
        values = self.model.weight_values()
        rng = functools.partial(inference_key, self.model)
        hooked = before_batch is not None or after_batch is not None
        if isinstance(data, HostArrays):
            data = functools.partial(groups, ArraySource(data, batch_size), None, unchanged)
        whole = not callable(data) and not hooked  # one program over all of `data`, from the empty sums it makes
        if callable(data):
            parts = ((group, {"segments": segments}) for group, segments, _ in data(1 if hooked else None))
        elif whole:
            parts = [self.evaluation_arguments(data, batch_size)]
        else:
            parts = ((part, {"segments": epoch_segments(data_size(part), batch_size)})
                     for part in (jax.tree.map(lambda array: array[start:start + batch_size], data)
                                  for start in range(0, data_size(data), batch_size)))
        sums, batch = None if whole else self.programs.empty_sums(), 0  # (the whole-data program makes its own)
        for part, arguments in parts:
            if before_batch:
                before_batch(batch)
            start = {} if whole else {"start": sums}  # (as compile_evaluation_ahead compiled it: no start)
            sums = self.programs.evaluate(values, part, rng=rng(), **start, **arguments)
            if self.programs.carries_state:  # the states evaluation ended with, for the next part and the model
                sums, values = sums
                write_back(self.model, values)
            if after_batch:
                after_batch(batch, sums)
            batch += sum(count for count, _ in arguments["segments"])
        return sums


def inference_key(model):
    """A new random key for an evaluate or predict program of a model that may draw random numbers at
    inference (`Model.draws_at_inference`), else None (the program then computes no key)."""
    return scanfit_random.next_key() if model.draws_at_inference() else None


def step_plan(num_samples, batch_size, first_step, steps, steps_per_chunk):
    """`chunk_plan` for steps ``first_step .. first_step + steps - 1`` of an epoch, at most `steps_per_chunk` a chunk."""
    chunks = []  # [start sample, count, batch size]
    for start, ((_, size),) in chunk_plan(num_samples, batch_size, 1)[first_step:first_step + steps]:
        last = chunks[-1] if chunks else None
        if last and last[2] == size and last[1] < steps_per_chunk and last[0] + last[1] * size == start:
            last[1] += 1
        else:
            chunks.append([start, 1, size])
    return [(start, ((count, size),)) for start, count, size in chunks]


def optional_steps(value, name):
    """`value` as a positive int, or None (Keras's default: every batch)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive int or None, got {value!r}")
    return int(value)


def validation_schedule(validation_freq):
    """Whether to validate after each (1-based) epoch: every `validation_freq`-th, or those listed."""
    if isinstance(validation_freq, (int, np.integer)) and not isinstance(validation_freq, bool):
        if validation_freq < 1:
            raise ValueError(f"validation_freq must be a positive int (validate every n epochs) or a list of "
                             f"epochs, got {validation_freq}.")
        return lambda epoch: epoch % int(validation_freq) == 0
    if isinstance(validation_freq, (list, tuple, set)) and all(
            isinstance(e, (int, np.integer)) and not isinstance(e, bool) and e >= 1 for e in validation_freq):
        chosen = {int(e) for e in validation_freq}
        return lambda epoch: epoch in chosen
    raise ValueError(f"validation_freq must be a positive int or a list of positive epoch numbers, got "
                     f"{validation_freq!r}.")


def callback_sequence(callbacks):
    """`callbacks` as a list: None, one callback (accepted, as Keras does) or a list of callbacks."""
    if callbacks is None:
        return []
    if isinstance(callbacks, Callback):
        return [callbacks]
    if not isinstance(callbacks, (list, tuple)):
        raise TypeError(f"callbacks must be a list of keras.callbacks.Callback objects, got {callbacks!r} "
                        f"({type(callbacks).__name__}).")
    for callback in callbacks:
        if not isinstance(callback, Callback):
            raise TypeError(f"Every entry of callbacks must be a keras.callbacks.Callback, got {callback!r} "
                            f"({type(callback).__name__}).")
    return list(callbacks)


def first_batches(arrays, steps, batch_size):
    """The samples of the first `steps` batches of `arrays` (a tuple of arrays or of tuples of arrays)."""
    return jax.tree.map(lambda array: array[:steps * batch_size], arrays)


def _remaining_chunks(num_samples, batch_size, steps_per_chunk, steps_done):
    """`chunk_plan` for the samples after the first `steps_done` (full) batches."""
    offset = steps_done * batch_size
    return [(start + offset, segments)
            for start, segments in chunk_plan(num_samples - offset, batch_size, steps_per_chunk)]


def computes_per_sample(model):
    """Whether `model`'s inference output for a sample depends on that sample alone, as far as scanfit can tell:
    it is made only of scanfit's own layers (no Lambda, no user layer) in Sequential or functional models (no
    subclassed model's own `call`), and no layer carries states from batch to batch. Only then may inference pad
    a batch with other samples."""
    if carries_layer_state(model):
        return False
    layers = built_in("layer")
    layer_classes = set(layers.values()) - {layers["Lambda"]}
    model_classes = set(built_in("model").values())
    pending = [model]
    while pending:
        item = pending.pop()
        if item.is_model:
            if type(item) not in model_classes:
                return False
            pending.extend(item.layers)
        elif type(item) not in layer_classes:
            return False
        else:
            pending.extend(getattr(item, name) for name in ("layer", "forward_layer", "backward_layer")
                           if isinstance(getattr(item, name, None), Layer))
    return True


def makes_masks(model):
    """Whether a layer of `model` makes a mask (``Embedding(mask_zero=True)``, ``Masking``): a masked output's
    loss is a mean over the kept steps of each batch, which padding a batch would change."""
    return any(getattr(layer, "mask_zero", False) or isinstance(layer, Masking) for layer in model.weight_layers)


def uses_activity_regularizers(model):
    """Whether a layer of `model`, or `model` or a model nested in it, has an activity regularizer."""
    layers, models = list(model.weight_layers), [model]
    while models:
        nested = models.pop()
        layers.append(nested)
        models.extend(layer for layer in nested.layers if layer.is_model)
    return any(layer.penalizes_activity for layer in layers)


def check_stateful_batches(model, what, batch_size, num_samples):
    """A stateful layer takes batches of its fixed size only: a clear error, before anything compiles, when
    `batch_size` differs from it or does not divide `num_samples` (the last batch would be short)."""
    for layer in model.weight_layers:
        if layer.state_variables:
            size = layer.state_variables[0].value.shape[0]
            if batch_size != size or num_samples % size:
                raise ValueError(
                    f"The stateful layer {layer.name!r} takes batches of {size} samples (its fixed batch size), but "
                    f"{what} was given {num_samples} samples in batches of {batch_size}: pass batch_size={size} "
                    f"and a number of samples that {size} divides.")


def carries_layer_state(model):
    """Whether `model`'s forward pass at inference updates its state (`Model.updates_state_at_inference`: the
    states of stateful recurrent layers, or non-trainable variables a layer's call() assigns), which evaluation
    and prediction then carry from batch to batch and write back."""
    return model.updates_state_at_inference()


def write_back(model, values):
    """Store new per-layer weight values in the model's variables."""
    for layer, layer_values in zip(model.weight_layers, values):
        for variable in layer.carried_variables:
            variable.value = layer_values[variable.short_name]


def require_compiled(model):
    if not getattr(model, "compiled", False):
        raise RuntimeError(
            f"Model {model.name!r} must be compiled before training or evaluation: "
            "call model.compile(optimizer=..., loss=..., metrics=[...]) first."
        )


def warn_if_trainable_changed(model):
    """Warn when a layer's `trainable` changed since `compile()`: training goes by the flags compile() saw, as in
    tf.keras 2 (which warned too; Hands-On ML's GAN relies on it), where Keras 3 reads them at the first fit and
    refuses a change after it. Python shows it once per calling line."""
    now = model.trainable_flags()
    changed = [layer.name for layer in model.weight_layers
               if model.compile_settings.trainable.get(id(layer), now[id(layer)]) != now[id(layer)]]
    if changed:
        warnings.warn(f"Model {model.name!r}: the trainable flag of layer(s) {changed} changed since compile(); "
                      "training goes by the flags compile() saw, as in tf.keras 2. Call compile() again for the "
                      "change to take effect.", UserWarning, stacklevel=4)


def trainer_for(model, y):
    if model.trainer is None:
        shapes = [(None,) + tuple(part.shape[1:]) for part in y] if isinstance(y, tuple) else (None,) + tuple(y.shape[1:])
        model.trainer = Trainer(model, shapes)
    return model.trainer


def check_all_targets(trainer, y):
    """`check_targets` for each output that has a loss."""
    outputs = trainer.outputs
    for output, _, loss, _, _ in outputs.losses:
        shape = outputs.output_shapes[0 if output is None else output]
        check_targets(loss, y if output is None else y[output], shape)


def refuse_with_source(call, **given):
    """Refuse the arguments of `call` that a batch source sets itself (Keras refuses them too)."""
    for name, value in given.items():
        if value is not None and not (name == "validation_split" and not value):
            raise ValueError(f"{call}({name}=...) cannot be given when x is a generator, an iterable of batches or "
                             f"a PyDataset: its batches hold the {'batch size' if name == 'batch_size' else name}. "
                             f"Leave {name} out" + (", or give arrays." if name == "validation_split" else "."))


def source_trainer(model, source, class_weight, allow_nonfinite):
    """Build `model` from the first batch of `source`; the model's Trainer."""
    x, y, _ = source.convert(model, 0, source.first_batch(), True, class_weight, allow_nonfinite)
    model.ensure_built(data_shapes(x))
    return trainer_for(model, y)


def source_converter(model, trainer, source, class_weight, allow_nonfinite, targets=True):
    """``convert(index, batch)`` for `batches.groups`: a batch of `source` checked and converted as arrays are,
    its targets checked against the losses (or dropped, with ``targets=False``)."""
    def check(y):
        check_all_targets(trainer, y)

    def convert(index, batch):
        if not targets:
            batch = (unpack_batch(batch)[0],)
        return source.convert(model, index, batch, targets, class_weight, allow_nonfinite, check if targets else None)

    return convert


def placed(*arrays):
    """Checked arrays, ``(x, y, sample_weights)`` or ``(x,)``, where the programs read them: on the device
    (`device_data`), or `HostArrays` to stream when x is a memmap or over `keras.config.device_data_limit`."""
    if should_stream(arrays[0]):
        if distribution.shards_data():
            raise ValueError("Data that streams from the host (a memmap, or more than "
                             "keras.config.device_data_limit() bytes) cannot be sharded over processes yet: load "
                             "each process's shard into memory (np.asarray), or use auto_shard_dataset=True.")
        return HostArrays(arrays)
    return device_data(*arrays)


def placed_count(data):
    """The number of samples in placed data (under `auto_shard_dataset=False`, in all processes together)."""
    return data_size(data.arrays if isinstance(data, HostArrays) else data)


def device_data(*arrays):
    """Checked arrays on the device: under a `scanfit.distribution`, whole on every one of its devices, or each
    process's shard on its devices (`distribution.place_data`)."""
    return distribution.place_data(arrays)


def refuse_when_sharded(call, **given):
    """Refuse the arguments that would pick rows of each process's shard instead of the whole data set."""
    if not distribution.shards_data():
        return
    for name, value in given.items():
        if value:
            raise ValueError(f"{call}({name}=...) cannot be used with DataParallel(auto_shard_dataset=False): each "
                             f"process holds only its shard, so {name} would pick rows of each shard. Give "
                             "validation_data shards instead of validation_split, and leave steps out."
                             if name != "x" else
                             f"{call}(x=...) cannot be a generator or PyDataset under "
                             "DataParallel(auto_shard_dataset=False) yet: give each process's shard as arrays.")


def _verbosity(verbose):
    if isinstance(verbose, str) and verbose == "auto":
        return 1
    if isinstance(verbose, (bool, np.bool_)):
        return int(verbose)
    if not isinstance(verbose, (int, np.integer)) or verbose not in (0, 1, 2):
        raise ValueError(f"verbose must be 0, 1, 2 or 'auto', got {verbose!r}")
    return int(verbose)


def fit(model, x, y, *, batch_size, epochs, verbose, callbacks, validation_split, validation_data, shuffle,
        class_weight, sample_weight, initial_epoch, validation_batch_size, validation_freq, allow_nonfinite=False,
        steps_per_epoch=None, validation_steps=None, finalize_weights=True):
    """Keras's `fit` for any model.

    `steps_per_epoch` runs that many batches per epoch; as in Keras 3, the
    next epoch goes on through the same pass over the data, and an epoch
    that reaches the end of the pass ends there (a new, reshuffled pass
    starts with the next epoch). `validation_steps` evaluates the first
    batches of the validation data; `validation_freq` (an int, or a list of
    1-based epochs) says after which epochs validation runs. `finalize_weights` (False for train_on_batch): see
    `fit_loop.run_epochs`.
    """
    require_compiled(model)
    warn_if_trainable_changed(model)
    verbose = _verbosity(verbose)
    batch_size_given, batch_size = batch_size, distribution.check_batch_size(as_batch_size(batch_size))
    check_epochs(epochs, initial_epoch)
    steps_per_epoch = optional_steps(steps_per_epoch, "steps_per_epoch")
    validation_steps = optional_steps(validation_steps, "validation_steps")
    should_validate = validation_schedule(validation_freq)
    callbacks = callback_sequence(callbacks)
    if not isinstance(shuffle, (bool, np.bool_)):
        raise ValueError(f"shuffle must be True or False, got {shuffle!r} (Keras's shuffle='batch' is not supported).")
    backup = any(type(c).__name__ == "BackupAndRestore" for c in callbacks)
    if steps_per_epoch and backup:
        raise ValueError("BackupAndRestore cannot resume a fit with steps_per_epoch (an epoch is not a pass over "
                         "the data); leave steps_per_epoch out, or drop BackupAndRestore.")
    source = BatchSource(x, "x") if is_batch_source(x) else None
    val_source = BatchSource(validation_data, "validation_data") if is_batch_source(validation_data) else None
    refuse_when_sharded("fit", validation_split=validation_split, validation_steps=validation_steps,
                        x=source is not None or val_source is not None)
    if source is not None:
        refuse_with_source("fit", batch_size=batch_size_given, y=y, sample_weight=sample_weight,
                           validation_split=validation_split)
        if backup and not source.is_dataset:
            raise ValueError("BackupAndRestore cannot resume a fit whose x is a generator or an iterable (they "
                             "cannot go back to a batch): give a keras.utils.PyDataset or arrays, or drop "
                             "BackupAndRestore.")
    if val_source is not None and validation_batch_size is not None:
        raise ValueError("validation_batch_size cannot be given when validation_data is a generator or PyDataset: "
                         "its batches set the batch size.")
    val_batch_size = batch_size
    if validation_batch_size is not None:
        val_batch_size = distribution.check_batch_size(
            as_batch_size(validation_batch_size, name="validation_batch_size"), "validation_batch_size")
    array_validation = None if val_source else validation_data
    data = convert = batches = None
    if source is None:
        trainer, data, val_data, num_samples = staged_fit_arrays(
            model, x, y, sample_weight, class_weight, validation_split, array_validation, allow_nonfinite,
            validation_steps, val_batch_size)
        check_stateful_batches(model, "fit", batch_size, num_samples)
        if val_data is not None and not callable(val_data):
            check_stateful_batches(model, "validation", val_batch_size, placed_count(val_data))
        batches = math.ceil(num_samples / batch_size)
        steps = steps_per_epoch or batches
    else:
        trainer = source_trainer(model, source, class_weight, allow_nonfinite)
        convert = source_converter(model, trainer, source, class_weight, allow_nonfinite)
        steps = steps_per_epoch or source.batches_per_pass()
        val_data = None
        if array_validation is not None:
            val_x, val_y, val_weights = unpack_validation_data(model, array_validation, allow_nonfinite)
            check_all_targets(trainer, val_y)
            if validation_steps:
                val_x, val_y, val_weights = first_batches((val_x, val_y, val_weights), validation_steps,
                                                          val_batch_size)
            val_data = placed(val_x, val_y, val_weights)
    if val_source is not None:
        val_convert = source_converter(model, trainer, val_source, None, allow_nonfinite)
        val_data = functools.partial(groups, val_source, validation_steps, val_convert)

    run = FitRun(model, callbacks, {"verbose": verbose, "epochs": epochs, "steps": steps})
    trainer.begin_fit(initial_epoch)
    passes = max(epochs - initial_epoch, 1)
    val_passes = None
    if val_source is not None:
        val_passes = _times(val_source.samples_in(validation_steps or val_source.batches_per_pass()), passes)
    elif val_data is not None:
        val_passes = placed_count(val_data) * passes
    fit_samples = steps * batch_size if source is None else source.samples_in(steps)
    with run_length(_times(fit_samples, passes), model):
        driver = ModelEpochs(run, trainer, data=data, source=source, convert=convert, val_data=val_data,
                             batch_size=batch_size, val_batch_size=val_batch_size, shuffle=shuffle, verbose=verbose,
                             epochs=epochs, steps=steps, steps_per_epoch=steps_per_epoch, batches=batches,
                             val_passes=val_passes)
        return run_epochs([run], driver, initial_epoch, epochs, should_validate, finalize_weights)[0]


def _times(samples, passes):
    return None if samples is None else samples * passes


class ModelEpochs(EpochDriver):
    """The epochs of one model's `fit`, for `fit_loop.run_epochs`: whole-epoch programs, chunks for a live
    progress bar or batch hooks, streamed arrays, batch sources, and `steps_per_epoch` passes."""

    def __init__(self, run, trainer, *, data, source, convert, val_data, batch_size, val_batch_size, shuffle,
                 verbose, epochs, steps, steps_per_epoch, batches, val_passes):
        self.run, self.trainer = run, trainer
        self.data, self.source, self.convert, self.val_data = data, source, convert, val_data
        self.val_passes = val_passes  # the validation's samples over all epochs (None: unknown), for run_length
        self.batch_size, self.val_batch_size, self.shuffle = batch_size, val_batch_size, shuffle
        self.verbose, self.epochs, self.steps = verbose, epochs, steps
        self.steps_per_epoch, self.batches = steps_per_epoch, batches
        self.stream = console()
        self.live = verbose == 1 and is_live(self.stream)
        self.batch_hooks = run.callbacks.wants(TRAIN_BATCH_HOOKS)
        self.steps_per_chunk = 1 if self.batch_hooks else (
            max(1, math.ceil((steps or UNKNOWN_STEPS) / LIVE_UPDATES_PER_EPOCH)) if self.live else None)
        self.data_pass, self.pass_step = 0, 0  # with steps_per_epoch: where the running pass over the data is
        self.bar, self.steps_run = None, steps
        # The validation program compiles, then the optimizer state is created, on another core while the
        # training epoch's program compiles here.
        if val_data is not None and not run.callbacks.wants(TEST_BATCH_HOOKS):
            with run_length(val_passes, trainer.model):
                trainer.compile_evaluation_ahead(val_data, val_batch_size)
        if trainer.opt_state is None:
            trainer.create_optimizer_state_ahead()
        if source is None and not isinstance(data, HostArrays) and not steps_per_epoch and self.steps_per_chunk is None:
            trainer.compile_epoch(data, batch_size, shuffle)

    def first_epoch(self, initial_epoch):
        resumed_epoch, self.trainer.resumed_epoch = self.trainer.resumed_epoch, None  # set by BackupAndRestore
        if resumed_epoch is not None:
            initial_epoch = resumed_epoch
            if self.source is not None:
                self.source.replay_epochs(resumed_epoch)
        self.data_pass = initial_epoch
        return initial_epoch

    def starts_epoch(self, run, epoch):
        resume = self.trainer.resume
        return resume is None or resume.epoch != epoch  # a resumed epoch has begun already

    def train(self, epoch, runs):
        trainer, callbacks = self.trainer, self.run.callbacks
        if self.verbose:
            print_epoch_header(epoch, self.epochs, self.stream)
        self.bar = bar = Progbar(self.steps, verbose=self.verbose, stream=self.stream, live=self.live)

        def before_chunk(steps_done):
            if self.batch_hooks:
                callbacks.on_train_batch_begin(steps_done)

        def after_chunk(steps_done, sums):
            running = trainer.logs_from_sums(sums)
            if self.batch_hooks:
                callbacks.on_train_batch_end(steps_done - 1, dict(running))
            bar.update(steps_done, list(running.items()), finalize=False)

        chunking = (self.steps_per_chunk, after_chunk, before_chunk)
        data, source, steps_per_epoch = self.data, self.source, self.steps_per_epoch
        self.steps_run = self.steps
        if source is not None:
            resume, trainer.resume = trainer.resume, None
            start = None
            source.on_epoch_begin()
            if self.shuffle:  # a PyDataset's batch order, drawn when a pass starts, as Keras shuffles it
                source.shuffle_by(scanfit_random.fold_in(trainer.epoch_key(epoch), 2))
            if resume is not None and resume.epoch == epoch:  # BackupAndRestore: on from the saved batch
                source.skip_to(resume.step)
                start = (resume.step, resume.samples, resume.rng, resume.sums)
            sums, self.steps_run = trainer.train_groups(
                epoch, groups(source, steps_per_epoch, self.convert, self.steps_per_chunk), after_chunk,
                before_chunk, start)
            source.on_epoch_end()
            if self.steps_run == 0:
                warnings.warn(f"Epoch {epoch + 1}: x ran out of data, so training stops (as in Keras). Give a "
                              "generator that yields at least steps_per_epoch * epochs batches, or a PyDataset.",
                              UserWarning, stacklevel=5)
                return False
            if steps_per_epoch and self.steps_run < steps_per_epoch:
                warn_short_epoch(epoch, self.steps_run, steps_per_epoch)
        elif isinstance(data, HostArrays) and not steps_per_epoch:
            sums = trainer.train_streamed(epoch, data, self.batch_size, self.shuffle, *chunking)
        elif steps_per_epoch:
            steps_now = min(steps_per_epoch, self.batches - self.pass_step)
            if steps_now < steps_per_epoch:
                warn_short_epoch(epoch, steps_now, steps_per_epoch)
            if isinstance(data, HostArrays):
                sums = trainer.train_streamed(self.data_pass, data, self.batch_size, self.shuffle, *chunking,
                                              self.pass_step, steps_now)
            else:
                sums = trainer.train_steps(self.data_pass, data, self.batch_size, self.shuffle, self.pass_step,
                                           steps_now, *chunking)
            self.pass_step += steps_now
            if self.pass_step >= self.batches:
                self.data_pass, self.pass_step = self.data_pass + 1, 0
        else:
            sums = trainer.train_epoch(epoch, data, self.batch_size, self.shuffle, *chunking)
        self.run.logs = trainer.run_logs(sums)
        return True

    def validate(self, epoch, runs):
        if self.val_data is not None:
            with run_length(self.val_passes, self.trainer.model):
                val_logs = run_evaluation(self.trainer, self.val_data, self.val_batch_size, self.run.callbacks)
            self.run.logs.update({"val_" + name: value for name, value in val_logs.items()})

    def report(self, epoch, runs):
        self.bar.update(self.steps_run, list(self.run.logs.items()), finalize=True)


def warn_short_epoch(epoch, steps_run, steps_per_epoch):
    """Say that epoch `epoch` ended its pass over the data before `steps_per_epoch` steps, as Keras does."""
    warnings.warn(f"Epoch {epoch + 1} ran out of data after {steps_run} of steps_per_epoch={steps_per_epoch} "
                  "steps, as Keras does when a pass over the data ends; the next epoch starts a new pass.",
                  UserWarning, stacklevel=6)


def staged_fit_arrays(model, x, y, sample_weight, class_weight, validation_split, validation_data, allow_nonfinite,
                      validation_steps, val_batch_size):
    """`fit`'s arrays checked, converted and placed (or those of the model's last fit, when they are the same;
    see `scanfit.engine.staging`): ``(trainer, data, validation data or None, number of samples)``."""
    def stage():
        x_, y_, weights, validation = training_data(model, x, y, sample_weight, class_weight, validation_split,
                                                    validation_data, allow_nonfinite)
        if validation is not None and validation_steps:
            validation = first_batches(validation, validation_steps, val_batch_size)
        data = placed(x_, y_, weights)
        return (data_shapes(x_), y_, None if validation is None else validation[1], placed_count(data), data,
                None if validation is None else placed(*validation))

    class_weights = tuple(sorted(class_weight.items())) if isinstance(class_weight, dict) else class_weight
    key = fingerprint((x, y, sample_weight, validation_data),
                      (class_weights, validation_split, allow_nonfinite, validation_steps, val_batch_size,
                       distribution.batch_sharding()))
    x_shapes, y, val_y, num_samples, data, val_data = model.staging.get("fit", key, stage)
    model.ensure_built(x_shapes)
    trainer = trainer_for(model, y)
    check_all_targets(trainer, y)
    if val_y is not None:
        check_all_targets(trainer, val_y)
    return trainer, data, val_data, num_samples


def run_evaluation(trainer, data, batch_size, callback_list):
    """The logs of loss and metrics over `data`, with Keras's test hooks (per batch only when overridden)."""
    callback_list.on_test_begin()
    if callback_list.wants(TEST_BATCH_HOOKS):
        sums = trainer.evaluate(data, batch_size, callback_list.on_test_batch_begin,
                                lambda batch, sums: callback_list.on_test_batch_end(batch, trainer.logs_from_sums(sums)))
    else:
        sums = trainer.evaluate(data, batch_size)
    logs = trainer.run_logs(sums)
    callback_list.on_test_end(logs)
    return logs


def evaluate(model, x, y, *, batch_size, verbose, sample_weight, callbacks, return_dict, allow_nonfinite=False,
             steps=None):
    """Keras's `evaluate`: the loss and metrics over (x, y), or over its first `steps` batches; x may be a
    batch source (a generator, an iterable of batches, a PyDataset)."""
    require_compiled(model)
    warn_if_trainable_changed(model)
    verbose = _verbosity(verbose)
    batch_size_given, batch_size = batch_size, distribution.check_batch_size(as_batch_size(batch_size))
    limit = optional_steps(steps, "steps")
    callbacks = callback_sequence(callbacks)
    source = BatchSource(x, "x") if is_batch_source(x) else None
    refuse_when_sharded("evaluate", steps=limit, x=source is not None)
    if source is not None:
        refuse_with_source("evaluate", batch_size=batch_size_given, y=y, sample_weight=sample_weight)
        trainer = source_trainer(model, source, None, allow_nonfinite)
        data = functools.partial(groups, source, limit, source_converter(model, trainer, source, None,
                                                                         allow_nonfinite))
        steps = limit or source.batches_per_pass()
    else:
        def stage():
            x_, y_ = check_inputs(model, x, y, allow_nonfinite)
            weights = as_sample_weights(y_, sample_weight, None, data_size(x_))
            if limit:
                x_, y_, weights = first_batches((x_, y_, weights), limit, batch_size)
            data_ = placed(x_, y_, weights)
            return data_shapes(x_), y_, placed_count(data_), data_

        key = fingerprint((x, y, sample_weight), (allow_nonfinite, limit, batch_size, distribution.batch_sharding()))
        x_shapes, y, num_samples, data = model.staging.get("evaluate", key, stage)
        model.ensure_built(x_shapes)
        trainer = trainer_for(model, y)
        check_all_targets(trainer, y)
        check_stateful_batches(model, "evaluate", batch_size, num_samples)
        steps = math.ceil(num_samples / batch_size)
    callback_list = CallbackList(callbacks, model, {"verbose": verbose, "epochs": 1, "steps": steps})
    bar = Progbar(steps, verbose=verbose, live=False)
    with run_length(source.samples_in(steps) if source is not None else num_samples, model):
        logs = run_evaluation(trainer, data, batch_size, callback_list)
    bar.update(steps or source.steps_read, list(logs.items()), finalize=True)
    return as_results(logs, return_dict, output_loss_names(trainer))


def as_results(logs, return_dict, output_losses=()):
    """Logs as `evaluate` returns them: the dict with `return_dict`, else the loss alone or [loss, metrics...].
    With `output_losses` (the per-output loss names of a model of several outputs), the list is in Keras 3's
    order: the loss, each output's loss, then the other values by name (``aux_mae`` before ``main_mae``)."""
    if return_dict:
        return logs
    if output_losses:
        first = [name for name in ["loss", *output_losses] if name in logs]
        values = [logs[name] for name in first + sorted(set(logs) - set(first))]
    else:
        values = list(logs.values())
    return values[0] if len(values) == 1 else values


def in_metrics_order(model, logs):
    """`logs` in the order of Keras's list of results: those of ``model.metrics`` in turn (``compile_metrics``'
    each), then the others by name (a scan returns a model's own step's logs sorted by name)."""
    names = []
    for metric in model.metrics:
        result = metric.result()
        names += list(result) if isinstance(result, dict) else [metric.name]
    ordered = [name for name in names if name in logs] + sorted(name for name in logs if name not in names)
    return {name: logs[name] for name in ordered}


def output_loss_names(trainer):
    """The per-output loss names `as_results` puts first (none for a model of one loss, or whose own
    train_step makes the logs)."""
    outputs = getattr(trainer, "outputs", None)
    if outputs is None or len(outputs.losses) < 2:
        return []
    return outputs.log_names()[:len(outputs.losses)]


def train_on_batch(model, x, y, *, sample_weight, class_weight, return_dict, reset_metrics, fit_function=None):
    """Keras's `train_on_batch`: one training step on all of `x` as one batch (a `fit` of one epoch of one batch,
    unshuffled, its keys going on as a fit call's do), and that batch's logs; `model.history` is left alone.
    `fit_function` is the fit that runs it (this module's, by default)."""
    history = model.history
    logs = (fit_function or fit)(
        model, x, y, batch_size=batch_samples(x, "train_on_batch", reset_metrics), epochs=1, verbose=0,
        callbacks=None, validation_split=0.0, validation_data=None, shuffle=False, class_weight=class_weight,
        sample_weight=sample_weight, initial_epoch=0, validation_batch_size=None, validation_freq=1,
        allow_nonfinite=False, steps_per_epoch=None, validation_steps=None, finalize_weights=False).history
    model.history = history
    last = {name: values[-1] for name, values in logs.items()}
    if model.has_own_steps() and not return_dict:  # (its steps' logs come sorted by name)
        last = in_metrics_order(model, last)
    return as_results(last, return_dict, output_loss_names(model.trainer))


def batch_samples(x, method, reset_metrics):
    """How many samples the arrays `x` hold, for `train_on_batch`/`test_on_batch`, which take them as one batch;
    a clear error for what they cannot take (`reset_metrics=False`, a generator)."""
    if reset_metrics is not True:
        raise ValueError(f"{method}(reset_metrics=False) is not supported: scanfit returns each batch's own loss and "
                         "metrics, as Keras 3 does. Average the returned values, or use fit/evaluate for metrics over "
                         "many batches.")
    leaves = [leaf for leaf in jax.tree.leaves(x) if hasattr(leaf, "shape") and len(leaf.shape)]
    if not leaves:
        raise TypeError(f"{method} takes one batch as arrays (NumPy or JAX, or a list or dict of them); got "
                        f"{type(x).__name__}. Give a generator or dataset to fit or evaluate instead.")
    return len(leaves[0])


def predict(model, x, *, batch_size, verbose, callbacks, allow_nonfinite=False, steps=None):
    """Keras's `predict`: model outputs for every sample of `x` (or of its first `steps` batches), as NumPy;
    x may be a batch source, whose batches' targets are ignored."""
    verbose = _verbosity(verbose)
    batch_size_given, batch_size = batch_size, distribution.check_batch_size(as_batch_size(batch_size))
    limit = optional_steps(steps, "steps")
    callbacks = callback_sequence(callbacks)
    source = BatchSource(x, "x") if is_batch_source(x) else None
    refuse_when_sharded("predict", steps=limit, x=source is not None)
    local_rows = None
    if source is not None:
        refuse_with_source("predict", batch_size=batch_size_given)
        first = source.convert(model, 0, (unpack_batch(source.first_batch())[0],), False, None, allow_nonfinite)
        model.ensure_built(data_shapes(first[0]))
        convert = source_converter(model, None, source, None, allow_nonfinite, targets=False)
        steps = limit or source.batches_per_pass()
    else:
        def stage():
            x_, _ = check_inputs(model, x, None, allow_nonfinite)
            if limit:
                x_ = first_batches(x_, limit, batch_size)
            return data_shapes(x_), placed(x_)

        key = fingerprint(x, (allow_nonfinite, limit, batch_size, distribution.batch_sharding()))
        x_shapes, x = model.staging.get("predict", key, stage)
        if not isinstance(x, HostArrays):
            (x,) = x
        model.ensure_built(x_shapes)
        if distribution.shards_data():  # the outputs of this process's own rows
            local = (x_shapes[0] if isinstance(x_shapes, list) else x_shapes)[0]
            local_rows = distribution.process_shard(local * jax.process_count())
        num_samples = data_size(x.arrays if isinstance(x, HostArrays) else x)
        check_stateful_batches(model, "predict", batch_size, num_samples)
        steps = math.ceil(num_samples / batch_size)
    predict_function = model.make_predict_function()
    sample_passes = source.samples_in(steps) if source is not None else num_samples
    callback_list = CallbackList(callbacks, model, {"verbose": verbose, "epochs": 1, "steps": steps})
    callback_list.on_predict_begin()
    bar = Progbar(steps, verbose=verbose, live=False)
    values = model.weight_values()
    carries_state = carries_layer_state(model)
    hooked = callback_list.wants(PREDICT_BATCH_HOOKS)  # then one program per batch, so each hook sees its outputs
    if source is not None or isinstance(x, HostArrays):
        source, convert = (source, convert) if source is not None else (ArraySource(x, batch_size), unchanged)
        pieces = ((group[0], segments) for group, segments, _ in groups(source, limit, convert, 1 if hooked else None))
    elif hooked:
        pieces = ((jax.tree.map(lambda a: a[start:start + batch_size], x), ((1, min(batch_size, num_samples - start)),))
                  for start in range(0, num_samples, batch_size))
    else:
        pieces = [(x, epoch_segments(num_samples, batch_size))]
    parts, batch = [], 0
    with run_length(sample_passes, model):
        for part, segments in pieces:
            if hooked:
                callback_list.on_predict_batch_begin(batch)
            outputs = predict_function(values, part, segments=segments, rng=inference_key(model))
            if carries_state:  # the states the batches left, for the next part and the model
                outputs, values = outputs
                write_back(model, values)
            parts.append(jax.tree.map(np.asarray, outputs))
            if hooked:
                callback_list.on_predict_batch_end(batch, {"outputs": model.structure_outputs(parts[-1])})
            batch += sum(count for count, _ in segments)
    if not parts:
        raise ValueError("predict: x yielded no batches.")
    outputs = parts[0] if len(parts) == 1 else jax.tree.map(lambda *pieces: np.concatenate(pieces), *parts)
    if local_rows is not None:
        outputs = jax.tree.map(lambda a: a[local_rows], outputs)
    bar.update(steps or batch, [], finalize=True)
    callback_list.on_predict_end()
    return model.structure_outputs(outputs)


def metrics_names(model):
    trainer = model.trainer
    if trainer is None:
        return []
    return trainer.metric_names
