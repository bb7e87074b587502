"""CSVLogger: one CSV row per epoch, in Keras's format."""
import collections
import csv
import math
import os
from pathlib import Path

import numpy as np

from scanfit.callbacks.base import Callback, History
from scanfit.distribution import is_chief


class CSVLogger(Callback):
    """Write each epoch's logs to `filename` as CSV.

    Keras's layout: an ``epoch`` column, then the log keys sorted by name
    (with ``val_`` columns holding ``NA`` when there is no validation),
    ``excel`` dialect rows (``\\r\\n`` line ends) with `separator` between
    fields. With ``append=True`` the rows go after an existing file's, and the
    header is written only if the file is empty. The file is flushed after
    every row.
    """

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.sep = separator
        self.filename = os.fspath(filename)
        self.append = append
        self.writer = None
        self.keys = None
        self.append_header = True
        self.csv_file = None

    def on_train_begin(self, logs=None):
        if not is_chief():  # one writer in a multi-process run
            return
        if self.append:
            if os.path.exists(self.filename):
                with open(self.filename) as existing:
                    self.append_header = not existing.readline()
            mode = "a"
        else:
            mode = "w"
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        self.csv_file = open(self.filename, mode)
        self.writer = None
        self.keys = None

    def on_epoch_end(self, epoch, logs=None):
        if not is_chief():
            return
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
            if self.keys and not any(key.startswith("val_") for key in self.keys):
                self.keys.extend(f"val_{key}" for key in list(self.keys))
        if self.writer is None:
            dialect = type("CSVLoggerDialect", (csv.excel,), {"delimiter": self.sep})
            self.writer = csv.DictWriter(self.csv_file, fieldnames=["epoch"] + self.keys, dialect=dialect)
            if self.append_header:
                self.writer.writeheader()
        row = collections.OrderedDict(epoch=epoch)
        row.update((key, _cell(logs.get(key, "NA"))) for key in self.keys)
        self.writer.writerow(row)
        self.csv_file.flush()

    def on_train_end(self, logs=None):
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        self.writer = None


def _cell(value):
    """A log value as Keras writes it: lists quoted as ``"[a, b]"``, everything else as is."""
    if isinstance(value, str) or (isinstance(value, np.ndarray) and value.ndim == 0):
        return value
    if isinstance(value, collections.abc.Iterable):
        return f'"[{", ".join(map(str, value))}]"'
    return value


def read_history(path):
    """A `History` read from a CSV file with an ``epoch`` column, as CSVLogger writes."""
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except FileNotFoundError:
        raise FileNotFoundError(f"History file {str(path)!r} does not exist.") from None
    except (UnicodeDecodeError, csv.Error) as err:
        raise ValueError(f"{str(path)!r} is not a CSV history file: {err}") from None
    if not rows or "epoch" not in rows[0]:
        raise ValueError(f"{str(path)!r} is not a history CSV: it needs a header with an 'epoch' column and one row per epoch.")
    history = History()
    try:
        history.epoch = [int(row["epoch"]) for row in rows]
        for key in rows[0]:
            if key != "epoch":
                history.history[key] = [_number(row[key]) for row in rows]
    except (TypeError, ValueError) as err:
        raise ValueError(f"{str(path)!r} holds a value that is not a number: {err}") from None
    return history


def _number(text):
    return math.nan if text in (None, "", "NA", "nan") else float(text)
