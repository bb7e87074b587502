"""Callback base class, the list that dispatches hooks, and History."""
from scanfit.plot import learning_curves

TRAIN_BATCH_HOOKS = ("on_batch_begin", "on_batch_end", "on_train_batch_begin", "on_train_batch_end")
TEST_BATCH_HOOKS = ("on_test_batch_begin", "on_test_batch_end")
PREDICT_BATCH_HOOKS = ("on_predict_batch_begin", "on_predict_batch_end")


class Callback:
    """Base class for training callbacks; override any of Keras's hooks.

    ``self.model`` is the model being trained and ``self.params`` holds
    ``{'verbose', 'epochs', 'steps'}``. Overriding a batch hook makes the
    engine run the epoch one step per program so the hook sees every batch
    (callbacks that use only epoch hooks keep the one-program epoch).

    Two optional methods let `BackupAndRestore` carry a callback's progress
    across an interrupted run: ``backup_state()`` returns a dict of JSON
    values and lists of arrays, ``restore_backup_state(state)`` takes it back.
    """

    #: Hooks this instance defines but does not need (lets a callback keep the one-program epoch).
    _ignored_hooks = ()
    #: Run this callback's hooks after every other callback's (BackupAndRestore saves the others' state).
    _dispatch_last = False

    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def on_train_begin(self, logs=None): ...
    def on_train_end(self, logs=None): ...
    def on_epoch_begin(self, epoch, logs=None): ...
    def on_epoch_end(self, epoch, logs=None): ...
    def on_batch_begin(self, batch, logs=None): ...
    def on_batch_end(self, batch, logs=None): ...
    def on_train_batch_begin(self, batch, logs=None): self.on_batch_begin(batch, logs=logs)
    def on_train_batch_end(self, batch, logs=None): self.on_batch_end(batch, logs=logs)
    def on_test_begin(self, logs=None): ...
    def on_test_end(self, logs=None): ...
    def on_test_batch_begin(self, batch, logs=None): ...
    def on_test_batch_end(self, batch, logs=None): ...
    def on_predict_begin(self, logs=None): ...
    def on_predict_end(self, logs=None): ...
    def on_predict_batch_begin(self, batch, logs=None): ...
    def on_predict_batch_end(self, batch, logs=None): ...


def overrides_any(callback, hook_names):
    """Whether `callback` (its class, or the instance as in LambdaCallback) overrides one of the named hooks."""
    ignored = getattr(callback, "_ignored_hooks", ())
    for name in hook_names:
        if name in ignored:
            continue
        if name in getattr(callback, "__dict__", {}):
            return True
        if hasattr(type(callback), name) and getattr(type(callback), name) is not getattr(Callback, name):
            return True
    return False


class CallbackList:
    """Calls each hook on every callback, in order (callbacks marked ``_dispatch_last`` at the end)."""

    def __init__(self, callbacks, model, params):
        callbacks = list(callbacks)
        self.callbacks = sorted(callbacks, key=lambda cb: bool(getattr(cb, "_dispatch_last", False)))
        for callback in self.callbacks:
            if not hasattr(callback, "on_epoch_end"):
                raise TypeError(f"callbacks must be Callback objects, got {callback!r}")
            callback.set_model(model)
            callback.set_params(params)
            if hasattr(callback, "set_callbacks"):
                callback.set_callbacks(self.callbacks)

    def wants(self, hook_names):
        return any(overrides_any(cb, hook_names) for cb in self.callbacks)

    def __getattr__(self, hook):
        """``callbacks.on_<hook>(...)``: call the hook on every callback, with ``logs={}`` when none is given.

        As in Keras, epoch and begin/end hooks get `logs` positionally, batch hooks as ``logs=``.
        """
        if not hook.startswith("on_") or not hasattr(Callback, hook):
            raise AttributeError(hook)
        batch_hook = "batch" in hook
        takes_index = batch_hook or hook.startswith("on_epoch")

        def dispatch(*args, logs=None):
            index, rest = (args[0], args[1:]) if takes_index else (None, args)
            if rest:
                (logs,) = rest
            logs = {} if logs is None else logs
            for callback in self.callbacks:
                if hook in getattr(callback, "_ignored_hooks", ()):
                    continue  # e.g. BackupAndRestore(save_freq="epoch") has no use for batch hooks
                method = getattr(callback, hook)
                if batch_hook:
                    method(index, logs=logs)
                elif takes_index:
                    method(index, logs)
                else:
                    method(logs)

        return dispatch


class History(Callback):
    """Records each epoch's logs: ``history.history['val_loss']`` etc.

    The ``learning_rate`` that the learning-rate callbacks add to the logs (Keras
    3's key) is also recorded as ``lr``, tf.keras 2's key for it; the logs that
    other callbacks see (CSVLogger, TensorBoard) stay Keras 3's.
    """

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        logs = dict(logs or {})
        if "learning_rate" in logs:
            logs.setdefault("lr", logs["learning_rate"])
        for key, value in logs.items():
            self.history.setdefault(key, []).append(value)
        if self.model is not None:
            self.model.history = self

    def to_dataframe(self):
        """The history as a pandas DataFrame, one row per epoch (needs pandas)."""
        try:
            import pandas
        except ImportError as error:
            raise ImportError("History.to_dataframe() needs pandas: pip install pandas") from error
        return pandas.DataFrame(self.history, index=self.epoch)

    def plot(self, **kwargs):
        """Learning curves of this history; see `scanfit.plot.learning_curves` for the options."""
        return learning_curves(self, **kwargs)

    def __repr__(self):
        return f"<History epochs={len(self.epoch)} keys={list(self.history)}>"
