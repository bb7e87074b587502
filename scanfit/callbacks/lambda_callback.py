"""LambdaCallback: a callback made of plain functions."""
from scanfit.callbacks.base import Callback


class LambdaCallback(Callback):
    """Build a callback from functions given by hook name.

    ``on_epoch_begin``/``on_epoch_end`` take ``(epoch, logs)``,
    ``on_train_begin``/``on_train_end`` take ``(logs)``, batch hooks take
    ``(batch, logs)``; any other hook of `Callback` can be passed by name.
    Passing a batch hook makes the engine run one step per program.
    """

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None, on_train_end=None,
                 on_train_batch_begin=None, on_train_batch_end=None, **kwargs):
        super().__init__()
        hooks = dict(on_epoch_begin=on_epoch_begin, on_epoch_end=on_epoch_end, on_train_begin=on_train_begin,
                     on_train_end=on_train_end, on_train_batch_begin=on_train_batch_begin,
                     on_train_batch_end=on_train_batch_end)
        for name, function in kwargs.items():
            if not (name.startswith("on_") and hasattr(Callback, name)):
                raise TypeError(f"LambdaCallback got {name!r}, which is not a callback hook.")
            hooks[name] = function
        for name, function in hooks.items():
            if function is not None:
                if not callable(function):
                    raise TypeError(f"LambdaCallback {name} must be callable, got {function!r}.")
                setattr(self, name, function)
