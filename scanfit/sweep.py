"""Sweep: train many small models together, every epoch of all of them one compiled program.

    sweep = scanfit.Sweep(build, scanfit.Sweep.grid(optimizer=["sgd", "rmsprop", "adagrad", "adam"], seed=[0, 1]))
    histories = sweep.fit(x, y, epochs=10, batch_size=128, validation_data=(xv, yv))
    sweep.results()                                   # final and best metrics, one row per run
    sweep.plot("optimizer", dataset="MNIST", path="optimizers.png")

``build(**params)`` returns a compiled model, once per parameter dict. Runs
whose models share an architecture are stacked with `vmap` into one training
step, whatever their optimizers and learning rates; other architectures get
steps of their own in the same compiled epoch (see `scanfit.engine.stacked`).

Random state: when a parameter dict holds a ``seed`` (not None), the sweep
calls ``scanfit.utils.set_random_seed(seed)`` just before ``build(**params)``
(which receives the seed too). Each run then equals, to float rounding, the
run trained alone with the same arguments::

    scanfit.utils.set_random_seed(seed); model = build(**params); model.fit(x, y, ...)

Runs without a seed draw from scanfit's global key stream, in order, as
building and fitting them one after another would.
"""
import copy
import itertools
import time

import jax
import numpy as np

from scanfit import distribution, optimizers, plot
from scanfit import seeding as scanfit_random
from scanfit.callbacks.backup_and_restore import BackupAndRestore
from scanfit.callbacks.base import TEST_BATCH_HOOKS, TRAIN_BATCH_HOOKS
from scanfit.callbacks.swap_ema_weights import SwapEMAWeights
from scanfit.engine.data import (
    as_batch_size,
    as_sample_weights,
    check_epochs,
    check_inputs,
    check_targets,
    training_data,
)
from scanfit.engine.fit_loop import EpochDriver, FitRun, run_epochs
from scanfit.engine.programs import chunk_plan, epoch_seeds, epoch_segments, merge_values, split_values
from scanfit.engine.state import TrainState
from scanfit.engine.stacked import Group, StackedPrograms, step_signature, update_signature
from scanfit.engine.training import (
    _verbosity,
    carries_layer_state,
    device_data,
    require_compiled,
    run_evaluation,
    trainer_for,
    validation_schedule,
    write_back,
)
from scanfit.interactive_logging import print_msg

PATH_ATTRIBUTES = ("filepath", "filename", "log_dir")


class _Run:
    """One parameter dict's model, trainer and callbacks, and where its training stands within the sweep."""

    def __init__(self, index, params, model, trainer):
        self.index, self.params, self.model, self.trainer = index, params, model, trainer
        self.position = None  # its place in the stacked state
        self.fit = None  # its `FitRun` in the running (or last) fit: callbacks, History, logs, whether it trains
        self.watched = False  # it has callbacks: its model is kept up to date after every epoch
        self.unwritten_steps = 0  # steps in the stacked state not yet written into the model
        self.mark = None  # what its model held when last stacked or written (to notice changes made outside)

    @property
    def active(self):
        return self.fit is not None and self.fit.active

    @property
    def callbacks(self):
        return self.fit.callbacks

    def current_mark(self):
        optimizer = self.model.optimizer
        learning_rate = None
        if not getattr(optimizer, "_is_scheduled", False) and hasattr(optimizer, "learning_rate"):
            learning_rate = optimizer.learning_rate
        return [variable.value for variable in self.model.weights] + [self.trainer.opt_state, learning_rate]

    def changed(self):
        """Whether its weights, optimizer state or learning rate were replaced since they were last stacked."""
        now = self.current_mark()
        return any(old is not new for old, new in zip(self.mark[:-1], now[:-1])) or self.mark[-1] != now[-1]


