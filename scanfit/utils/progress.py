"""`keras.utils.Progbar`: fit's progress bar for a training loop written by hand, with Keras 3's arguments.

    bar = keras.utils.Progbar(steps, stateful_metrics=["val_loss"])
    for step in range(steps):
        ...
        bar.update(step + 1, values=[("loss", loss)])       # shown as the mean over the steps so far
    bar.add(1, values=[("loss", loss)])                     # `add` counts on from the last update

As in Keras 3, a value is shown as its mean over the steps reported so far, each update weighing it by the
steps it advanced, unless it is stateful (shown as given): a name in `stateful_metrics`, or, when
`stateless_metrics` is given instead, a name not in it. The update that ends the bar shows every value as
given (fit hands it the epoch's means).
"""
import numbers

import numpy as np

from scanfit.engine import progbar


class Progbar:
    """A progress bar for `target` steps (None when unknown); ``verbose`` 0 (silent), 1 (a bar) or 2 (a line
    at the end); ``interval`` the least seconds between redraws; ``unit_name`` what a step is called."""

    def __init__(self, target, width=20, verbose=1, interval=0.05, stateful_metrics=None, stateless_metrics=None,
                 unit_name="step"):
        if stateful_metrics is not None and stateless_metrics is not None:
            raise ValueError("Give Progbar either stateful_metrics (the names shown as given) or stateless_metrics "
                             "(the names averaged), not both.")
        if target is not None and (isinstance(target, bool) or not isinstance(target, numbers.Integral)
                                   or target < 0):
            raise ValueError(f"Progbar target must be a number of steps (an int >= 0) or None, got {target!r}.")
        if verbose not in (0, 1, 2):
            raise ValueError(f"Progbar verbose must be 0, 1 or 2, got {verbose!r}.")
        self.target = None if target is None else int(target)
        self.verbose = verbose
        self.stateful_metrics = None if stateless_metrics is not None else set(stateful_metrics or ())
        self.stateless_metrics = None if stateless_metrics is None else set(stateless_metrics)
        self._bar = progbar.Progbar(self.target, width=width, verbose=verbose, interval=interval,
                                    unit_name=unit_name)
        self._sums = {}  # name -> [weighted sum, weight]
        self._seen_so_far = 0

    def _averaged(self, name):
        if self.stateful_metrics is not None:
            return name not in self.stateful_metrics
        return name in self.stateless_metrics

    def update(self, current, values=None, finalize=None):
        """Show `current` steps done and `values`, ``(name, value)`` pairs; ``finalize=None`` ends the bar once
        `current` reaches the target."""
        if finalize is None:
            finalize = self.target is not None and current >= self.target
        weight = max(current - self._seen_so_far, 1)
        for name, value in values or ():
            value = float(np.mean(np.asarray(value)))
            if self._averaged(name) and not finalize and name in self._sums:
                self._sums[name][0] += value * weight
                self._sums[name][1] += weight
            elif self._averaged(name) and not finalize:
                self._sums[name] = [value * weight, weight]
            else:
                self._sums[name] = [value, 1]
        self._seen_so_far = current
        self._bar.update(current, [(name, total / count) for name, (total, count) in self._sums.items()], finalize)

    def add(self, n, values=None):
        """`update` at `n` steps past the last one."""
        self.update(self._seen_so_far + n, values)
