"""scanfit.plot: figures drawn from the right data, markers in the right place, PNGs written atomically."""
import os
import subprocess
import sys

import numpy as np
import pytest

import scanfit as keras
from scanfit import plot
from scanfit.callbacks.base import History
from scanfit.callbacks.csv_logger import read_history

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plot.pyplot().close("all")


def make_history(logs, epochs=None):
    history = History()
    history.history = {key: list(values) for key, values in logs.items()}
    history.epoch = list(epochs if epochs is not None else range(len(next(iter(logs.values())))))
    return history


@pytest.fixture
def history():
    return make_history({
        "loss": [0.9, 0.6, 0.5, 0.45, 0.42],
        "accuracy": [0.70, 0.80, 0.83, 0.85, 0.86],
        "val_loss": [0.7, 0.55, 0.50, 0.52, 0.56],
        "val_accuracy": [0.75, 0.81, 0.84, 0.845, 0.83],
    })


def lines_by_label(ax):
    return {line.get_label(): line for line in ax.get_lines()}


def xy(line):
    return list(np.asarray(line.get_xdata(), float)), list(np.asarray(line.get_ydata(), float))


def test_learning_curves_draw_the_history_lists(history):
    figure = plot.learning_curves(history)
    loss_ax, accuracy_ax = figure.axes
    assert (loss_ax.get_title(), accuracy_ax.get_title()) == ("Loss", "Accuracy")
    assert loss_ax.get_xlabel() == "epoch" and loss_ax.get_ylabel() == "loss"
    for ax, keys in ((loss_ax, ("loss", "val_loss")), (accuracy_ax, ("accuracy", "val_accuracy"))):
        lines = lines_by_label(ax)
        for key in keys:
            assert xy(lines[key]) == (history.epoch, history.history[key])
        assert lines[keys[0]].get_linestyle() == "-" and lines[keys[1]].get_linestyle() == "--"


def test_best_epoch_marker_sits_on_the_lowest_val_loss(history):
    figure = plot.learning_curves(history)
    loss_ax, accuracy_ax = figure.axes
    marker = [line for line in loss_ax.get_lines() if line.get_gid() == "best_epoch" and line.get_marker() == "o"]
    assert len(marker) == 1
    assert xy(marker[0]) == ([2.0], [0.50])
    assert "best epoch 2" in marker[0].get_label()
    for ax in (loss_ax, accuracy_ax):  # a dotted line at the best epoch in every panel
        vertical = [line for line in ax.get_lines() if line.get_gid() == "best_epoch" and line.get_linestyle() == ":"]
        assert len(vertical) == 1 and list(vertical[0].get_xdata()) == [2, 2]
    assert plot.best_epoch(history) == (2, 0.50)


def test_best_epoch_follows_monitor_and_mode(history):
    assert plot.best_epoch(history, "val_accuracy") == (3, 0.845)
    assert plot.best_epoch(history, "val_accuracy", mode="min") == (0, 0.75)
    figure = plot.learning_curves(history, monitor="val_accuracy")
    loss_ax, accuracy_ax = figure.axes
    marker = [line for line in accuracy_ax.get_lines() if line.get_gid() == "best_epoch" and line.get_marker() == "o"]
    assert xy(marker[0]) == ([3.0], [0.845])
    assert not [line for line in loss_ax.get_lines() if line.get_marker() == "o"]
    with pytest.raises(KeyError, match="val_auc"):
        plot.best_epoch(history, "val_auc")
    with pytest.raises(ValueError, match="mode"):
        plot.best_epoch(history, "loss", mode="lowest")


def test_without_validation_the_best_training_loss_is_marked():
    history = make_history({"loss": [1.0, 0.7, 0.8], "accuracy": [0.5, 0.6, 0.62]})
    figure = plot.learning_curves(history)
    marker = [line for line in figure.axes[0].get_lines() if line.get_marker() == "o"]
    assert xy(marker[0]) == ([1.0], [0.7])
    assert set(lines_by_label(figure.axes[0])) >= {"loss"}
    figure = plot.learning_curves(history, monitor=None)
    assert not [line for line in figure.axes[0].get_lines() if line.get_gid() == "best_epoch"]


def test_early_stopping_is_marked_from_the_callback_or_an_epoch(history):
    class Stopped:
        stopped_epoch = 4

    class NotStopped:
        stopped_epoch = 0

    for stop in (Stopped(), 4):
        figure = plot.learning_curves(history, stopped_epoch=stop)
        for ax in figure.axes:
            lines = [line for line in ax.get_lines() if line.get_gid() == "early_stop"]
            assert len(lines) == 1 and list(lines[0].get_xdata()) == [4, 4]
            assert lines[0].get_label() == "early stop (epoch 4)"
    figure = plot.learning_curves(history, stopped_epoch=NotStopped())
    assert not [line for ax in figure.axes for line in ax.get_lines() if line.get_gid() == "early_stop"]


