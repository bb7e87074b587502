"""Seed 000: loss curves, validation loss, Adam, Dropout, saving, ModelCheckpoint and EarlyStopping.

Reproduces the experiments of shared/seeds/000 on Fashion-MNIST with
``import scanfit as keras`` (the seed's code, with scanfit's train_test_split
and plots), and writes the figures into OUTPUT:

    python examples/seed_000_loss_curves_dropout_callbacks.py [OUTPUT] [--quick]

--quick uses 6,400 training images (5,120 to train, 1,280 to validate) and a
fifth of the epochs (at least 2).
"""
import numpy as np

import scanfit as keras
from scanfit import plot

from _seed_common import epoch_counter, fashion_mnist_split, model_fn, parse_args, write_results


def main(argv=None):
    args = parse_args(argv, __doc__, "seed_000")
    out = args.output
    plt = plot.pyplot()
    epochs = epoch_counter(args.quick, 5)

    def save_curves(history, name, **options):
        plt.close(plot.learning_curves(history, path=out / name, **options))

    keras.utils.set_random_seed(42)
    (train_scaled, train_target), (val_scaled, val_target), _ = fashion_mnist_split(args.quick)
    results = {}

    # Loss and accuracy curves of the training set.
    model = model_fn()
    model.summary()
    model.compile(loss="sparse_categorical_crossentropy", metrics="accuracy")
    history = model.fit(train_scaled, train_target, epochs=epochs(5), verbose=1)
    print(history.history.keys())
    save_curves(history, "01-loss-accuracy.png", title="RMSprop, training set")

    model = model_fn()
    model.compile(loss="sparse_categorical_crossentropy", metrics="accuracy")
    history = model.fit(train_scaled, train_target, epochs=epochs(20), verbose=0)
    save_curves(history, "02-loss-20-epochs.png", metrics="loss", title="RMSprop, 20 epochs")

    # Validation loss: RMSprop for 10 and 20 epochs, then Adam.
    runs = {}
    for name, optimizer, count in (("rmsprop-10", "rmsprop", 10), ("rmsprop-20", "rmsprop", 20), ("adam", "adam", 20)):
        model = model_fn()
        model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics="accuracy")
        runs[name] = model.fit(train_scaled, train_target, epochs=epochs(count), verbose=0,
                               validation_data=(val_scaled, val_target))
        save_curves(runs[name], f"03-validation-{name}.png", title=f"{optimizer}, train and validation")

    # Dropout(0.3) with Adam.
    model = model_fn(keras.layers.Dropout(0.3))
    model.summary()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics="accuracy")
    runs["adam+dropout"] = history = model.fit(train_scaled, train_target, epochs=epochs(20), verbose=0,
                                               validation_data=(val_scaled, val_target))
    save_curves(history, "04-dropout.png", title="Adam with Dropout(0.3)")
    save_curves([runs["rmsprop-20"], runs["adam"], runs["adam+dropout"]], "05-compare-optimizers-dropout.png",
                labels=["rmsprop", "adam", "adam + dropout"], metrics="loss", title="RMSprop, Adam, Adam + Dropout")
    results["val_accuracy"] = {name: run.history["val_accuracy"][-1] for name, run in runs.items()}

    # Saving and restoring: weights only, then the whole model.
    model.save_weights(str(out / "model-weights.h5"))
    model.save(str(out / "model-whole.h5"))
    model = model_fn(keras.layers.Dropout(0.3))
    model.load_weights(str(out / "model-weights.h5"))
    val_labels = np.argmax(model.predict(val_scaled, verbose=0), axis=-1)
    results["restored_weights_val_accuracy"] = float(np.mean(val_labels == val_target))
    print("accuracy with the restored weights:", results["restored_weights_val_accuracy"])

    # ModelCheckpoint keeps the best model.
    model = model_fn(keras.layers.Dropout(0.3))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics="accuracy")
    checkpoint_cb = keras.callbacks.ModelCheckpoint(str(out / "best-model.h5"), save_best_only=True)
    model.fit(train_scaled, train_target, epochs=epochs(20), verbose=0,
              validation_data=(val_scaled, val_target), callbacks=[checkpoint_cb])
    model = keras.models.load_model(str(out / "best-model.h5"))
    results["best_model_val_accuracy"] = model.evaluate(val_scaled, val_target, verbose=0)[1]

    # EarlyStopping with the checkpoint: stop when val_loss stops improving.
    model = model_fn(keras.layers.Dropout(0.3))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics="accuracy")
    checkpoint_cb = keras.callbacks.ModelCheckpoint(str(out / "best-model.h5"), save_best_only=True)
    early_stopping_cb = keras.callbacks.EarlyStopping(patience=2, restore_best_weights=True)
    history = model.fit(train_scaled, train_target, epochs=epochs(20), verbose=0,
                        validation_data=(val_scaled, val_target), callbacks=[checkpoint_cb, early_stopping_cb])
    print("stopped_epoch:", early_stopping_cb.stopped_epoch)
    save_curves(history, "06-early-stopping.png", stopped_epoch=early_stopping_cb, title="EarlyStopping(patience=2)")
    results["early_stopping"] = {
        "stopped_epoch": early_stopping_cb.stopped_epoch,
        "epochs_run": len(history.epoch),
        "val_accuracy": model.evaluate(val_scaled, val_target, verbose=0)[1],
    }
    write_results(out, results)
    return results


if __name__ == "__main__":
    main()
