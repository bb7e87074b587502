"""Callback base class, the list that dispatches hooks, and History."""

TRAIN_BATCH_HOOKS = ("on_batch_begin", "on_batch_end", "on_train_batch_begin", "on_train_batch_end")
TEST_BATCH_HOOKS = ("on_test_batch_begin", "on_test_batch_end")
PREDICT_BATCH_HOOKS = ("on_predict_batch_begin", "on_predict_batch_end")


class Callback:
    """Base class for training callbacks; override any of Keras's hooks.

    ``self.model`` is the model being trained and ``self.params`` holds
    ``{'verbose', 'epochs', 'steps'}``. Overriding a batch hook makes the
    engine run the epoch one step per program so the hook sees every batch
    (callbacks that use only epoch hooks keep the one-program epoch).
    """

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
    """Whether `callback`'s class overrides one of the named hooks of `Callback`."""
    return any(
        getattr(type(callback), name, None) is not getattr(Callback, name)
        for name in hook_names
        if hasattr(type(callback), name)
    )


class CallbackList:
    """Calls each hook on every callback, in order."""

    def __init__(self, callbacks, model, params):
        self.callbacks = list(callbacks)
        for callback in self.callbacks:
            if not hasattr(callback, "on_epoch_end"):
                raise TypeError(f"callbacks must be Callback objects, got {callback!r}")
            callback.set_model(model)
            callback.set_params(params)

    def wants(self, hook_names):
        return any(overrides_any(cb, hook_names) for cb in self.callbacks)

    def __getattr__(self, hook):
        if not hook.startswith("on_"):
            raise AttributeError(hook)

        def dispatch(*args, **kwargs):
            for callback in self.callbacks:
                getattr(callback, hook)(*args, **kwargs)

        return dispatch


class History(Callback):
    """Records each epoch's logs: ``history.history['val_loss']`` etc."""

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
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

    def __repr__(self):
        return f"<History epochs={len(self.epoch)} keys={list(self.history)}>"
