"""`keras.config.enable_interactive_logging` and its pair: where scanfit writes what it shows the user.

With interactive logging on (the default), `fit`/`evaluate`/`predict`'s epoch headers and progress bars and the
built-in callbacks' messages go to ``sys.stdout``. Turned off, for a job whose output goes to log files, they go
to absl logging at INFO level instead, as in Keras 3: one record per line, with no bar redrawn in place (only each
bar's last line). absl shows INFO records only after ``absl.logging.set_verbosity("info")``.
"""
import sys

from absl import logging as absl_logging

_interactive = True


def enable_interactive_logging():
    """Write progress and messages to ``sys.stdout`` (the default)."""
    global _interactive
    _interactive = True


def disable_interactive_logging():
    """Send progress and messages to absl logging (INFO), one record per line."""
    global _interactive
    _interactive = False


def is_interactive_logging_enabled():
    """Whether progress and messages go to ``sys.stdout`` (True) or to absl logging (False)."""
    return _interactive


class AbslLines:
    """A text stream that logs every line written to it with ``absl.logging.info`` (blank lines left out)."""

    def __init__(self):
        self._partial = ""

    def write(self, text):
        lines = (self._partial + text).split("\n")
        self._partial = lines.pop()
        for line in lines:
            if line.strip():
                absl_logging.info(line)
        return len(text)

    def flush(self):
        pass

    def isatty(self):
        return False


_absl_lines = AbslLines()


def console():
    """The stream messages go to now: ``sys.stdout``, or with interactive logging off an `AbslLines`."""
    return sys.stdout if _interactive else _absl_lines


def print_msg(message):
    """Print `message` and a line break to `console()`."""
    out = console()
    out.write(f"{message}\n")
    out.flush()
