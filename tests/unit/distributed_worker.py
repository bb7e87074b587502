"""One participant of the distributed-training tests (run as a script by tests/unit/test_distribution.py).

    python distributed_worker.py OUT_DIR [COORDINATOR NUM_PROCESSES PROCESS_ID [sharded]]

Trains `build_model()` under `DataParallel()` over every device (of every
process, after `scanfit.distribution.initialize` when a coordinator is
given) through both engine paths (whole-epoch and per-batch chunks), then
evaluates and predicts, and stores everything in OUT_DIR/results.npz. The
test runs `train_and_record` without a distribution as the single-device
reference. ModelCheckpoint writes OUT_DIR/checkpoint.weights.h5, which only
process 0 may do. With `sharded`, each process is given only its shard of the
first SHARDED_SAMPLES samples (`DataParallel(auto_shard_dataset=False)`).
"""
import os
import sys

import numpy as np

SEED = 7
BATCH_SIZE = 32
SHARDED_SAMPLES = 160  # splits evenly among 2 processes of 1 device each


def data():
    """163 samples to train (5 batches of 32 and a tail of 3), 40 to validate (a batch of 32 and a tail of 8).

    On 2 devices the odd training tail runs whole on each device; the others are split.
    """
    rng = np.random.default_rng(5)
    x = rng.normal(size=(203, 12)).astype("float32")
    y = (x[:, :3].sum(axis=1) > 0).astype("int64") + (x[:, 3] > 0.5)
    return (x[:163], y[:163]), (x[163:], y[163:])


def build_model(keras):
    """A functional model (the engine runs Sequential models through the same forward pass)."""
    inputs = keras.Input((12,))
    hidden = keras.layers.BatchNormalization()(keras.layers.Dense(16, activation="relu")(inputs))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(keras.layers.Dropout(0.25)(hidden)))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def sharded_data(keras, rows=None):
    """The first SHARDED_SAMPLES training samples and the validation data, only this process's rows of each
    (all of them with `rows=slice(None)`)."""
    (x, y), (val_x, val_y) = data()
    train_rows = rows or keras.distribution.process_shard(SHARDED_SAMPLES)
    val_rows = rows or keras.distribution.process_shard(len(val_x))
    return (x[:SHARDED_SAMPLES][train_rows], y[:SHARDED_SAMPLES][train_rows]), (val_x[val_rows], val_y[val_rows])


def batches_of(keras, x, y):
    """A PyDataset serving (x, y) in batches of BATCH_SIZE, in order."""
    class Batches(keras.utils.PyDataset):
        def __len__(self):
            return -(-len(x) // BATCH_SIZE)

        def __getitem__(self, index):
            rows = slice(index * BATCH_SIZE, (index + 1) * BATCH_SIZE)
            return x[rows], y[rows]

    return Batches()


def train_and_record(keras, out_dir, arrays=None, with_source=True):
    """Train, evaluate and predict from seed SEED (on `arrays`, ((x, y), validation), or `data()`), and, with
    `with_source`, train a second model from a PyDataset of the same batches; the results as a dict of arrays."""
    (x, y), validation = arrays or data()
    keras.utils.set_random_seed(SEED)
    model = build_model(keras)
    checkpoint = keras.callbacks.ModelCheckpoint(os.path.join(out_dir, "checkpoint.weights.h5"),
                                                 save_weights_only=True)
    batch_losses = []
    per_batch = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: batch_losses.append(logs["loss"]))
    first = model.fit(x, y, batch_size=BATCH_SIZE, epochs=2, validation_data=validation, verbose=0,
                      callbacks=[checkpoint])
    second = model.fit(x, y, batch_size=BATCH_SIZE, epochs=3, initial_epoch=2, validation_data=validation, verbose=0,
                       callbacks=[per_batch])
    history = {key: first.history[key] + second.history[key] for key in first.history}
    results = {f"history_{key}": np.asarray(values) for key, values in history.items()}
    results.update({f"weight_{i}": w for i, w in enumerate(model.get_weights())})
    results["batch_losses"] = np.asarray(batch_losses)
    results["evaluate"] = np.asarray(model.evaluate(*validation, batch_size=BATCH_SIZE, verbose=0))
    results["predict"] = model.predict(validation[0], batch_size=BATCH_SIZE, verbose=0)
    if with_source:
        keras.utils.set_random_seed(SEED)
        from_source = build_model(keras)
        history = from_source.fit(batches_of(keras, x, y), epochs=2, validation_data=batches_of(keras, *validation),
                                  verbose=0)
        results.update({f"source_weight_{i}": w for i, w in enumerate(from_source.get_weights())})
        results["source_val_loss"] = np.asarray(history.history["val_loss"])
    return results


def main(out_dir, coordinator=None, num_processes=None, process_id=None, mode="whole"):
    import scanfit as keras

    if coordinator:
        keras.distribution.initialize(coordinator, int(num_processes), int(process_id))
    # No seed was set: initialize must have made the processes agree on one.
    seed = keras.seeding._seed
    sharded = mode == "sharded"
    keras.distribution.set_distribution(keras.distribution.DataParallel(auto_shard_dataset=not sharded))
    results = train_and_record(keras, out_dir, sharded_data(keras) if sharded else None, with_source=not sharded)
    results["agreed_seed"] = np.asarray(-1 if seed is None else seed)
    results["devices"] = np.asarray(keras.distribution.list_devices())
    results["process_index"] = np.asarray(keras.distribution.process_index())
    model = build_model(keras)
    (x, y), _ = data()
    try:
        model.fit(x, y, batch_size=BATCH_SIZE + 1, epochs=1, verbose=0)
    except ValueError as error:
        results["batch_size_error"] = np.asarray(str(error))
        results["compiled_before_error"] = np.asarray(model.trainer is not None)
    np.savez(os.path.join(out_dir, "results.npz"), **results)


if __name__ == "__main__":
    main(*sys.argv[1:])
