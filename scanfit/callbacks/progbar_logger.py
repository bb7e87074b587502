"""`ProgbarLogger`: the progress display of `fit`, `evaluate` and `predict` as a callback's name.

As in Keras 3, `fit` (and `evaluate`, `predict`) shows progress whenever ``verbose`` is not 0, and a
`ProgbarLogger` passed in `callbacks` does not add a second display: scanfit's engine draws that one display
itself (see `scanfit.engine.progbar`), between compiled chunks of steps, so this callback needs no hook of its
own and keeps the one-program epoch. It takes no arguments, as Keras 3's does.
"""
from scanfit.callbacks.base import Callback


class ProgbarLogger(Callback):
    """The progress display, which `fit`/`evaluate`/`predict` show once for ``verbose`` 1 or 2 whether or not
    this callback is among their `callbacks`."""
