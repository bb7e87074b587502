"""A training run with BackupAndRestore, for test_backup_restore.py to kill and restart.

    python backup_restore_worker.py BACKUP_DIR RESULT.npz EPOCHS SAVE_FREQ

Prints ``epoch N`` after each epoch (flushed, then pauses 50 ms) and, when done, writes the final
weights, optimizer state, iterations, learning rate and history to RESULT.npz.
"""
import json
import sys
import time

import jax
import numpy as np

import scanfit as keras


def build_and_train(backup_dir, epochs, save_freq, extra_callbacks=(), seed=0, streamed=False):
    """Train with BackupAndRestore; `streamed` keeps the data on the host (a device data limit of 1 byte)."""
    keras.utils.set_random_seed(seed)
    keras.config.set_device_data_limit(1 if streamed else None)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(480, 8)).astype("float32")
    y = (x[:, 0] + x[:, 1] * x[:, 2] > 0).astype("int32") + (x[:, 3] > 1)
    model = keras.Sequential([
        keras.Input((8,)),
        keras.layers.Dense(32, activation="relu"),
        keras.layers.Dropout(0.2),
        keras.layers.Dense(3, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    callbacks = [
        keras.callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.9 if epoch % 2 else lr),
        keras.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=0, min_delta=0.02),
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=100, restore_best_weights=True),
        *extra_callbacks,
        keras.callbacks.BackupAndRestore(backup_dir, save_freq=save_freq),
    ]
    try:
        history = model.fit(x, y, epochs=epochs, batch_size=32, validation_split=0.2, verbose=0, callbacks=callbacks)
    finally:
        keras.config.set_device_data_limit(None)
    return model, history


def final_state(model, history):
    """Everything a resumed run must reproduce, as arrays."""
    arrays = {f"weight_{i}": np.asarray(w) for i, w in enumerate(model.get_weights())}
    arrays.update({f"opt_{i}": np.asarray(leaf) for i, leaf in enumerate(jax.tree.leaves(model.trainer.opt_state))})
    summary = {"iterations": int(model.optimizer.iterations), "learning_rate": float(model.optimizer.learning_rate),
               "epoch": history.epoch, "history": history.history}
    arrays["summary"] = np.frombuffer(json.dumps(summary).encode(), dtype=np.uint8)
    return arrays


def main():
    backup_dir, result, epochs, save_freq = sys.argv[1:5]
    save_freq = save_freq if save_freq == "epoch" else int(save_freq)
    def progress(epoch, logs):
        print(f"epoch {epoch}", flush=True)
        time.sleep(0.05)  # gives the test's kill a window of every epoch, backup writes included

    progress = keras.callbacks.LambdaCallback(on_epoch_end=progress)
    model, history = build_and_train(backup_dir, int(epochs), save_freq, [progress])
    np.savez(result, **final_state(model, history))


if __name__ == "__main__":
    main()
