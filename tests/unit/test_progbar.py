"""Progbar output matches the tf.keras 2 console format."""
import io

import pytest

from scanfit.engine.progbar import (
    TERMINAL_INTERVAL, Progbar, format_eta, format_per_unit, format_value, in_notebook_kernel, is_live,
    is_notebook_stream, print_epoch_header)

FIT_VALUES = [("loss", 0.5272), ("accuracy", 0.8130)]
VAL_VALUES = [("val_loss", 0.4003), ("val_accuracy", 0.8572)]
FULL = "[" + "=" * 30 + "]"


class FakeClock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


class TtyStream(io.StringIO):
    def isatty(self):
        return True


def run_epoch(bar, clock, steps, step_time, values=(), final_values=()):
    """Drive ``bar`` the way fit does: one update per batch, then finalize."""
    for i in range(1, steps + 1):
        clock.t = i * step_time
        bar.update(i, list(values), finalize=False)
    bar.update(steps, list(values) + list(final_values), finalize=True)


def make(target, **kw):
    clock = FakeClock()
    stream = kw.pop("stream", io.StringIO())
    return Progbar(target, stream=stream, clock=clock, **kw), clock, stream


def test_epoch_header(capsys):
    print_epoch_header(0, 10)
    print_epoch_header(9, 10, io.StringIO())
    assert capsys.readouterr().out == "Epoch 1/10\n"


def test_fit_verbose1_not_live_prints_one_final_line():
    bar, clock, out = make(1500, live=False)
    run_epoch(bar, clock, 1500, 0.002, FIT_VALUES, VAL_VALUES)
    assert out.getvalue() == (
        f"1500/1500 {FULL} - 3s 2ms/step - loss: 0.5272 - accuracy: 0.8130"
        " - val_loss: 0.4003 - val_accuracy: 0.8572\n")


def test_evaluate_and_predict_lines():
    bar, clock, out = make(375, live=False)
    run_epoch(bar, clock, 375, 0.0014, [("loss", 0.3137), ("accuracy", 0.8893)])
    assert out.getvalue() == (
        f"375/375 {FULL} - 1s 1ms/step - loss: 0.3137 - accuracy: 0.8893\n")
    bar, clock, out = make(313, live=False)
    for i in range(1, 314):
        clock.t = i * 0.001
        bar.update(i)
    assert out.getvalue() == f"313/313 {FULL} - 0s 1ms/step\n"


def test_verbose2_summary_line_even_on_tty():
    bar, clock, out = make(1500, verbose=2, stream=TtyStream())
    run_epoch(bar, clock, 1500, 0.002, FIT_VALUES, VAL_VALUES)
    assert out.getvalue() == (
        "1500/1500 - 3s - loss: 0.5272 - accuracy: 0.8130 - val_loss: 0.4003"
        " - val_accuracy: 0.8572 - 3s/epoch - 2ms/step\n")


@pytest.mark.parametrize("live", [True, False])
def test_verbose0_is_silent(live):
    bar, clock, out = make(10, verbose=0, live=live)
    run_epoch(bar, clock, 10, 0.1, FIT_VALUES)
    assert out.getvalue() == ""


def test_first_step_left_out_of_time_per_step():
    bar, clock, out = make(100, live=False)
    clock.t = 2.0
    bar.update(1)
    for i in range(2, 101):
        clock.t = 2.0 + (i - 1) * 0.01
        bar.update(i)
    assert out.getvalue() == f"100/100 {FULL} - 3s 10ms/step\n"


@pytest.mark.parametrize("seconds, text", [
    (2.0, "2s/step"), (1.0, "1s/step"), (0.0, "0s/step"),
    (0.0123, "12ms/step"), (0.001, "1ms/step"),
    (0.00042, "420us/step"), (4e-7, "0us/step"),
])
def test_per_unit_format(seconds, text):
    assert format_per_unit(seconds, "step") == text


@pytest.mark.parametrize("value, text", [
    (0.5272, "0.5272"), (12.3456789, "12.3457"), (-0.5, "-0.5000"),
    (0.0015, "0.0015"), (1.23e-4, "1.2300e-04"), (-2e-5, "-2.0000e-05"),
    (1e-3, "1.0000e-03"), (0.0, "0.0000e+00"),
])
def test_value_format(value, text):
    assert format_value(value) == text


def test_tiny_value_in_final_line():
    bar, clock, out = make(10, live=False)
    clock.t = 0.5
    bar.update(10, [("loss", 3.2e-5)])
    assert out.getvalue() == f"10/10 {FULL} - 0s 50ms/step - loss: 3.2000e-05\n"


@pytest.mark.parametrize("seconds, text", [
    (3725, "1:02:05"), (125.7, "2:05"), (59.9, "59s"), (0.4, "0s")])
def test_eta_format(seconds, text):
    assert format_eta(seconds) == text


