"""Seed 003: sigmoid saturation, He init + LeakyReLU, batch normalization, transfer learning, optimizer benchmark.

Reproduces the experiments of shared/seeds/003 with ``import scanfit as keras``
(Fashion-MNIST for the networks, MNIST for the optimizer benchmark) and writes
the figures into OUTPUT:

    python examples/seed_003_training_deep_networks.py [OUTPUT] [--quick] [--mnist-path DIR]

--mnist-path is a folder with MNIST's IDX files or mnist.npz (for instance the
10,000-digit sample data/mnist-sample); without it scanfit's loader
finds or downloads the full MNIST. --quick uses 6,400 Fashion-MNIST training
and 2,560 test images, 7,936 MNIST training and 1,920 test digits (whole
batches only, so fewer programs to compile) and a fifth of the epochs (the
transfer-learning part keeps the seed's epochs).
"""
import numpy as np

import scanfit as keras
from scanfit import plot

from _seed_common import epoch_counter, parse_args, write_results

OPTIMIZERS = ["sgd", "rmsprop", "adagrad", "adam"]


def split_dataset(X, y):
    y_5_or_6 = (y == 5) | (y == 6)  # sandals or shirts
    y_A = y[~y_5_or_6]
    y_A[y_A > 6] -= 2  # class indices 7, 8, 9 become 5, 6, 7
    y_B = (y[y_5_or_6] == 6).astype(np.float32)  # binary task: is it a shirt (class 6)?
    return ((X[~y_5_or_6], y_A), (X[y_5_or_6], y_B))


