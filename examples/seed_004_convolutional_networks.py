"""Seed 004: training curves, ModelCheckpoint + EarlyStopping, then convolution, padding, strides, pooling and a CNN.

Reproduces the experiments of shared/seeds/004 (chapters 7-3 and 8-1 of the
book it summarises, and the network 8-1 builds up to) on Fashion-MNIST with
``import scanfit as keras``, and writes the figures into OUTPUT:

    python examples/seed_004_convolutional_networks.py [OUTPUT] [--quick]

--quick uses 6,400 training images (5,120 to train, 1,280 to validate) and a
tenth of the epochs (at least 2).
"""
import numpy as np

import scanfit as keras
from scanfit import plot
from scanfit.datasets.fashion_mnist import CLASS_NAMES

from _seed_common import epoch_counter, fashion_mnist_split, model_fn, parse_args, write_results


def main(argv=None):
    args = parse_args(argv, __doc__, "seed_004")
    out = args.output
    plt = plot.pyplot()
    epochs = epoch_counter(args.quick, 10)

    keras.utils.set_random_seed(4)
    (train_scaled, train_target), (val_scaled, val_target), (test_input, test_target) = fashion_mnist_split(args.quick)
    results = {}

    # 7-3: loss and accuracy per epoch.
    model = model_fn()
    model.compile(loss="sparse_categorical_crossentropy", metrics="accuracy")
    history = model.fit(train_scaled, train_target, epochs=epochs(5), verbose=0)
    print(history.history.keys())
    plt.close(history.plot(path=out / "01-loss-accuracy.png", title="Training loss and accuracy"))

    # 7-3: Dropout, ModelCheckpoint and EarlyStopping together.
    model = model_fn(keras.layers.Dropout(0.3))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics="accuracy")
    checkpoint_cb = keras.callbacks.ModelCheckpoint(str(out / "best-model.h5"), save_best_only=True)
    early_stopping_cb = keras.callbacks.EarlyStopping(patience=2, restore_best_weights=True)
    history = model.fit(train_scaled, train_target, epochs=epochs(20), verbose=0,
                        validation_data=(val_scaled, val_target), callbacks=[checkpoint_cb, early_stopping_cb])
    print("stopped_epoch:", early_stopping_cb.stopped_epoch)
    plt.close(history.plot(stopped_epoch=early_stopping_cb, path=out / "02-dense-early-stopping.png",
                           title="Dense network: Dropout(0.3), EarlyStopping(patience=2)"))
    results["dense_val_accuracy"] = keras.models.load_model(str(out / "best-model.h5")).evaluate(
        val_scaled, val_target, verbose=0)[1]

    # 8-1: convolution with padding and strides, then pooling: output shapes.
    layers = keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        keras.layers.Conv2D(10, kernel_size=(3, 3), activation="relu", padding="same", strides=1),
        keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(10, kernel_size=(3, 3), activation="relu"),
        keras.layers.MaxPooling2D(2, strides=2, padding="valid"),
    ])
    layers.summary()
    results["conv_output_shape"] = list(layers.output_shape)

    # The convolutional network these layers build: two conv + pool blocks, then dense layers.
    train_images = train_scaled.reshape(-1, 28, 28, 1)
    val_images = val_scaled.reshape(-1, 28, 28, 1)
    model = keras.Sequential()
    model.add(keras.layers.Conv2D(32, kernel_size=3, activation="relu", padding="same", input_shape=(28, 28, 1)))
    model.add(keras.layers.MaxPooling2D(2))
    model.add(keras.layers.Conv2D(64, kernel_size=3, activation="relu", padding="same"))
    model.add(keras.layers.MaxPooling2D(2))
    model.add(keras.layers.Flatten())
    model.add(keras.layers.Dense(100, activation="relu"))
    model.add(keras.layers.Dropout(0.4))
    model.add(keras.layers.Dense(10, activation="softmax"))
    model.summary()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics="accuracy")
    checkpoint_cb = keras.callbacks.ModelCheckpoint(str(out / "best-cnn-model.h5"), save_best_only=True)
    early_stopping_cb = keras.callbacks.EarlyStopping(patience=2, restore_best_weights=True)
    history = model.fit(train_images, train_target, epochs=epochs(20), verbose=2,
                        validation_data=(val_images, val_target), callbacks=[checkpoint_cb, early_stopping_cb])
    plt.close(history.plot(stopped_epoch=early_stopping_cb, path=out / "03-cnn-early-stopping.png",
                           title="CNN: Conv2D-MaxPooling2D x2, Dropout(0.4), EarlyStopping(patience=2)"))
    best = keras.models.load_model(str(out / "best-cnn-model.h5"))
    results["cnn_val_accuracy"] = best.evaluate(val_images, val_target, verbose=0)[1]
    test_images = (test_input[:20] / 255.0).reshape(-1, 28, 28, 1)
    predicted = np.argmax(best.predict(test_images, verbose=0), axis=-1)
    plt.close(plot.image_grid(test_input[:20], predicted, CLASS_NAMES, title="CNN predictions on test images",
                              path=out / "04-cnn-predictions.png"))
    results["cnn_first_20_test_correct"] = int(np.sum(predicted == test_target[:20]))
    write_results(out, results)
    return results


if __name__ == "__main__":
    main()
