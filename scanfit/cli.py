"""The ``scanfit`` command (also ``python -m scanfit``).

    scanfit train [options]              train the seeds' MLP, write a run folder
    scanfit summary MODEL_FILE           print a saved model's layers
    scanfit evaluate MODEL_FILE --dataset NAME
    scanfit plot HISTORY.csv [-o PNG]    learning curves of a CSVLogger file
    scanfit datasets                     where each data set is, or how to get it

Exit status: 0 on success, 2 for usage errors, 1 for any other error, reported
as one line on stderr.
"""
import argparse
import datetime
import shlex
import sys
import time
from pathlib import Path

import numpy as np

import scanfit as keras
from scanfit import plot
from scanfit.callbacks.csv_logger import read_history
from scanfit.datasets import _source
from scanfit.atomic_files import atomic_output

DATASETS = tuple(name for name in _source.FOLDER_NAMES if name not in _source.FILES)  # the 28x28 image sets
OPTIMIZERS = ("adam", "rmsprop", "sgd", "adagrad", "adadelta", "adamax", "nadam", "adamw")
BEST_MODEL = "best-model.keras"
HISTORY_CSV = "history.csv"
CURVES_PNG = "learning-curves.png"
LOG_DIR = "logs"
REPORT = "report.md"


# --- argument types ------------------------------------------------------------
def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _int(text):
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def _rate(low_open):
    def parse(text):
        try:
            value = float(text)
        except ValueError:
            value = -1.0
        if not (0.0 < value < 1.0 if low_open else 0.0 <= value < 1.0):
            bounds = "between 0 and 1 (exclusive)" if low_open else "in [0, 1)"
            raise argparse.ArgumentTypeError(f"expected a number {bounds}, got {text!r}")
        return value

    return parse


def _dataset(text):
    name = text.replace("-", "_").lower()
    if name not in DATASETS:
        raise argparse.ArgumentTypeError(f"unknown data set {text!r}; choose from {', '.join(DATASETS)}")
    return name


def build_parser():
    parser = argparse.ArgumentParser(
        prog="scanfit", description="Train, inspect and evaluate Keras-style models on JAX.")
    parser.add_argument("--version", action="version", version=f"scanfit {keras.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    train = commands.add_parser(
        "train", help="train the seeds' MLP with Dropout, EarlyStopping and ModelCheckpoint",
        description="Train Flatten -> Dense(relu) -> Dropout -> Dense(softmax) on a validation split, "
                    "keep the best model, and write a run folder: best model, history CSV, learning "
                    "curves, TensorBoard logs and a Markdown report with the test accuracy.")
    train.add_argument("--dataset", type=_dataset, default="fashion_mnist", help="fashion_mnist (default) or mnist")
    train.add_argument("--data-dir", type=Path, help="folder holding the data set's files (default: search, then download)")
    train.add_argument("--output", "-o", type=Path, help="run folder (default: runs/DATASET-DATE-TIME)")
    train.add_argument("--epochs", type=_positive_int, default=20, help="most epochs to train (default 20)")
    train.add_argument("--batch-size", type=_positive_int, default=32, help="default 32")
    train.add_argument("--optimizer", choices=OPTIMIZERS, default="adam", help="default adam")
    train.add_argument("--hidden", type=_positive_int, default=100, help="units of the hidden layer (default 100)")
    train.add_argument("--dropout", type=_rate(False), default=0.3, help="dropout rate, 0 for none (default 0.3)")
    train.add_argument("--patience", type=_positive_int, default=2,
                       help="epochs without a better val_loss before stopping (default 2)")
    train.add_argument("--validation-split", type=_rate(True), default=0.2,
                       help="share of the training images held out for validation (default 0.2)")
    train.add_argument("--limit", type=_positive_int, help="use only the first N training images (quick runs)")
    train.add_argument("--seed", type=_int, default=42, help="random seed (default 42)")
    train.add_argument("--quiet", "-q", action="store_true", help="no per-epoch lines")
    train.set_defaults(run=train_command)

    summary = commands.add_parser("summary", help="print the layers of a saved model",
                                  description="Print the layer table of a saved model (.keras or .h5).")
    summary.add_argument("model", type=Path, metavar="MODEL_FILE")
    summary.set_defaults(run=summary_command)

    evaluate = commands.add_parser("evaluate", help="a saved model's loss and accuracy on a test set",
                                   description="Evaluate a saved model on the test split of a data set.")
    evaluate.add_argument("model", type=Path, metavar="MODEL_FILE")
    evaluate.add_argument("--dataset", type=_dataset, required=True, help="fashion_mnist or mnist")
    evaluate.add_argument("--data-dir", type=Path, help="folder holding the data set's files")
    evaluate.add_argument("--batch-size", type=_positive_int, default=256, help="default 256")
    evaluate.add_argument("--limit", type=_positive_int, help="use only the first N test images")
    evaluate.set_defaults(run=evaluate_command)

    plot_parser = commands.add_parser("plot", help="learning curves of a history CSV",
                                      description="Draw the learning curves of a history CSV (CSVLogger's format).")
    plot_parser.add_argument("history", type=Path, metavar="HISTORY.csv")
    plot_parser.add_argument("-o", "--output", type=Path, help="PNG to write (default: the CSV's name with .png)")
    plot_parser.add_argument("--title", help="figure title")
    plot_parser.set_defaults(run=plot_command)

    datasets = commands.add_parser("datasets", help="where each data set was found, or how to get it",
                                   description="Show where each data set would be loaded from.")
    datasets.set_defaults(run=datasets_command)
    return parser