def test_several_histories_are_labelled(history):
    other = make_history({"loss": [0.8, 0.5], "val_loss": [0.6, 0.58]})
    figure = plot.learning_curves([history, other], labels=["adam", "sgd"], metrics="loss", stopped_epoch=[None, 1])
    assert len(figure.axes) == 1
    lines = lines_by_label(figure.axes[0])
    assert xy(lines["adam: val_loss"]) == (history.epoch, history.history["val_loss"])
    assert xy(lines["sgd: loss"]) == ([0, 1], [0.8, 0.5])
    assert lines["adam: loss"].get_color() != lines["sgd: loss"].get_color()
    assert "sgd: early stop (epoch 1)" in lines
    assert "adam: best epoch 2 (val_loss 0.5000)" in lines and "sgd: best epoch 1 (val_loss 0.5800)" in lines
    legend = [text.get_text() for text in figure.axes[0].get_legend().get_texts()]
    assert legend == ["adam", "sgd", "training", "validation", "best epoch", "early stop"]
    with pytest.raises(ValueError, match="2 labels for 1"):
        plot.learning_curves([history], labels=["a", "b"])
    with pytest.raises(ValueError, match="2 entries for 1"):
        plot.learning_curves(history, stopped_epoch=[1, 2])


def test_dicts_and_dataframes_are_histories_too(history):
    pandas = pytest.importorskip("pandas")
    from_dict = plot.learning_curves(history.history)
    assert xy(lines_by_label(from_dict.axes[0])["val_loss"]) == (history.epoch, history.history["val_loss"])
    frame = pandas.DataFrame(history.history, index=[5, 6, 7, 8, 9])
    from_frame = plot.learning_curves(frame)
    assert xy(lines_by_label(from_frame.axes[1])["accuracy"]) == ([5, 6, 7, 8, 9], history.history["accuracy"])


def test_bad_inputs_get_clear_errors(history):
    with pytest.raises(TypeError, match="History"):
        plot.learning_curves([1, 2, 3])
    with pytest.raises(ValueError, match="auc"):
        plot.learning_curves(history, metrics="auc")
    with pytest.raises(ValueError, match="at least one"):
        plot.learning_curves([])


def test_png_is_written_atomically_into_new_folders(tmp_path, history):
    target = tmp_path / "run" / "curves" / "learning.png"
    figure = plot.learning_curves(history, path=target)
    assert target.read_bytes()[:8] == PNG_SIGNATURE
    assert os.listdir(target.parent) == ["learning.png"]  # no temporary file left behind
    image = plot.pyplot().imread(target)
    assert image.shape[0] > 100 and image.shape[1] > 200
    assert figure.axes  # the figure is returned as well
    with pytest.raises(ValueError):
        plot.save_figure(figure, tmp_path / "curves.notaformat")
    assert sorted(os.listdir(tmp_path)) == ["run"]


def test_history_plot_draws_what_the_callback_recorded(tmp_path):
    history = History()
    history.on_train_begin()
    for epoch, (loss, val_loss) in enumerate([(1.0, 1.1), (0.6, 0.7), (0.5, 0.75)]):
        history.on_epoch_end(epoch, {"loss": loss, "val_loss": val_loss})
    figure = history.plot(path=tmp_path / "h.png", title="run")
    lines = lines_by_label(figure.axes[0])
    assert xy(lines["val_loss"]) == ([0, 1, 2], [1.1, 0.7, 0.75])
    assert figure.get_suptitle() == "run"
    assert (tmp_path / "h.png").read_bytes()[:8] == PNG_SIGNATURE


