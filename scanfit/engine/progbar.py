"""Console progress display in the tf.keras 2 format.

verbose=1, finished::

    1500/1500 [==============================] - 3s 2ms/step - loss: 0.5272

verbose=1, running (live displays only: terminals and Jupyter notebooks)::

      50/1500 [>.............................] - ETA: 2s - loss: 0.5272

verbose=2 (one line when finished)::

    1500/1500 - 3s - loss: 0.5272 - 3s/epoch - 2ms/step

Like tf.keras 2, the time per step leaves out the first step (compilation)
whenever step 1 was reported. A notebook (a Jupyter kernel's stdout) redraws
the line with ``\r`` as a terminal does, since Jupyter and Colab render a
carriage return in place, but at most every ``NOTEBOOK_INTERVAL`` seconds.
"""
import sys
import time

from scanfit.interactive_logging import console

TERMINAL_INTERVAL = 0.05  # seconds between redraws on a terminal
NOTEBOOK_INTERVAL = 0.25  # in a notebook, where each redraw is a message to the browser


def in_notebook_kernel():
    """Whether this process is a Jupyter kernel (IPython's ``ZMQInteractiveShell`` or a subclass, as in Colab)."""
    zmqshell = sys.modules.get("ipykernel.zmqshell")
    if zmqshell is None:
        return False
    from IPython import get_ipython

    return isinstance(get_ipython(), zmqshell.ZMQInteractiveShell)


def is_notebook_stream(stream):
    """Whether ``stream`` is a Jupyter kernel's output stream (what ``sys.stdout`` is in a notebook)."""
    iostream = sys.modules.get("ipykernel.iostream")
    return iostream is not None and isinstance(stream, iostream.OutStream) and in_notebook_kernel()


def is_live(stream=None):
    """Whether a progress bar on ``stream`` (None: `console()`) can redraw in place: a terminal or a notebook."""
    out = console() if stream is None else stream
    isatty = getattr(out, "isatty", None)
    return bool(isatty and isatty()) or is_notebook_stream(out)


def print_epoch_header(epoch_index, epochs, stream=None):
    """Print ``Epoch i/n`` for the zero-based ``epoch_index``."""
    out = console() if stream is None else stream
    out.write(f"Epoch {epoch_index + 1}/{epochs}\n")
    out.flush()


def format_value(value):
    """Metric value as ``%.4f``, or ``%.4e`` when ``|value| <= 1e-3`` (zero too)."""
    value = float(value)
    return "%.4f" % value if abs(value) > 1e-3 else "%.4e" % value


def format_per_unit(seconds, unit_name):
    """Duration per unit, e.g. ``2s/step``, ``12ms/step``, ``420us/step``."""
    if seconds >= 1 or seconds == 0:
        return "%.0fs/%s" % (seconds, unit_name)
    if seconds >= 1e-3:
        return "%.0fms/%s" % (seconds * 1e3, unit_name)
    return "%.0fus/%s" % (seconds * 1e6, unit_name)


def format_eta(seconds):
    """Remaining time as ``h:mm:ss``, ``m:ss`` or ``Ns``."""
    s = int(seconds)
    if seconds > 3600:
        return "%d:%02d:%02d" % (s // 3600, (s % 3600) // 60, s % 60)
    if seconds > 60:
        return "%d:%02d" % (s // 60, s % 60)
    return "%ds" % s


class Progbar:
    """Progress bar for ``target`` steps (``None`` when unknown).

    ``live=None`` means ``is_live(stream)``. A live display redraws one line
    with ``\\r`` at most every ``interval`` seconds (None: ``TERMINAL_INTERVAL``,
    or ``NOTEBOOK_INTERVAL`` on a notebook's stream); otherwise only the final
    line is written. ``stream=None`` means `console()` at each write: ``sys.stdout``, or absl logging when
    interactive logging is off.
    """

    def __init__(self, target, width=30, verbose=1, stream=None, interval=None,
                 unit_name="step", live=None, clock=time.monotonic):
        self.target = target
        self.width = width
        self.verbose = verbose
        self.stream = stream
        self.interval = interval
        self.unit_name = unit_name
        self.live = live
        self._clock = clock
        self._values = {}
        self._start = clock()
        self._after_first_step = None
        self._last_draw = None
        self._drawn_width = 0

    def update(self, current, values=None, finalize=None):
        """Report ``current`` steps done; ``values`` are ``(name, mean)`` pairs.

        ``finalize=None`` finalizes once ``current`` reaches the target.
        """
        if finalize is None:
            finalize = self.target is not None and current >= self.target
        for name, value in values or ():
            self._values[name] = float(value)
        now = self._clock()
        per_step = self._step_duration(current, now)
        if self.verbose == 2 and finalize:
            self._write(self._summary_line(current, now) + "\n")
        elif self.verbose == 1:
            if self._is_live():
                if (not finalize and self._last_draw is not None
                        and now - self._last_draw < self._interval()):
                    return
                self._last_draw = now
                line = self._bar_line(current, now, per_step, finalize)
                pad = " " * max(0, self._drawn_width - len(line))
                self._drawn_width = len(line)
                self._write("\r" + line + pad + ("\n" if finalize else ""))
            elif finalize:
                self._write(self._bar_line(current, now, per_step, True) + "\n")

    def _out(self):
        return console() if self.stream is None else self.stream

    def _write(self, text):
        out = self._out()
        out.write(text)
        out.flush()

    def _is_live(self):
        return is_live(self._out()) if self.live is None else self.live

    def _interval(self):
        if self.interval is not None:
            return self.interval
        return NOTEBOOK_INTERVAL if is_notebook_stream(self._out()) else TERMINAL_INTERVAL

    def _step_duration(self, current, now):
        if current <= 0:
            return 0.0
        if current == 1:
            self._after_first_step = now
        if self._after_first_step is not None and current > 1:
            return (now - self._after_first_step) / (current - 1)
        return (now - self._start) / current

    def _counter(self, current):
        if self.target is None:
            return "%7d/Unknown" % current
        return f"{current:>{len(str(self.target))}}/{self.target}"

    def _metrics(self):
        return "".join(f" - {k}: {format_value(v)}" for k, v in self._values.items())

    def _bar_line(self, current, now, per_step, finalize):
        line = self._counter(current)
        if self.target is not None:
            filled = min(int(self.width * current / self.target), self.width)
            bar = ""
            if filled > 0:
                bar = "=" * (filled - 1) + (">" if current < self.target else "=")
            line += " [" + bar + "." * (self.width - filled) + "]"
        if finalize or self.target is None:
            line += " - %.0fs %s" % (now - self._start,
                                     format_per_unit(per_step, self.unit_name))
        else:
            line += " - ETA: " + format_eta(per_step * (self.target - current))
        return line + self._metrics()

    def _summary_line(self, current, now):
        elapsed = now - self._start
        steps = current if self.target is None else self.target
        return (self._counter(current) + " - %.0fs" % elapsed + self._metrics()
                + " - " + format_per_unit(elapsed, "epoch")
                + " - " + format_per_unit(elapsed / max(steps, 1), self.unit_name))