def main(argv=None):
    """Run the command line; returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    args.command_line = "scanfit " + shlex.join(argv)
    try:
        return args.run(args) or 0
    except KeyboardInterrupt:
        print("scanfit: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # the command line reports every failure as one line
        message = " ".join(str(error).split()) or type(error).__name__
        print(f"scanfit: error: {message}", file=sys.stderr)
        return 1


# --- train -----------------------------------------------------------------------
def load_scaled(dataset, data_dir):
    """``(x_train, y_train), (x_test, y_test)`` with pixels scaled to [0, 1]."""
    (x_train, y_train), (x_test, y_test) = getattr(keras.datasets, dataset).load_data(path=data_dir)
    return (x_train / np.float32(255.0), y_train), (x_test / np.float32(255.0), y_test)


def mlp(hidden, dropout, name):
    """The seeds' ``model_fn(keras.layers.Dropout(rate))``."""
    model = keras.Sequential(name=name)
    model.add(keras.Input(shape=(28, 28)))
    model.add(keras.layers.Flatten())
    model.add(keras.layers.Dense(hidden, activation="relu"))
    if dropout:
        model.add(keras.layers.Dropout(dropout))
    model.add(keras.layers.Dense(10, activation="softmax"))
    return model


def train_command(args):
    (x_train, y_train), (x_test, y_test) = load_scaled(args.dataset, args.data_dir)
    run = args.output or Path("runs") / f"{args.dataset}-{datetime.datetime.now():%Y%m%d-%H%M%S}"
    run.mkdir(parents=True, exist_ok=True)
    _clear_old_logs(run / LOG_DIR)
    keras.utils.set_random_seed(args.seed)
    if args.limit:
        x_train, y_train = x_train[:args.limit], y_train[:args.limit]
    x_train, x_val, y_train, y_val = keras.utils.train_test_split(
        x_train, y_train, test_size=args.validation_split, seed=args.seed)

    model = mlp(args.hidden, args.dropout, name=f"{args.dataset}_mlp")
    model.compile(optimizer=args.optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    early_stopping = keras.callbacks.EarlyStopping(patience=args.patience, restore_best_weights=True)
    callbacks = [
        keras.callbacks.ModelCheckpoint(str(run / BEST_MODEL), save_best_only=True),
        early_stopping,
        keras.callbacks.CSVLogger(str(run / HISTORY_CSV)),
        keras.callbacks.TensorBoard(log_dir=str(run / LOG_DIR)),
    ]
    started = time.perf_counter()
    history = model.fit(x_train, y_train, epochs=args.epochs, batch_size=args.batch_size,
                        validation_data=(x_val, y_val), callbacks=callbacks, verbose=0 if args.quiet else 2)
    seconds = time.perf_counter() - started

    best = keras.models.load_model(str(run / BEST_MODEL))
    test = best.evaluate(x_test, y_test, batch_size=256, verbose=0, return_dict=True)
    figure = plot.learning_curves(history, stopped_epoch=early_stopping, path=run / CURVES_PNG,
                                  title=f"{model.name}: {args.optimizer}, dropout {args.dropout}")
    plot.pyplot().close(figure)
    sizes = {"train": len(x_train), "validation": len(x_val), "test": len(x_test)}
    _write_report(run, args, model, history, early_stopping, test, sizes, seconds)
    print(f"Test accuracy {test['accuracy']:.4f} (loss {test['loss']:.4f}) with the best model, "
          f"{len(history.epoch)} epochs in {seconds:.1f} s.")
    print(f"Run folder: {run}  ({BEST_MODEL}, {HISTORY_CSV}, {CURVES_PNG}, {LOG_DIR}/, {REPORT})")
    return 0


def _clear_old_logs(log_dir):
    """Remove the TensorBoard logs of an earlier run in the same folder (and nothing else)."""
    if not log_dir.exists():
        return
    files = [path for path in log_dir.rglob("*") if path.is_file()]
    if any(not path.name.startswith("events.out.tfevents.") for path in files):
        raise FileExistsError(
            f"{log_dir} holds files other than TensorBoard logs; choose another --output folder.")
    for path in files:
        path.unlink()


def _write_report(run, args, model, history, early_stopping, test, sizes, seconds):
    best_epoch, best_loss = plot.best_epoch(history, "val_loss")
    stopped = early_stopping.stopped_epoch
    stop_line = (f"stopped early after epoch {stopped} (val_loss did not improve for {args.patience} epochs)"
                 if stopped else f"ran all {args.epochs} epochs")
    layers = " → ".join(_describe(layer) for layer in model.layers)
    keys = list(history.history)
    rows = [f"| {epoch} | " + " | ".join(f"{history.history[key][i]:.4f}" for key in keys) + " |"
            for i, epoch in enumerate(history.epoch)]
    summary_lines = []
    model.summary(print_fn=summary_lines.append)
    text = "\n".join([
        f"# scanfit train: {_source.TITLES[args.dataset]}",
        "",
        f"**Test accuracy: {test['accuracy']:.4f}** (loss {test['loss']:.4f}) on {sizes['test']:,} test images, "
        f"with the best model (lowest val_loss {best_loss:.4f}, epoch {best_epoch}).",
        "",
        f"- Data: {sizes['train']:,} training and {sizes['validation']:,} validation images "
        f"(split with seed {args.seed}), pixels scaled to [0, 1].",
        f"- Model: {layers}; {model.count_params():,} parameters.",
        f"- Training: {args.optimizer}, batch size {args.batch_size}, up to {args.epochs} epochs; "
        f"{stop_line}; {len(history.epoch)} epochs in {seconds:.1f} s.",
        f"- Command: `{args.command_line}`",
        "",
        "Epochs count from 0, as in the history CSV and the plot.",
        "",
        "| file | contents |",
        "|---|---|",
        f"| `{BEST_MODEL}` | the best model (ModelCheckpoint, save_best_only): `scanfit evaluate {BEST_MODEL} "
        f"--dataset {args.dataset}` |",
        f"| `{HISTORY_CSV}` | loss and accuracy per epoch (CSVLogger): `scanfit plot {HISTORY_CSV}` |",
        f"| `{CURVES_PNG}` | learning curves, best epoch and early stop marked |",
        f"| `{LOG_DIR}/` | TensorBoard logs: `tensorboard --logdir {run / LOG_DIR}` |",
        "",
        f"![learning curves]({CURVES_PNG})",
        "",
        "## History",
        "",
        "| epoch | " + " | ".join(keys) + " |",
        "|---" * (len(keys) + 1) + "|",
        *rows,
        "",
        "## Model",
        "",
        "```",
        *summary_lines,
        "```",
        "",
    ])
    with atomic_output(run / REPORT) as out:
        out.write(text.encode("utf-8"))


def _describe(layer):
    config = layer.get_config()
    kind = type(layer).__name__
    if kind == "Dense":
        return f"Dense({config['units']}, {config.get('activation', 'linear')})"
    if kind == "Dropout":
        return f"Dropout({config['rate']})"
    return kind


# --- summary, evaluate ------------------------------------------------------------
def _load_model(path):
    if not path.is_file():
        raise FileNotFoundError(f"no such model file: {path}")
    return keras.models.load_model(str(path))


def summary_command(args):
    _load_model(args.model).summary()
    return 0


def evaluate_command(args):
    model = _load_model(args.model)
    _, (x_test, y_test) = load_scaled(args.dataset, args.data_dir)
    if args.limit:
        x_test, y_test = x_test[:args.limit], y_test[:args.limit]
    x_test = _fit_input(model, x_test)
    outputs = model.output_shape[-1]
    if outputs != 10:
        raise ValueError(f"{args.model} outputs {outputs} values per image, but {args.dataset} has 10 classes.")
    if not getattr(model, "compiled", False):
        model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    if _wants_one_hot(model.loss):
        y_test = keras.utils.to_categorical(y_test, 10)
    results = model.evaluate(x_test, y_test, batch_size=args.batch_size, verbose=0, return_dict=True)
    if not any(key in results for key in plot.ACCURACY_KEYS):
        predicted = np.argmax(model.predict(x_test, batch_size=args.batch_size, verbose=0), axis=-1)
        results["accuracy"] = float(np.mean(predicted == np.argmax(y_test, -1) if y_test.ndim > 1 else y_test))
    print(f"{args.model} on the {_source.TITLES[args.dataset]} test split ({len(x_test):,} images):")
    for key, value in results.items():
        print(f"  {key}: {value:.4f}")
    return 0


def _fit_input(model, images):
    """The images reshaped to the model's input shape, e.g. (n, 784) or (n, 28, 28, 1)."""
    sample_shape = tuple(model.input_shape[1:])
    if sample_shape == images.shape[1:]:
        return images
    if None in sample_shape or int(np.prod(sample_shape)) != int(np.prod(images.shape[1:])):
        raise ValueError(f"the model takes inputs of shape {sample_shape}, which 28x28 images do not fit.")
    return images.reshape((len(images),) + sample_shape)


def _wants_one_hot(loss):
    name = loss if isinstance(loss, str) else getattr(loss, "name", None) or getattr(loss, "__name__", "")
    name = str(name).lower()
    return "categorical" in name and "sparse" not in name


# --- plot, datasets -----------------------------------------------------------------
def plot_command(args):
    history = read_history(args.history)
    output = args.output or args.history.with_suffix(".png")
    plot.pyplot().close(plot.learning_curves(history, title=args.title, path=output))
    print(f"Wrote {output}")
    return 0


def datasets_command(args):
    for name in DATASETS:
        where, how = keras.datasets.locate(name)
        print(f"{name} ({_source.TITLES[name]}): {where if where else 'not found'}")
        print(f"    {how}")
    return 0