def main(argv=None):
    args = parse_args(argv, __doc__, "seed_003",
                      mnist_path_help="folder (or .npz) with MNIST for the optimizer benchmark")
    out = args.output
    plt = plot.pyplot()
    epochs = epoch_counter(args.quick, 5, least=1)
    results = {}

    # I. The sigmoid saturates at both ends.
    plt.close(plot.sigmoid_saturation(path=out / "01-sigmoid-saturation.png"))

    (X_train_full, y_train_full), (X_test, y_test) = keras.datasets.fashion_mnist.load_data()
    n_valid = 5000
    if args.quick:
        X_train_full, y_train_full, n_valid = X_train_full[:6400], y_train_full[:6400], 1280
        X_test, y_test = X_test[:2560], y_test[:2560]
    X_train_full = X_train_full / 255.0
    X_test = X_test / 255.0
    X_valid, X_train = X_train_full[:n_valid], X_train_full[n_valid:]
    y_valid, y_train = y_train_full[:n_valid], y_train_full[n_valid:]

    # II-III. He initialization with LeakyReLU, plain SGD.
    keras.utils.set_random_seed(42)
    he_avg_init = keras.initializers.VarianceScaling(scale=2.0, mode="fan_avg", distribution="uniform")
    keras.layers.Dense(10, activation="relu", kernel_initializer=he_avg_init)
    model = keras.models.Sequential([
        keras.layers.Flatten(input_shape=[28, 28]),
        keras.layers.Dense(300, kernel_initializer="he_normal"),
        keras.layers.LeakyReLU(),
        keras.layers.Dense(100, kernel_initializer="he_normal"),
        keras.layers.LeakyReLU(),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(loss="sparse_categorical_crossentropy", optimizer=keras.optimizers.SGD(lr=1e-3), metrics=["accuracy"])
    history = model.fit(X_train, y_train, epochs=epochs(10), validation_data=(X_valid, y_valid), verbose=2)
    plt.close(history.plot(path=out / "02-leaky-relu-learning-curves.png", title="He init + LeakyReLU, SGD(lr=1e-3)"))
    results["leaky_relu_test_accuracy"] = model.evaluate(X_test, y_test, verbose=0)[1]

    # IV. Batch normalization after, then before, the activations.
    bn_after = keras.models.Sequential([
        keras.layers.Flatten(input_shape=[28, 28]),
        keras.layers.BatchNormalization(),
        keras.layers.Dense(300, activation="relu"),
        keras.layers.BatchNormalization(),
        keras.layers.Dense(100, activation="relu"),
        keras.layers.BatchNormalization(),
        keras.layers.Dense(10, activation="softmax"),
    ])
    bn_after.summary()
    bn1 = bn_after.layers[1]
    print([(var.name, var.trainable) for var in bn1.variables])
    bn_before = keras.models.Sequential([
        keras.layers.Flatten(input_shape=[28, 28]),
        keras.layers.BatchNormalization(),
        keras.layers.Dense(300, use_bias=False),
        keras.layers.BatchNormalization(),
        keras.layers.Activation("relu"),
        keras.layers.Dense(100, use_bias=False),
        keras.layers.BatchNormalization(),
        keras.layers.Activation("relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])
    bn_histories = []
    for name, model in (("bn_after_activation", bn_after), ("bn_before_activation", bn_before)):
        model.compile(loss="sparse_categorical_crossentropy", optimizer=keras.optimizers.SGD(lr=1e-3),
                      metrics=["accuracy"])
        bn_histories.append(model.fit(X_train, y_train, epochs=epochs(10), validation_data=(X_valid, y_valid),
                                      verbose=2))
        results[f"{name}_test_accuracy"] = model.evaluate(X_test, y_test, verbose=0)[1]
    plt.close(plot.learning_curves(bn_histories, labels=["BN after activation", "BN before activation"],
                                   path=out / "03-batch-normalization.png", title="Batch normalization, SGD(lr=1e-3)"))

    # V. Transfer learning: model A (8 classes) helps model B (shirt or sandal, 200 images). The seed's
    # epoch counts even with --quick: on its fewer images, 4 epochs of SGD(1e-3) leave model A untrained.
    (X_train_A, y_train_A), (X_train_B, y_train_B) = split_dataset(X_train, y_train)
    (X_valid_A, y_valid_A), (X_valid_B, y_valid_B) = split_dataset(X_valid, y_valid)
    (X_test_A, y_test_A), (X_test_B, y_test_B) = split_dataset(X_test, y_test)
    X_train_B, y_train_B = X_train_B[:200], y_train_B[:200]
    keras.utils.set_random_seed(42)

    model_A = keras.models.Sequential()
    model_A.add(keras.layers.Flatten(input_shape=[28, 28]))
    for n_hidden in (300, 100, 50, 50, 50):
        model_A.add(keras.layers.Dense(n_hidden, activation="selu"))
    model_A.add(keras.layers.Dense(8, activation="softmax"))
    model_A.compile(loss="sparse_categorical_crossentropy", optimizer=keras.optimizers.SGD(lr=1e-3),
                    metrics=["accuracy"])
    model_A.fit(X_train_A, y_train_A, epochs=20, validation_data=(X_valid_A, y_valid_A), verbose=2)
    model_A.save(str(out / "my_model_A.h5"))

    model_B = keras.models.Sequential()
    model_B.add(keras.layers.Flatten(input_shape=[28, 28]))
    for n_hidden in (300, 100, 50, 50, 50):
        model_B.add(keras.layers.Dense(n_hidden, activation="selu"))
    model_B.add(keras.layers.Dense(1, activation="sigmoid"))
    model_B.compile(loss="binary_crossentropy", optimizer=keras.optimizers.SGD(lr=1e-3), metrics=["accuracy"])
    history_B = model_B.fit(X_train_B, y_train_B, epochs=20, validation_data=(X_valid_B, y_valid_B), verbose=0)

    model_A = keras.models.load_model(str(out / "my_model_A.h5"))
    model_B_on_A = keras.models.Sequential(model_A.layers[:-1])
    model_B_on_A.add(keras.layers.Dense(1, activation="sigmoid"))
    for layer in model_B_on_A.layers[:-1]:
        layer.trainable = False
    model_B_on_A.compile(loss="binary_crossentropy", optimizer=keras.optimizers.SGD(lr=1e-3), metrics=["accuracy"])
    frozen = model_B_on_A.fit(X_train_B, y_train_B, epochs=4, validation_data=(X_valid_B, y_valid_B), verbose=0)
    for layer in model_B_on_A.layers[:-1]:
        layer.trainable = True
    model_B_on_A.compile(loss="binary_crossentropy", optimizer=keras.optimizers.SGD(lr=1e-3), metrics=["accuracy"])
    tuned = model_B_on_A.fit(X_train_B, y_train_B, epochs=16, validation_data=(X_valid_B, y_valid_B), verbose=0)
    transfer = {key: frozen.history[key] + tuned.history[key] for key in frozen.history}
    plt.close(plot.learning_curves([history_B, transfer], labels=["model B", "B on A"],
                                   path=out / "04-transfer-learning.png", title="Shirt or sandal, 200 training images"))
    results["model_B_test_accuracy"] = model_B.evaluate(X_test_B, y_test_B, verbose=0)[1]
    results["model_B_on_A_test_accuracy"] = model_B_on_A.evaluate(X_test_B, y_test_B, verbose=0)[1]

    # VI. Optimizer benchmark on MNIST: mean curves over repeated runs.
    (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data(path=args.mnist_path)
    if args.quick:
        x_train, y_train, x_test, y_test = x_train[:7936], y_train[:7936], x_test[:1920], y_test[:1920]
    y_train = keras.utils.to_categorical(y_train, 10)
    y_test = keras.utils.to_categorical(y_test, 10)
    x_train = keras.utils.normalize(x_train, axis=1)
    x_test = keras.utils.normalize(x_test, axis=1)
    print(x_train.shape, y_train.shape, x_test.shape, y_test.shape)

    def train_mnist(optimizer):
        model = keras.Sequential([
            keras.layers.Flatten(input_shape=x_train[0].shape),
            keras.layers.Dense(250, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ])
        model.compile(optimizer=optimizer, loss=keras.losses.categorical_crossentropy, metrics=["acc"])
        history = model.fit(x_train, y_train, batch_size=128, epochs=epochs(10), verbose=False,
                            shuffle=True, validation_data=(x_test, y_test))
        return history, model

    mnist = {opt: {"loss": [], "acc": [], "val_loss": [], "val_acc": [], "history": []} for opt in OPTIMIZERS}
    for optimizer in OPTIMIZERS:
        print(f"--- {optimizer} ---")
        for i in range(2):
            print("starting ", i)
            history, model = train_mnist(optimizer)
            train_loss, train_accuracy = model.evaluate(x_train, y_train, verbose=False)
            val_loss, val_accuracy = model.evaluate(x_test, y_test, verbose=False)
            mnist[optimizer]["loss"].append(train_loss)
            mnist[optimizer]["acc"].append(train_accuracy)
            mnist[optimizer]["val_loss"].append(val_loss)
            mnist[optimizer]["val_acc"].append(val_accuracy)
            mnist[optimizer]["history"].append(history)
    for opt in OPTIMIZERS:
        for key in ["acc", "val_acc", "loss", "val_loss"]:
            print(opt, key, np.mean(mnist[opt][key]))
    plt.close(plot.compare_runs({opt: mnist[opt]["history"] for opt in OPTIMIZERS}, dataset="MNIST",
                                path=out / "05-optimizers-mnist.png"))
    results["optimizers"] = {opt: {key: float(np.mean(mnist[opt][key])) for key in ["acc", "val_acc", "loss", "val_loss"]}
                             for opt in OPTIMIZERS}
    write_results(out, results)
    return results


if __name__ == "__main__":
    main()
