"""scanfit in a real Jupyter notebook: nbclient runs the cells in an ipykernel and the test reads their outputs."""
import base64
import json
import re
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from scanfit.engine.progbar import NOTEBOOK_INTERVAL, format_value

ROOT = Path(__file__).resolve().parents[2]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
FINAL_LINE = re.compile(r"^64/64 \[={30}\] - \d+s \d+(s|ms|us)/step - loss: (\S+) - accuracy: (\S+)$")

CELLS = [
    # Until scanfit/engine/training.py asks progbar.is_live itself, fit's own terminal check is replaced here.
    """import json, sys, time
import numpy as np
import scanfit as keras
from scanfit.engine import progbar, training
if hasattr(training, "_is_live"):
    training._is_live = progbar.is_live
print(keras.__file__, progbar.is_live(sys.stdout))""",
    """rng = np.random.default_rng(0)
x, y = rng.normal(size=(512, 8)).astype("float32"), rng.integers(0, 3, 512)
keras.utils.set_random_seed(1)
model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"),
                          keras.layers.Dense(3, activation="softmax")])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
history = model.fit(x, y, epochs=2, batch_size=8)""",
    "print(json.dumps({'epoch': history.epoch, 'history': history.history}))",
    """bar = progbar.Progbar(40)
for step in range(1, 41):
    time.sleep(0.025)
    bar.update(step)""",
    "history.plot();",
    """import tempfile
keras.utils.plot_model(model, to_file=tempfile.mkdtemp() + "/model.png", show_shapes=True, dpi=72)""",
]


def rendered(text):
    """The lines a notebook shows for `text`: each `\\r` starts its line over."""
    return [line.split("\r")[-1].rstrip() for line in text.split("\n")]


def stdout(cell):
    return "".join(o["text"] for o in cell.outputs if o["output_type"] == "stream" and o["name"] == "stdout")


@pytest.fixture(scope="module")
def notebook(tmp_path_factory):
    """The executed notebook, in a kernel of this interpreter that imports this checkout's scanfit."""
    kernels = tmp_path_factory.mktemp("jupyter")
    spec = kernels / "kernels" / "scanfit-test"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "scanfit test", "language": "python"}))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("JUPYTER_PATH", str(kernels))
        patch.setenv("PYTHONPATH", str(ROOT))
        patch.delenv("MPLBACKEND", raising=False)
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in CELLS])
        NotebookClient(nb, kernel_name="scanfit-test", timeout=120, startup_timeout=60,
                       resources={"metadata": {"path": str(ROOT)}}).execute()
    return nb


def test_kernel_runs_this_checkout_and_is_live(notebook):
    path, live = stdout(notebook.cells[0]).split()
    assert Path(path).resolve() == ROOT / "scanfit" / "__init__.py"
    assert live == "True"


def test_fit_shows_progress_in_place_then_the_terminal_lines(notebook):
    text = stdout(notebook.cells[1])
    lines = rendered(text)
    assert lines[-1] == ""
    assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2" and len(lines) == 5
    logs = json.loads(stdout(notebook.cells[2]))
    assert logs["epoch"] == [0, 1] and sorted(logs["history"]) == ["accuracy", "loss"]
    for epoch, raw in enumerate(text.split("\n")[1:4:2]):
        frames = raw.split("\r")[1:]
        assert len(frames) >= 2 and all(" - ETA: " in frame for frame in frames[:-1])  # redrawn in place
        match = FINAL_LINE.match(frames[-1].rstrip())
        assert match, frames[-1]
        assert match.group(2) == format_value(logs["history"]["loss"][epoch])
        assert match.group(3) == format_value(logs["history"]["accuracy"][epoch])


def test_notebook_redraws_a_few_times_a_second(notebook):
    frames = stdout(notebook.cells[3]).split("\r")[1:]
    assert frames[-1].startswith("40/40 [" + "=" * 30 + "]") and frames[-1].endswith("\n")
    # 40 steps over about 1.1 s: a redraw at step 1, then one per NOTEBOOK_INTERVAL, then the final line.
    assert 3 <= len(frames) <= 2 + 1.5 / NOTEBOOK_INTERVAL
    assert all(" - ETA: " in frame for frame in frames[:-1])


@pytest.mark.parametrize("cell, output_type", [(4, "display_data"), (5, "execute_result")], ids=["history", "model"])
def test_plots_are_shown_inline(notebook, cell, output_type):
    outputs = notebook.cells[cell].outputs
    images = [o for o in outputs if o["output_type"] == output_type and "image/png" in o["data"]]
    assert len(images) == 1 and len(outputs) == 1
    assert base64.b64decode(images[0]["data"]["image/png"]).startswith(PNG_SIGNATURE)
