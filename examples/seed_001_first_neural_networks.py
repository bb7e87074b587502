"""Seed 001: Fashion-MNIST samples, a one-layer network, deep networks (sigmoid, ReLU), Dropout, EarlyStopping.

Reproduces the experiments of shared/seeds/001 (chapters 7-1 to 7-3 of the
book it summarises) with ``import scanfit as keras`` and writes the figures
into OUTPUT:

    python examples/seed_001_first_neural_networks.py [OUTPUT] [--quick]

--quick uses 6,400 training images (5,120 to train, 1,280 to validate) and a
fifth of the epochs (at least 2).
"""
import scanfit as keras
from scanfit import plot
from scanfit.datasets.fashion_mnist import CLASS_NAMES

from _seed_common import epoch_counter, model_fn, parse_args, train_validation_split, write_results


def main(argv=None):
    args = parse_args(argv, __doc__, "seed_001")
    out = args.output
    plt = plot.pyplot()
    epochs = epoch_counter(args.quick, 5)

    keras.utils.set_random_seed(1)
    (train_input, train_target), (test_input, test_target) = keras.datasets.fashion_mnist.load_data()
    print(train_input.shape, train_target.shape)
    plt.close(plot.image_grid(train_input[:10], train_target[:10], CLASS_NAMES, path=out / "01-samples.png"))
    if args.quick:
        train_input, train_target = train_input[:6400], train_target[:6400]
    results = {}

    # 7-1: one Dense softmax layer on flattened pixels.
    train_scaled, val_scaled, train_target_1, val_target_1 = train_validation_split(
        train_input.reshape(-1, 28 * 28), train_target)
    dense = keras.layers.Dense(10, activation="softmax", input_shape=(784,))
    model = keras.Sequential(dense)
    model.compile(loss="sparse_categorical_crossentropy", metrics="accuracy")
    model.fit(train_scaled, train_target_1, epochs=epochs(5))
    results["dense_softmax_val_accuracy"] = model.evaluate(val_scaled, val_target_1)[1]

    # 7-2: a sigmoid hidden layer, then ReLU behind a Flatten layer.
    dense1 = keras.layers.Dense(100, activation="sigmoid", input_shape=(784,))
    dense2 = keras.layers.Dense(10, activation="softmax")
    model = keras.Sequential([dense1, dense2])
    model.summary()
    model.compile(loss="sparse_categorical_crossentropy", metrics="accuracy")
    sigmoid = model.fit(train_scaled, train_target_1, epochs=epochs(5), verbose=0,
                        validation_data=(val_scaled, val_target_1))
    model = keras.Sequential([
        keras.layers.Dense(100, activation="sigmoid", input_shape=(784,), name="hidden"),
        keras.layers.Dense(10, activation="softmax", name="output"),
    ], name="패션 MNIST 모델")
    model.summary()

    train_scaled, val_scaled, train_target, val_target = train_validation_split(train_input, train_target)
    model = keras.Sequential()
    model.add(keras.layers.Flatten(input_shape=(28, 28)))
    model.add(keras.layers.Dense(100, activation="relu"))
    model.add(keras.layers.Dense(10, activation="softmax"))
    model.compile(loss="sparse_categorical_crossentropy", metrics="accuracy")
    relu = model.fit(train_scaled, train_target, epochs=epochs(5), verbose=0, validation_data=(val_scaled, val_target))
    plt.close(plot.learning_curves([sigmoid, relu], labels=["sigmoid", "relu"], path=out / "02-sigmoid-vs-relu.png",
                                   title="Hidden layer activation"))
    results["sigmoid_val_accuracy"] = sigmoid.history["val_accuracy"][-1]
    results["relu_val_accuracy"] = relu.history["val_accuracy"][-1]

    # 7-3: validation loss over 20 epochs, then Dropout + Adam, then EarlyStopping.
    model = model_fn()
    model.compile(loss="sparse_categorical_crossentropy", metrics="accuracy")
    history = model.fit(train_scaled, train_target, epochs=epochs(20), verbose=0,
                        validation_data=(val_scaled, val_target))
    print(history.history.keys())
    plt.close(history.plot(metrics="loss", path=out / "03-validation-loss.png", title="RMSprop, 20 epochs"))

    model = model_fn(keras.layers.Dropout(0.3))
    model.summary()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics="accuracy")
    history = model.fit(train_scaled, train_target, epochs=epochs(20), verbose=0,
                        validation_data=(val_scaled, val_target))
    plt.close(history.plot(metrics="loss", path=out / "04-dropout.png", title="Adam with Dropout(0.3)"))
    results["dropout_val_accuracy"] = history.history["val_accuracy"][-1]

    model = model_fn(keras.layers.Dropout(0.3))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics="accuracy")
    checkpoint_cb = keras.callbacks.ModelCheckpoint(str(out / "best-model.h5"), save_best_only=True)
    early_stopping_cb = keras.callbacks.EarlyStopping(patience=2, restore_best_weights=True)
    history = model.fit(train_scaled, train_target, epochs=epochs(20), verbose=0,
                        validation_data=(val_scaled, val_target), callbacks=[checkpoint_cb, early_stopping_cb])
    print("stopped_epoch:", early_stopping_cb.stopped_epoch)
    plt.close(history.plot(stopped_epoch=early_stopping_cb, path=out / "05-early-stopping.png",
                           title="ModelCheckpoint + EarlyStopping(patience=2)"))
    best = keras.models.load_model(str(out / "best-model.h5"))
    results["best_model_val_accuracy"] = best.evaluate(val_scaled, val_target, verbose=0)[1]
    write_results(out, results)
    return results


if __name__ == "__main__":
    main()
