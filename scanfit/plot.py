"""Figures of training runs: learning curves, run comparisons, sample images, sigmoid saturation.

Every function returns a matplotlib ``Figure`` and, given ``path=``, also writes it
to that file (PNG unless the name says otherwise) atomically. Figures are made with
pyplot, so ``plt.show()`` displays them; on a machine without a display the Agg
backend is chosen so scripts and servers work. matplotlib is imported by the first
figure, not with scanfit (it took 0.13 s of scanfit's 1.2 s import).
"""
import math
import os
import sys
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from scanfit.atomic_files import atomic_output

ACCURACY_KEYS = ("accuracy", "acc")


def pyplot():
    """matplotlib.pyplot, with the Agg backend when nothing chose one and there is no display."""
    import matplotlib

    if "matplotlib.pyplot" not in sys.modules and _headless():
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _headless():
    if os.environ.get("MPLBACKEND"):
        return False
    if sys.platform.startswith("linux"):
        return not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return False


def save_figure(figure, path, dpi=100):
    """Write ``figure`` to ``path`` atomically (PNG unless the suffix names another format)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    file_format = path.suffix[1:].lower() or "png"
    with atomic_output(path) as out:
        figure.savefig(out, format=file_format, dpi=dpi, bbox_inches="tight")
    return path


def _finish(figure, path):
    figure.tight_layout()
    if path is not None:
        save_figure(figure, path)
    return figure


# --- histories -------------------------------------------------------------
def curves_of(run):
    """``(epochs, {key: values})`` of a History, a ``history.history`` dict or a DataFrame."""
    if isinstance(getattr(run, "history", None), dict):
        logs, epochs = run.history, list(getattr(run, "epoch", []) or [])
    elif isinstance(run, Mapping):
        logs, epochs = run, []
    elif hasattr(run, "columns") and hasattr(run, "index"):
        logs, epochs = {str(column): list(run[column]) for column in run.columns}, list(run.index)
    else:
        raise TypeError(
            f"Expected a History, a history dict or a DataFrame, got {type(run).__name__}; "
            "pass the object model.fit() returned."
        )
    logs = {key: [float(v) for v in values] for key, values in logs.items() if key != "epoch"}
    length = max((len(values) for values in logs.values()), default=0)
    if len(epochs) != length:
        epochs = list(range(length))
    return [int(e) for e in epochs], logs


def _monitor_mode(monitor, mode):
    if mode == "auto":
        return "max" if any(name in monitor for name in ACCURACY_KEYS + ("auc",)) else "min"
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
    return mode


def best_epoch(run, monitor="val_loss", mode="auto"):
    """``(epoch, value)`` where ``monitor`` is best (lowest loss, highest accuracy)."""
    return _best(*curves_of(run), monitor, mode)


def _best(epochs, logs, monitor, mode):
    if monitor not in logs:
        raise KeyError(f"{monitor!r} is not in this history; it holds {sorted(logs)}.")
    values = np.asarray(logs[monitor], dtype=float)
    if np.isnan(values).all():
        raise ValueError(f"{monitor!r} holds no numbers.")
    index = int(np.nanargmax(values) if _monitor_mode(monitor, mode) == "max" else np.nanargmin(values))
    return epochs[index], float(values[index])


def _stop_epochs(stopped_epoch, count):
    """One early-stop epoch (or None) per run, from ints or EarlyStopping callbacks."""
    if stopped_epoch is None:
        return [None] * count
    items = list(stopped_epoch) if isinstance(stopped_epoch, (list, tuple)) else [stopped_epoch] * count
    if len(items) != count:
        raise ValueError(f"stopped_epoch has {len(items)} entries for {count} runs.")
    stops = []
    for item in items:
        if item is not None and not isinstance(item, (int, np.integer)):
            item = getattr(item, "stopped_epoch", None)
            item = item or None  # an EarlyStopping that did not stop keeps stopped_epoch == 0
        stops.append(item)
    return stops


def _panel_keys(logs, metrics):
    if metrics is None:
        metrics = ["loss"] + [k for k in logs if not k.startswith("val_") and k not in ("loss", "learning_rate", "lr")]
    elif isinstance(metrics, str):
        metrics = [metrics]
    return [m for m in metrics if m in logs or f"val_{m}" in logs]


def learning_curves(runs, labels=None, *, metrics=None, monitor="val_loss", mode="auto", stopped_epoch=None,
                    title=None, path=None, figsize=None):
    """Loss and metric curves per epoch, training solid and validation dashed.

    ``runs`` is one History (or ``history.history`` dict, or DataFrame) or a list of
    them, named by ``labels``. One panel per metric (default: loss, then every other
    metric recorded), each with the metric and its ``val_`` twin. The best epoch of
    ``monitor`` (default val_loss, or loss without validation) gets a marker and a
    dotted line; ``stopped_epoch`` (an epoch, an EarlyStopping callback, or one per
    run) a dashed line. ``monitor=None`` marks no best epoch. Epochs count from 0,
    as in ``history.epoch``.
    """
    several = isinstance(runs, (list, tuple))
    runs = list(runs) if several else [runs]
    if not runs:
        raise ValueError("learning_curves needs at least one history.")
    if labels is None:
        labels = [f"run {i + 1}" for i in range(len(runs))] if several else [None]
    elif isinstance(labels, str):
        labels = [labels]
    if len(labels) != len(runs):
        raise ValueError(f"Got {len(labels)} labels for {len(runs)} histories.")
    curves = [curves_of(run) for run in runs]
    keys = []
    for _, logs in curves:
        keys += [k for k in _panel_keys(logs, metrics) if k not in keys]
    if not keys:
        raise ValueError("Nothing to plot: the histories hold no " + (f"{metrics!r}" if metrics else "values") + ".")
    stops = _stop_epochs(stopped_epoch, len(runs))

    plt = pyplot()
    width = 5.5 * len(keys) + (2.5 if several else 0)
    figure, axes = plt.subplots(1, len(keys), figsize=figsize or (width, 4), squeeze=False)
    axes = axes[0]
    colors = plt.rcParams["axes.prop_cycle"].by_key().get("color", ["C0"])
    for index, ((epochs, logs), label, stop) in enumerate(zip(curves, labels, stops)):
        color = colors[index % len(colors)]
        prefix = f"{label}: " if label else ""
        watched = monitor if monitor in logs else ("loss" if monitor == "val_loss" and "loss" in logs else None)
        best = _best(epochs, logs, watched, mode) if watched else None
        for ax, key in zip(axes, keys):
            for name, style in ((key, "-"), (f"val_{key}", "--")):
                if name in logs:
                    values = logs[name]
                    ax.plot(epochs[:len(values)], values, style, color=color, label=prefix + name)
            if best is not None:
                ax.axvline(best[0], color=color, linestyle=":", linewidth=1, gid="best_epoch")
                if watched in (key, f"val_{key}"):
                    ax.plot([best[0]], [best[1]], "o", color=color, markersize=8, fillstyle="none", gid="best_epoch",
                            label=f"{prefix}best epoch {best[0]} ({watched} {best[1]:.4f})")
            if stop is not None:
                ax.axvline(stop, color=color, linestyle="-.", linewidth=1, alpha=0.6, gid="early_stop",
                           label=f"{prefix}early stop (epoch {stop})")
    for ax, key in zip(axes, keys):
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
        ax.set_ylabel(key)
        ax.set_title(_metric_title(key))
        ax.grid(True, alpha=0.3)
        if not several:
            ax.legend(fontsize="small")
    if several:  # colour names the run, line style the curve: one compact legend beside the panels
        axes[-1].legend(handles=_run_legend(labels, colors, any(s is not None for s in stops)), fontsize="small",
                        loc="upper left", bbox_to_anchor=(1.02, 1.0))
    if title:
        figure.suptitle(title)
    return _finish(figure, path)


def _run_legend(labels, colors, stopped):
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=colors[i % len(colors)], label=label) for i, label in enumerate(labels)]
    handles += [Line2D([], [], color="gray", linestyle="-", label="training"),
                Line2D([], [], color="gray", linestyle="--", label="validation"),
                Line2D([], [], color="gray", marker="o", fillstyle="none", linestyle=":", label="best epoch")]
    if stopped:
        handles.append(Line2D([], [], color="gray", linestyle="-.", label="early stop"))
    return handles


def _metric_title(key):
    if key in ACCURACY_KEYS:
        return "Accuracy"
    return key.replace("_", " ").capitalize()


# --- comparisons -------------------------------------------------------------
def mean_curve(histories, key):
    """The per-epoch mean of ``key`` over repeated runs (cut to the shortest run)."""
    histories = histories if isinstance(histories, (list, tuple)) else [histories]
    series = []
    for run in histories:
        _, logs = curves_of(run)
        if key not in logs:
            raise KeyError(f"{key!r} is not in a history; it holds {sorted(logs)}.")
        series.append(logs[key])
    length = min(len(values) for values in series)
    return np.mean([values[:length] for values in series], axis=0)


def compare_runs(runs, *, keys=None, dataset=None, path=None, figsize=None):
    """One panel per key, one line per run: the mean over each run's repeats.

    ``runs`` maps a name (e.g. an optimizer) to a History or a list of repeated
    Histories. ``keys`` default to training and validation accuracy, then training
    and validation loss, titled like "Validation Loss on MNIST" with ``dataset``.
    """
    if not isinstance(runs, Mapping) or not runs:
        raise TypeError("runs must be a non-empty dict mapping a name to a History or a list of Histories.")
    if keys is None:
        first = next(iter(runs.values()))
        _, logs = curves_of(first[0] if isinstance(first, (list, tuple)) else first)
        accuracy = next((k for k in ACCURACY_KEYS if k in logs), None)
        keys = [k for k in ([accuracy, f"val_{accuracy}"] if accuracy else []) + ["loss", "val_loss"] if k in logs]
    plt = pyplot()
    figure, axes = plt.subplots(1, len(keys), figsize=figsize or (5 * len(keys), 4), squeeze=False)
    for ax, key in zip(axes[0], keys):
        for name, histories in runs.items():
            mean = mean_curve(histories, key)
            ax.plot(np.arange(len(mean)), mean, label=str(name))
        split = "Validation" if key.startswith("val_") else "Training"
        ax.set_title(f"{split} {_metric_title(key.removeprefix('val_'))}" + (f" on {dataset}" if dataset else ""))
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
        ax.legend(fontsize="small")
    return _finish(figure, path)


# --- images and functions ------------------------------------------------------
def image_grid(images, labels=None, class_names=None, *, columns=10, cmap="gray_r", title=None, path=None):
    """Images in a grid, ``columns`` wide, each titled with its class name.

    ``images`` has shape (n, height, width) or (n, height, width, channels);
    ``labels`` are class indices named by ``class_names`` (or shown as numbers).
    """
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim not in (3, 4) or len(images) == 0:
        raise ValueError(f"images must have shape (n, height, width[, channels]) with n > 0, got {images.shape}.")
    if labels is not None and len(labels) != len(images):
        raise ValueError(f"Got {len(labels)} labels for {len(images)} images.")
    columns = max(1, min(int(columns), len(images)))
    rows = math.ceil(len(images) / columns)
    plt = pyplot()
    figure, axes = plt.subplots(rows, columns, figsize=(columns * 1.2, rows * 1.4), squeeze=False)
    for index, ax in enumerate(axes.flat):
        ax.axis("off")
        if index >= len(images):
            continue
        ax.imshow(images[index], cmap=cmap)
        if labels is not None:
            label = labels[index]
            label = int(np.argmax(label)) if np.ndim(label) else int(label)  # one-hot or index
            ax.set_title(class_names[label] if class_names is not None else str(label), fontsize=8)
    if title:
        figure.suptitle(title)
    return _finish(figure, path)


def sigmoid_saturation(path=None):
    """The logistic function with its saturating ends and its linear middle (slope 1/4 at 0)."""
    z = np.linspace(-5, 5, 200)
    plt = pyplot()
    figure, ax = plt.subplots(figsize=(6, 4))
    ax.plot([-5, 5], [0, 0], "k-")
    ax.plot([-5, 5], [1, 1], "k--")
    ax.plot([0, 0], [-0.2, 1.2], "k-")
    ax.plot([-5, 5], [-3 / 4, 7 / 4], "g--")
    ax.plot(z, 1 / (1 + np.exp(-z)), "b-", linewidth=2)
    arrow = dict(facecolor="black", shrink=0.1)
    ax.annotate("Saturating", xytext=(3.5, 0.7), xy=(5, 1), arrowprops=arrow, fontsize=14, ha="center")
    ax.annotate("Saturating", xytext=(-3.5, 0.3), xy=(-5, 0), arrowprops=arrow, fontsize=14, ha="center")
    ax.annotate("Linear", xytext=(2, 0.2), xy=(0, 0.5), arrowprops=arrow, fontsize=14, ha="center")
    ax.grid(True)
    ax.set_title("Sigmoid activation function", fontsize=14)
    ax.axis([-5, 5, -0.2, 1.2])
    return _finish(figure, path)