def test_running_line_aligns_counter_and_shows_eta():
    bar, clock, out = make(1500, live=True)
    clock.t = 0.1
    bar.update(50, [("loss", 0.5)])
    assert out.getvalue() == (
        "\r  50/1500 [>" + "." * 29 + "] - ETA: 2s - loss: 0.5000")


def test_running_bar_half_done():
    bar, clock, out = make(1500, live=True)
    clock.t = 1.5
    bar.update(750)
    assert out.getvalue() == (
        "\r 750/1500 [" + "=" * 14 + ">" + "." * 15 + "] - ETA: 1s")


def test_live_redraws_respect_interval():
    bar, clock, out = make(20, live=True, interval=5)
    run_epoch(bar, clock, 20, 1.0, [("loss", 0.25)])
    frames = out.getvalue().split("\r")[1:]
    assert [f.split()[0] for f in frames] == ["1/20", "6/20", "11/20", "16/20", "20/20"]
    assert out.getvalue().count("\n") == 1
    assert frames[0].startswith(" 1/20 [")
    assert frames[-1] == f"20/20 {FULL} - 20s 1s/step - loss: 0.2500\n"
    assert all(" - ETA: " in f for f in frames[:-1])


def test_live_pads_shorter_line():
    bar, clock, out = make(10, live=True, interval=0)
    clock.t = 4000.0
    bar.update(1)
    clock.t = 4008.0
    bar.update(9)
    first, second = out.getvalue().split("\r")[1:]
    assert first.endswith("ETA: 10:00:00")
    assert second == second.rstrip() + " " * 6
    assert second.rstrip().endswith("ETA: 1s")
    assert len(second) == len(first)


def test_live_defaults_to_isatty():
    bar, clock, out = make(2, stream=TtyStream())
    clock.t = 1.0
    bar.update(1)
    assert out.getvalue().startswith("\r1/2 [")
    bar, clock, out = make(2)
    clock.t = 1.0
    bar.update(1)
    assert out.getvalue() == ""


def test_is_live_on_a_terminal_only_outside_a_notebook():
    # The notebook side runs in a real Jupyter kernel: tests/unit/test_notebook.py.
    assert is_live(TtyStream()) and not is_live(io.StringIO()) and not is_live(object())
    assert not in_notebook_kernel() and not is_notebook_stream(TtyStream())


def test_terminal_redraws_every_terminal_interval_by_default():
    bar, clock, out = make(100, stream=TtyStream())
    run_epoch(bar, clock, 100, TERMINAL_INTERVAL * 0.6)  # a redraw every second step
    frames = out.getvalue().split("\r")[1:]
    assert [f.split()[0] for f in frames] == [f"{i}/100" for i in range(1, 100, 2)] + ["100/100"]


def test_default_stream_is_stdout_at_call_time(capsys):
    clock = FakeClock()
    bar = Progbar(4, clock=clock)
    clock.t = 2.0
    bar.update(4, [("loss", 1.5)])
    assert capsys.readouterr().out == f"4/4 {FULL} - 2s 500ms/step - loss: 1.5000\n"


def test_unknown_target():
    bar, clock, out = make(None, live=False)
    clock.t = 1.0
    bar.update(7, finalize=True)
    assert out.getvalue() == "      7/Unknown - 1s 143ms/step\n"


@pytest.mark.parametrize("names, acc", [({"stateful_metrics": ["acc"]}, "0.7000"),
                                        ({"stateless_metrics": ["loss"]}, "0.7000"), ({}, "0.5667")])
def test_keras_utils_progbar_averages_values_as_keras_does(capsys, names, acc):
    """keras.utils.Progbar for a loop written by hand: a value is the mean over the steps reported so far, each
    update weighing it by the steps it advanced, unless it is stateful; the values Keras 3 shows, read from the
    last line each prints."""
    import re

    import keras

    import scanfit

    shown = []
    for library in (keras, scanfit):
        bar = library.utils.Progbar(10, verbose=2, **names)
        bar.update(4, [("loss", 1.0), ("acc", 0.5)])
        bar.update(6, [("loss", 4.0), ("acc", 0.7)])
        bar.add(2, [("loss", 0.5)])
        bar.update(8, finalize=True)
        shown.append(re.findall(r"(\w+): ([\d.]+)", capsys.readouterr().out.splitlines()[-1]))
    assert shown[1] == shown[0]
    assert dict(shown[1]) == {"loss": "1.6250", "acc": acc}  # (4 x 1 + 2 x 4 + 2 x 0.5) / 8; acc averaged or last


def test_keras_utils_progbar_refuses_bad_arguments():
    import scanfit

    with pytest.raises(ValueError, match="either stateful_metrics"):
        scanfit.utils.Progbar(3, stateful_metrics=["a"], stateless_metrics=["b"])
    with pytest.raises(ValueError, match="target must be"):
        scanfit.utils.Progbar(-1)