class Sweep:
    """Many runs of `build(**params)`, trained together; see the module docstring."""

    def __init__(self, build, params):
        if not callable(build):
            raise TypeError(f"build must be a function returning a compiled model, got {build!r}.")
        if isinstance(params, dict) or not isinstance(params, (list, tuple)):
            raise TypeError("params must be a list of dicts (e.g. Sweep.grid(optimizer=['sgd', 'adam'])), "
                            f"got {type(params).__name__}.")
        if not params:
            raise ValueError("params is empty: a sweep needs at least one parameter dict.")
        for item in params:
            if not isinstance(item, dict):
                raise TypeError(f"Each entry of params must be a dict of build() arguments, got {item!r}.")
        self.build = build
        self.params = [dict(item) for item in params]
        self.histories = None
        self._runs = None
        self._programs = None
        self._layout = None

    @staticmethod
    def grid(**values):
        """Every combination of the given values, the last name varying fastest, as a list of dicts.

        A list, tuple or range gives the values of its name; anything else is one value.
        """
        names = list(values)
        options = [list(v) if isinstance(v, (list, tuple, range)) else [v] for v in values.values()]
        for name, option in zip(names, options):
            if not option:
                raise ValueError(f"Sweep.grid got no values for {name!r}.")
        return [dict(zip(names, combination)) for combination in itertools.product(*options)]

    @property
    def models(self):
        """The runs' models, in the order of `params` (built by the first `fit`)."""
        if self._runs is None:
            raise RuntimeError("The sweep's models are built by its first fit(): call sweep.fit(x, y, ...) first.")
        return [run.model for run in self._runs]

    @property
    def groups(self):
        """The stacked groups, as lists of run indices per optimizer subgroup (one program step each)."""
        if self._programs is None:
            raise RuntimeError("The sweep is grouped by its first fit(): call sweep.fit(x, y, ...) first.")
        groups, position = [], 0
        for group in self._programs.groups:
            subgroups = []
            for size in group.sizes:
                subgroups.append([run.index for run in self._layout[position:position + size]])
                position += size
            groups.append(subgroups)
        return groups

    # --- building and grouping ---------------------------------------------------
    def _build(self, x_shape, y):
        runs = []
        for index, params in enumerate(self.params):
            if params.get("seed") is not None:
                scanfit_random.set_seed(params["seed"])
            model = self.build(**params)
            if not hasattr(model, "ensure_built"):
                raise TypeError(f"build(**{params!r}) returned {type(model).__name__}, not a scanfit model.")
            require_compiled(model)
            if isinstance(model.optimizer, optimizers.LossScaleOptimizer):
                raise NotImplementedError(
                    f"build(**{params!r}) returned a model compiled with loss scaling (a LossScaleOptimizer, which "
                    "compile adds under the 'mixed_float16' policy); a Sweep does not scale losses yet. Use "
                    "'mixed_bfloat16', or compile with auto_scale_loss=False, or fit that model with model.fit().")
            if isinstance(model.output_shape, list) or len(getattr(model, "input_names", [None])) > 1:
                raise ValueError(f"build(**{params!r}) returned a model of several inputs or outputs; a Sweep "
                                 "trains models of one input and one output. Fit that model with model.fit().")
            model.ensure_built(x_shape)
            if model.has_own_steps():
                raise ValueError(f"build(**{params!r}) returned a model whose class defines its own train_step, "
                                 "test_step or compute_loss, which a Sweep does not run; fit that model with "
                                 "model.fit().")
            if carries_layer_state(model):
                raise ValueError(f"build(**{params!r}) returned a model with stateful layers, whose states a Sweep "
                                 "does not carry (recurrent layers with stateful=True, or a layer whose call() "
                                 "assigns a variable outside training); fit that model with model.fit().")
            if any(model is run.model for run in runs):
                raise ValueError(f"build(**{params!r}) returned a model it had returned before: "
                                 "each run needs a model of its own.")
            runs.append(_Run(index, params, model, trainer_for(model, y)))  # the base key, drawn as Model.fit draws it
        return runs

    def _group(self, x, y, batch_size):
        """Stack the runs: by training step (architecture), then by optimizer update."""
        batch = min(batch_size, len(x))
        batch_spec = (jax.ShapeDtypeStruct((batch,) + x.shape[1:], x.dtype),
                      jax.ShapeDtypeStruct((batch,) + y.shape[1:], y.dtype),
                      jax.ShapeDtypeStruct((batch,), np.float32))
        by_step = {}
        for run in self._runs:
            trainer = run.trainer
            trainable, fixed = split_values(run.model.weight_values(), trainer.mask)
            if trainer.opt_state is None:  # Trainer.optimizer_state()'s state, without a compiled program per run
                trainer.opt_state = trainer.transform.init(trainable)
            step = step_signature(trainer.programs, trainable, fixed, trainer.base_key, batch_spec)
            update = update_signature(trainer.programs, trainable, trainer.optimizer_state())
            by_step.setdefault(step, {}).setdefault(update, []).append(run)
        groups, layout = [], []
        for subgroups in by_step.values():
            members = list(subgroups.values())
            groups.append(Group(members[0][0].trainer.programs, tuple(m[0].trainer.programs for m in members),
                                tuple(len(m) for m in members)))
            layout += [run for m in members for run in m]
        for position, run in enumerate(layout):
            run.position = position
        self._programs = StackedPrograms(groups)
        self._layout = layout

    # --- training --------------------------------------------------------------------
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
            validation_data=None, shuffle=True, class_weight=None, sample_weight=None, initial_epoch=0,
            validation_batch_size=None, validation_freq=1, allow_nonfinite=False):
        """Train every run as `Model.fit` would, all in one compiled program per epoch; one History per run.

        The arguments are `Model.fit`'s. `callbacks` is a list, copied for
        each run (so each has its own EarlyStopping or ModelCheckpoint
        state), or a function ``callbacks(index, params)`` returning a run's
        list (needed for callbacks that write files, to give each run its
        own path). A run whose callbacks stop it stops updating; the others
        go on. The weights stay stacked on the device between epochs: a
        run's model is brought up to date after every epoch when the run has
        callbacks (which may look at it), else when `fit` returns.
        verbose >= 1 prints one line per run and epoch.
        """
        verbose = _verbosity(verbose)
        batch_size = as_batch_size(batch_size)
        if distribution.batch_sharding() is not None:
            raise NotImplementedError("Sweep.fit does not run under a scanfit.distribution yet; "
                                      "train the sweep without one (or train its models one by one).")
        check_epochs(epochs, initial_epoch)
        should_validate = validation_schedule(validation_freq)
        x, y, weights, validation = training_data(None, x, y, sample_weight, class_weight, validation_split,
                                                  validation_data, allow_nonfinite)
        run_callbacks = [self._callbacks_for(callbacks, index, params) for index, params in enumerate(self.params)]
        if self._runs is None:
            self._runs = self._build(x.shape, y)
        for run in self._runs:
            run.model.ensure_built(x.shape)
            trainer = trainer_for(run.model, y)
            if trainer is not run.trainer:  # recompiled since the last fit
                run.trainer, self._programs = trainer, None
            check_targets(trainer.loss, y, run.model.output_shape)
            if validation is not None:
                check_targets(trainer.loss, validation[1], run.model.output_shape)
        if self._programs is None:
            self._group(x, y, batch_size)
        data = device_data(x, y, weights)
        val_data = None if validation is None else device_data(*validation)
        val_batch_size = as_batch_size(validation_batch_size) if validation_batch_size else batch_size
        steps = -(-len(x) // batch_size)

        for run, own in zip(self._runs, run_callbacks):
            run.fit = FitRun(run.model, own, {"verbose": verbose, "epochs": epochs, "steps": steps})
            run.watched = bool(own)
            run.trainer.begin_fit(initial_epoch)
        self.histories = [run.fit.history for run in self._runs]
        steps_per_chunk = 1 if any(run.callbacks.wants(TRAIN_BATCH_HOOKS) for run in self._runs) else None
        driver = _SweepEpochs(self._runs, self._layout, self._programs, data, val_data, batch_size, val_batch_size,
                              shuffle, steps_per_chunk, verbose, epochs)
        driver.restack()
        return run_epochs([run.fit for run in self._runs], driver, initial_epoch, epochs, should_validate)

    def _callbacks_for(self, callbacks, index, params):
        """Run `index`'s own callbacks: from the factory, or copies of the list."""
        if callbacks is None:
            return []
        if callable(callbacks):
            made = list(callbacks(index, dict(params)) or [])
        else:
            made = []
            for callback in callbacks:
                path = next((getattr(callback, a) for a in PATH_ATTRIBUTES if getattr(callback, a, None)), None)
                if path is not None and len(self.params) > 1:
                    raise ValueError(
                        f"{type(callback).__name__} writes to {path!r}, so the {len(self.params)} runs would "
                        "overwrite each other's files. Pass callbacks=lambda index, params: [...] to give each "
                        "run its own path.")
                held = getattr(callback, "model", None)
                made.append(copy.deepcopy(callback, {id(held): None} if held is not None else {}))
        for callback in made:
            if isinstance(callback, BackupAndRestore):
                raise NotImplementedError("BackupAndRestore is not supported in a sweep; use it with Model.fit.")
            if isinstance(callback, SwapEMAWeights):  # (a sweep validates every run at once, from its stacked state)
                raise NotImplementedError("SwapEMAWeights is not supported in a sweep, whose validation cannot swap "
                                          "in a run's moving average; use it with Model.fit (a sweep's runs with "
                                          "use_ema=True do end with their weights set to the average).")
        return made

    def evaluate(self, x, y, batch_size=None, sample_weight=None, allow_nonfinite=False):
        """Every model's loss and metrics on (x, y), as `Model.evaluate(..., return_dict=True)` gives them,
        all computed by one program; a list of dicts in the order of `params`."""
        if self._programs is None:
            raise RuntimeError("The sweep's models are built by its first fit(): call sweep.fit(x, y, ...) first.")
        x, y = check_inputs(None, x, y, allow_nonfinite)
        for run in self._runs:
            run.model.ensure_built(x.shape)
            check_targets(run.trainer.loss, y, run.model.output_shape)
        data = device_data(x, y, as_sample_weights(y, sample_weight, None, len(x)))
        states = self._programs.stack([run.trainer.epoch_start_state(0)[:3] for run in self._layout])
        per_run = self._programs.evaluate_runs(states, data, as_batch_size(batch_size), inference_keys(self._layout))
        logs = {run.index: run.trainer.run_logs(sums) for run, sums in zip(self._layout, per_run)}
        return [logs[index] for index in range(len(self._runs))]

    # --- results -----------------------------------------------------------------------
    def results(self, monitor="val_loss"):
        """One row per run: its params, epochs trained, final value and best value of every metric.

        ``best_epoch`` is the epoch where `monitor` (else ``loss``) was best.
        A pandas DataFrame when pandas is installed, else a list of dicts.
        """
        if self.histories is None:
            raise RuntimeError("No results yet: call sweep.fit(x, y, ...) first.")
        rows = []
        for run, history in zip(self._runs, self.histories):
            row = {**run.params, "epochs": len(history.epoch)}
            logs = history.history
            row.update({key: values[-1] for key, values in logs.items() if values})
            row.update({f"best_{key}": _best(history, key)[1] for key, values in logs.items() if values})
            row["best_epoch"] = _best(history, monitor if monitor in logs else "loss")[0]
            rows.append(row)
        try:
            import pandas
        except ImportError:
            return rows
        return pandas.DataFrame(rows)

    def histories_by(self, name):
        """``{value: [histories]}``: the runs' Histories grouped by their parameter `name`, in order."""
        if self.histories is None:
            raise RuntimeError("No histories yet: call sweep.fit(x, y, ...) first.")
        if any(name not in params for params in self.params):
            raise KeyError(f"Not every run has a parameter {name!r}; the parameters are {sorted(self.params[0])}.")
        grouped = {}
        for params, history in zip(self.params, self.histories):
            grouped.setdefault(_short(params[name]), []).append(history)
        return grouped

    def plot(self, by, **kwargs):
        """`scanfit.plot.compare_runs` of the runs grouped by parameter `by`: the mean curve per value."""
        return plot.compare_runs(self.histories_by(by), **kwargs)

    def __repr__(self):
        return f"<Sweep runs={len(self.params)} fitted={self.histories is not None}>"


class _SweepEpochs(EpochDriver):
    """The epochs of one `Sweep.fit`, for `fit_loop.run_epochs`: every active run's epoch in one program.

    The runs' weights and optimizer states stay stacked on the device
    (`states`) between epochs; a run's model is brought up to date after
    every epoch when it has callbacks (which may look at it), else at the end.
    """

    def __init__(self, runs, layout, programs, data, val_data, batch_size, val_batch_size, shuffle, steps_per_chunk,
                 verbose, epochs):
        self.runs, self.layout, self.programs = runs, layout, programs
        self.data, self.val_data = data, val_data
        self.batch_size, self.val_batch_size, self.shuffle = batch_size, val_batch_size, shuffle
        self.steps_per_chunk, self.verbose, self.epochs = steps_per_chunk, verbose, epochs
        self.states = self.carries = self.started = None

    def train(self, epoch, runs):
        self.started = time.perf_counter()
        if any(run.changed() for run in self.runs):  # a callback set weights or a learning rate
            self.restack()
        self.carries = self._train_stacked(epoch)
        for run, sums in zip(self.layout, self.programs.sums(self.carries)):
            if run.active:
                run.fit.logs = run.trainer.run_logs(sums)
        self.write_back([run for run in self.runs if run.active and run.watched])
        return True

    def finish(self, runs):
        self.write_back(self.runs)

    def restack(self):
        """Stack every run's weights and optimizer state from its model (writing back pending steps first)."""
        self.write_back(self.runs)
        self.states = self.programs.stack([run.trainer.epoch_start_state(0)[:3] for run in self.layout])
        for run in self.runs:
            run.mark = run.current_mark()

    def _epoch_seeds(self, epoch):
        """Every run's `epoch_seeds` for `epoch`, stacked in run order: (shuffle seeds, dropout keys)."""
        seeds = [epoch_seeds(run.trainer.epoch_key(epoch)) for run in self.layout]
        return tuple(np.stack(part) for part in zip(*seeds))

    def _train_stacked(self, epoch):
        """One epoch of every active run (the others keep their state); returns the carries."""
        data, batch_size, shuffle, steps_per_chunk = self.data, self.batch_size, self.shuffle, self.steps_per_chunk
        programs = self.programs
        num_samples = data[0].shape[0]
        active = np.array([run.active for run in self.layout])
        for run in self.runs:
            if run.active and run.trainer.record_epoch_start:  # TerminateOnNaN replays this run alone from here
                trainable, fixed, opt_state, key = run.trainer.epoch_start_state(epoch)
                carry = TrainState(trainable, fixed, opt_state, epoch_seeds(key)[1], run.trainer.programs.empty_sums())
                run.trainer.epoch_start = (epoch, carry, 0, data, batch_size, shuffle)
        seeds = self._epoch_seeds(epoch)
        if steps_per_chunk is None:
            segments = epoch_segments(num_samples, batch_size)
            carries = programs.train_epoch(self.states, seeds, active, data, segments=segments, shuffle=shuffle)
            self._advance(carries, sum(count for count, _ in segments))
            return carries
        carries, orders = programs.begin_chunks(self.states, seeds, num_samples=num_samples, shuffle=shuffle)
        steps_done = 0
        for start, segments in chunk_plan(num_samples, batch_size, steps_per_chunk):
            hooked = [run for run in self.runs if run.active and run.callbacks.wants(TRAIN_BATCH_HOOKS)]
            for run in hooked:
                run.callbacks.on_train_batch_begin(steps_done)
            carries = programs.train_chunk(carries, active, data, orders, start, segments=segments)
            steps = sum(count for count, _ in segments)
            steps_done += steps
            self._advance(carries, steps)
            if hooked:
                self.write_back(hooked)
                sums = programs.sums(carries)
                for run in hooked:
                    run.callbacks.on_train_batch_end(steps_done - 1, run.trainer.logs_from_sums(sums[run.position]))
        return carries

    def _advance(self, carries, steps):
        self.states = tuple((carry.trainable, carry.fixed, carry.opt_state) for carry in carries)
        for run in self.runs:
            if run.active:
                run.unwritten_steps += steps

    def write_back(self, runs):
        """Write the stacked weights and optimizer states of `runs` that trained since into their models."""
        pending = {run.position: run for run in runs if run.unwritten_steps}
        if not pending:
            return
        for position, (trainable, fixed, opt_state) in self.programs.unstack(self.states, pending).items():
            run = pending[position]
            run.trainer.opt_state = opt_state
            optimizer = run.model.optimizer
            optimizer.iterations = int(optimizer.iterations) + run.unwritten_steps
            write_back(run.model, merge_values(trainable, fixed))
            run.unwritten_steps = 0
            run.mark = run.current_mark()

    def validate(self, epoch, runs):
        """Add every active run's ``val_`` logs: one program for all, or the run's own with test batch hooks."""
        val_data, batch_size = self.val_data, self.val_batch_size
        if val_data is None:
            return
        per_run = self.programs.evaluate_runs(self.carries, val_data, batch_size, inference_keys(self.layout))
        for run, run_sums in zip(self.layout, per_run):
            if not run.active:
                continue
            if run.callbacks.wants(TEST_BATCH_HOOKS):
                val_logs = run_evaluation(run.trainer, val_data, batch_size, run.callbacks)
            else:
                run.callbacks.on_test_begin()
                val_logs = run.trainer.run_logs(run_sums)
                run.callbacks.on_test_end(val_logs)
            run.fit.logs.update({"val_" + name: value for name, value in val_logs.items()})

    def report(self, epoch, runs):
        if not self.verbose:
            return
        active, seconds, epochs = [run for run in self.runs if run.active], time.perf_counter() - self.started, self.epochs
        print_msg(f"Epoch {epoch + 1}/{epochs} - {len(active)} run{'s' * (len(active) != 1)} - {seconds:.2f}s")
        for run in active:
            logs = " - ".join(f"{name}: {value:.4f}" for name, value in run.fit.logs.items())
            print_msg(f"  [{run.index}] {_label(run.params)}: {logs}")


def inference_keys(runs):
    """One new key per run (stacked order) when a run's model draws random numbers at inference, else None."""
    if not any(run.model.draws_at_inference() for run in runs):
        return None
    return np.stack([scanfit_random.next_key() for _ in runs])


def _best(history, key):
    """(epoch, value) where `key` was best, or (None, nan) when it never was a number."""
    try:
        return plot.best_epoch(history, key)
    except (KeyError, ValueError):
        return None, float("nan")


def _short(value):
    """A parameter value as a readable, hashable key (an optimizer or other object by its name)."""
    if isinstance(value, (str, int, float, bool, type(None))):
        return value
    return getattr(value, "name", None) or repr(value)


def _label(params):
    return ", ".join(f"{name}={_short(value)}" for name, value in params.items())
