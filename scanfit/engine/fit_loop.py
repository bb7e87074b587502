"""The epoch loop of `fit`, one for every model: `Model.fit` drives it with one run, `Sweep.fit` with many.

The loop owns what Keras users see of training: the callbacks' hooks in
Keras's order, the History, `model.stop_training`, validation after the
scheduled epochs, and the warning for a non-finite loss. How the epochs are
computed is the driver's (an object with the methods of `EpochDriver`): the
single-model trainer in `scanfit.engine.training`, or the stacked programs of
`scanfit.sweep`.
"""
import math
import warnings

from scanfit.callbacks.base import CallbackList, History
from scanfit.engine import moving_average


class FitRun:
    """One model being fitted: its callbacks (its History last), whether it still trains, and its latest logs."""

    def __init__(self, model, callbacks, params):
        self.model = model
        self.history = History()
        self.callbacks = CallbackList(list(callbacks) + [self.history], model, params)
        self.active = True
        self.logs = {}
        self.warned_nonfinite = False


class EpochDriver:
    """What `run_epochs` asks of the code that trains: override `train`, and the others where needed."""

    def first_epoch(self, initial_epoch):
        """The epoch to start from, once the callbacks have begun (a restored backup may move it on)."""
        return initial_epoch

    def starts_epoch(self, run, epoch):
        """Whether `epoch` begins now for `run` (False when a restored backup resumes inside it)."""
        return True

    def train(self, epoch, runs):
        """Train `runs` (the active ones) for epoch `epoch`, setting each run's ``logs``; False when the data
        ran out, which ends the fit."""
        raise NotImplementedError

    def validate(self, epoch, runs):
        """Add the ``val_`` entries to each run's ``logs`` (called after the epochs `validation_freq` picks)."""

    def report(self, epoch, runs):
        """Show the epoch's logs (the progress bar's last line, or one line per run)."""

    def finish(self, runs):
        """Bring the models up to date before their callbacks' ``on_train_end``."""


def run_epochs(runs, driver, initial_epoch, epochs, should_validate, finalize_weights=True):
    """Fit `runs` (`FitRun`s) from `initial_epoch` to `epochs` with `driver`; a run stops when its callbacks
    set ``model.stop_training``, the others go on. Returns the runs' Histories.

    As a run ends, before its ``on_train_end``, an optimizer with ``use_ema`` sets its weights to their moving
    average, as Keras's fit does when `epochs` > 0 (not with `finalize_weights` False: train_on_batch)."""
    finalize = finalize_weights and epochs > 0
    for run in runs:
        run.model.history = run.history  # as in Keras, from the start of fit (BackupAndRestore refills it)
        run.model.stop_training = False
        run.callbacks.on_train_begin()
    for run in runs:
        if run.model.stop_training:  # restored by BackupAndRestore: the interrupted run had already stopped
            _retire(run, finalize)
    for epoch in range(driver.first_epoch(initial_epoch), epochs):
        active = [run for run in runs if run.active]
        if not active:
            break
        for run in active:
            if driver.starts_epoch(run, epoch):
                run.callbacks.on_epoch_begin(epoch)
        if not driver.train(epoch, active):
            break
        if should_validate(epoch + 1):
            driver.validate(epoch, active)
        driver.report(epoch, active)
        for run in active:
            run.callbacks.on_epoch_end(epoch, run.logs)
            if run.model.stop_training:
                _retire(run, finalize)
            else:
                _warn_nonfinite(run, epoch)
    driver.finish(runs)
    for run in runs:
        if run.active:
            _retire(run, finalize)
        run.model.history = run.history
    return [run.history for run in runs]


def _retire(run, finalize):
    run.active = False
    if finalize:
        moving_average.finalize(run.model)
    run.callbacks.on_train_end(run.logs)


def _warn_nonfinite(run, epoch):
    """Say once per run that its loss is NaN or infinite (TerminateOnNaN, when given, has stopped it instead)."""
    loss = run.logs.get("loss")
    if run.warned_nonfinite or loss is None or math.isfinite(loss):
        return
    run.warned_nonfinite = True
    warnings.warn(f"Epoch {epoch + 1}: the training loss is {loss}; training goes on and the History records it. "
                  "Pass callbacks=[TerminateOnNaN()] to stop at the first bad batch.", RuntimeWarning, stacklevel=5)
