"""Seed 002: saving the best model, learning curves, EarlyStopping, weight decay, MaxNorm and Dropout.

Reproduces the experiments of shared/seeds/002 with ``import scanfit as keras``
and writes the figures into OUTPUT:

    python examples/seed_002_best_model.py [OUTPUT] [--quick]

The seed's data set (a small binary table) is not available offline, so a
real one of the same shape stands in: 6,497 Fashion-MNIST images projected
onto their 10 leading principal directions, labelled 1 for footwear (sandal,
sneaker, ankle boot) and 0 otherwise. --quick trains for a 25th of the epochs (at least 2).
"""
import numpy as np

import scanfit as keras
from scanfit import plot

from _seed_common import epoch_counter, parse_args, write_results

FOOTWEAR = (5, 7, 9)


def footwear_table(samples=6497, features=10, seed=3):
    """``(x, y)``: random Fashion-MNIST images in their leading principal subspace; y = is it footwear."""
    (images, labels), _ = keras.datasets.fashion_mnist.load_data()
    pick = np.random.default_rng(seed).choice(len(images), samples, replace=False)
    pixels = images[pick].reshape(samples, -1) / 255.0
    centred = pixels - pixels.mean(axis=0)
    basis = np.random.default_rng(seed).normal(size=(pixels.shape[1], features))
    for _ in range(5):  # subspace iteration: converges to the leading principal directions
        basis, _ = np.linalg.qr(centred.T @ (centred @ basis))
    x = centred @ basis
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    y = np.isin(labels[pick], FOOTWEAR).astype(np.float32)
    return x.astype(np.float32), y


def base_model(regularize=False, max_norm=False, dropout=False):
    """The seed's 30-12-8-1 network, with its regularizers, MaxNorm and Dropout as options."""
    def options():
        extra = {}
        if regularize:
            extra.update(kernel_regularizer=keras.regularizers.l2(0.01),
                         activity_regularizer=keras.regularizers.l1(0.01))
        if max_norm:
            extra.update(kernel_constraint=keras.constraints.MaxNorm(2.0))
        return extra

    model = keras.Sequential()
    model.add(keras.layers.Dense(30, input_dim=10, activation="relu", **options()))
    for units in (12, 8):
        if dropout:
            model.add(keras.layers.Dropout(0.5))
        model.add(keras.layers.Dense(units, activation="relu", **options()))
    if dropout:
        model.add(keras.layers.Dropout(0.5))
    model.add(keras.layers.Dense(1, activation="sigmoid", **(options() if regularize and not max_norm else {})))
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    return model


def main(argv=None):
    args = parse_args(argv, __doc__, "seed_002", quick_help="fewer epochs (for tests)")
    out = args.output
    plt = plot.pyplot()
    epochs = epoch_counter(args.quick, 25)

    keras.utils.set_random_seed(2)
    x, y = footwear_table()
    results = {"footwear_share": float(y.mean())}

    # Save a model file at every improvement, named by epoch and val_loss.
    model_dir = out / "model"
    model_dir.mkdir(exist_ok=True)
    modelpath = str(model_dir / "{epoch:02d}-{val_loss:.4f}.hdf5")
    checkpointer = keras.callbacks.ModelCheckpoint(filepath=modelpath, monitor="val_loss", verbose=1,
                                                   save_best_only=True)
    model = base_model()
    model.fit(x, y, validation_split=0.2, epochs=epochs(200), batch_size=200, verbose=0, callbacks=[checkpointer])
    results["checkpoint_files"] = sorted(path.name for path in model_dir.glob("*.hdf5"))

    # Learning curves of a long run: the validation loss turns up while the training loss keeps falling.
    model = base_model()
    history = model.fit(x, y, validation_split=0.33, epochs=epochs(3500), batch_size=500, verbose=0)
    hist_df = history.to_dataframe()
    print(hist_df)
    plt.close(history.plot(path=out / "01-learning-curves.png", title="3,500 epochs, validation_split=0.33"))
    results["long_run"] = {"epochs": len(history.epoch), "best_epoch": plot.best_epoch(history)[0],
                           "val_accuracy": history.history["val_accuracy"][-1]}

    # EarlyStopping on val_loss with min_delta, keeping the best weights.
    model = base_model()
    early_stopping_callback = keras.callbacks.EarlyStopping(monitor="val_loss", patience=epochs(100),
                                                            restore_best_weights=True, min_delta=0.001)
    history = model.fit(x, y, validation_split=0.33, epochs=epochs(2000), batch_size=500, verbose=0,
                        callbacks=[early_stopping_callback])
    plt.close(history.plot(stopped_epoch=early_stopping_callback, path=out / "02-early-stopping.png",
                           title=f"EarlyStopping(patience={epochs(100)}, min_delta=0.001)"))
    results["early_stopping"] = {"stopped_epoch": early_stopping_callback.stopped_epoch,
                                 "epochs_run": len(history.epoch)}

    # Weight decay (L2) and activity L1, then MaxNorm, then Dropout: accuracy on the whole table.
    variants = {
        "plain": base_model(),
        "l2 + l1 activity": base_model(regularize=True),
        "+ MaxNorm(2)": base_model(regularize=True, max_norm=True),
        "+ Dropout(0.5)": base_model(regularize=True, max_norm=True, dropout=True),
    }
    histories, accuracy = {}, {}
    for name, model in variants.items():
        histories[name] = model.fit(x, y, epochs=epochs(100), batch_size=100, verbose=0)
        accuracy[name] = model.evaluate(x, y, verbose=0)[1]
        print(f"{name}: Accuracy: {accuracy[name]:.4f}")
    plt.close(plot.compare_runs(histories, path=out / "03-regularization.png"))
    results["regularization_accuracy"] = accuracy
    write_results(out, results)
    return results


if __name__ == "__main__":
    main()