def test_compare_runs_draws_the_mean_over_repeats(tmp_path):
    runs = {
        "sgd": [make_history({"acc": [0.5, 0.6, 0.7], "val_acc": [0.4, 0.5, 0.6], "loss": [2, 1, 0.5], "val_loss": [2, 1.5, 1]}),
                make_history({"acc": [0.7, 0.8, 0.9], "val_acc": [0.6, 0.7, 0.8], "loss": [1, 0.5, 0.3], "val_loss": [1, 0.5, 0.4]})],
        "adam": make_history({"acc": [0.9, 0.95], "val_acc": [0.85, 0.9], "loss": [0.3, 0.1], "val_loss": [0.4, 0.3]}),
    }
    figure = plot.compare_runs(runs, dataset="MNIST", path=tmp_path / "compare.png")
    assert [ax.get_title() for ax in figure.axes] == [
        "Training Accuracy on MNIST", "Validation Accuracy on MNIST", "Training Loss on MNIST", "Validation Loss on MNIST"]
    val_acc = lines_by_label(figure.axes[1])
    assert set(val_acc) == {"sgd", "adam"}
    assert xy(val_acc["sgd"]) == ([0, 1, 2], pytest.approx([0.5, 0.6, 0.7]))
    assert xy(val_acc["adam"]) == ([0, 1], [0.85, 0.9])
    assert (tmp_path / "compare.png").read_bytes()[:8] == PNG_SIGNATURE
    uneven = [make_history({"loss": [3, 2, 1]}), make_history({"loss": [1, 0]})]
    assert list(plot.mean_curve(uneven, "loss")) == [2.0, 1.0]
    figure = plot.compare_runs({"a": uneven})  # only the keys the histories hold
    assert [ax.get_title() for ax in figure.axes] == ["Training Loss"]
    with pytest.raises(TypeError, match="dict"):
        plot.compare_runs([uneven])


def test_image_grid_titles_images_with_class_names(tmp_path):
    images = np.arange(12 * 28 * 28, dtype=np.uint8).reshape(12, 28, 28)
    labels = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1])
    names = keras.datasets.fashion_mnist.CLASS_NAMES
    figure = plot.image_grid(images, labels, names, columns=5, path=tmp_path / "grid.png")
    assert len(figure.axes) == 15  # 3 rows of 5, the last three empty
    shown = [ax for ax in figure.axes if ax.get_images()]
    assert len(shown) == 12
    assert [ax.get_title() for ax in shown] == [names[i] for i in labels]
    assert np.array_equal(shown[3].get_images()[0].get_array(), images[3])
    one_hot = keras.utils.to_categorical(labels[:3], 10)
    titles = [ax.get_title() for ax in plot.image_grid(images[:3, :, :, None], one_hot).axes]
    assert titles == ["0", "1", "2"]
    with pytest.raises(ValueError, match="shape"):
        plot.image_grid(np.zeros((28, 28)))
    with pytest.raises(ValueError, match="2 labels for 3"):
        plot.image_grid(images[:3], [1, 2])


def test_sigmoid_saturation_plots_the_logistic_function(tmp_path):
    figure = plot.sigmoid_saturation(path=tmp_path / "sigmoid.png")
    ax = figure.axes[0]
    assert ax.get_title() == "Sigmoid activation function"
    curve = max(ax.get_lines(), key=lambda line: len(line.get_xdata()))
    z, s = (np.asarray(v) for v in curve.get_data())
    assert len(z) == 200 and np.allclose(s, 1 / (1 + np.exp(-z)))
    assert sorted(text.get_text() for text in ax.texts) == ["Linear", "Saturating", "Saturating"]
    assert (tmp_path / "sigmoid.png").read_bytes()[:8] == PNG_SIGNATURE


def test_read_history_from_csv(tmp_path):
    path = tmp_path / "history.csv"
    path.write_text("epoch,accuracy,loss,val_accuracy,val_loss\n0,0.5,1.2,0.55,1.1\n1,0.7,0.8,NA,0.9\n")
    history = read_history(path)
    assert history.epoch == [0, 1]
    assert history.history["loss"] == [1.2, 0.8]
    assert np.isnan(history.history["val_accuracy"][1])
    assert plot.best_epoch(history) == (1, 0.9)
    (tmp_path / "bad.csv").write_text("loss\n1.0\n")
    with pytest.raises(ValueError, match="'epoch' column"):
        read_history(tmp_path / "bad.csv")
    (tmp_path / "text.csv").write_text("epoch,loss\n0,high\n")
    with pytest.raises(ValueError, match="not a number"):
        read_history(tmp_path / "text.csv")
    with pytest.raises(FileNotFoundError, match="missing.csv"):
        read_history(tmp_path / "missing.csv")


def test_agg_backend_without_a_display():
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "MPLBACKEND")}
    code = "from scanfit import plot; plot.pyplot(); import matplotlib; print(matplotlib.get_backend())"
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().lower() == "agg"


def test_importing_scanfit_leaves_matplotlib_to_the_first_figure():
    script = ("import sys\nimport scanfit\nassert 'matplotlib' not in sys.modules\n"
              "scanfit.plot.sigmoid_saturation()\nassert 'matplotlib.pyplot' in sys.modules\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "MPLBACKEND": "Agg"})
    assert result.returncode == 0, result.stderr
