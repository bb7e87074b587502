"""BackupAndRestore: continue an interrupted `fit` exactly where it stopped.

The backup is one file, ``backup_dir/training_state.npz`` (NumPy arrays
only, loaded with ``allow_pickle=False``), replaced atomically: written to a
temporary file in the same folder, fsynced, renamed over the old one, and
the folder fsynced. A run killed at any moment, even during a write, leaves
the previous backup intact.

It holds everything the next epochs depend on:

- every model weight (trainable or not), by position, checked for shape and dtype;
- the optimizer state (the optax pytree's leaves, checked for shape and
  dtype), ``optimizer.iterations`` and the learning rate;
- the trainer's base random key (each epoch's shuffle and dropout keys
  derive from it and the epoch number);
- the next epoch, and with an integer `save_freq` the position inside the
  epoch (steps done, the carried random key, the running loss sums);
- ``model.stop_training`` and the History so far (Keras restarts the
  history; scanfit refills it so a resumed run's history is the whole run's);
- the state of the other callbacks that define ``backup_state()`` /
  ``restore_backup_state()``: EarlyStopping (wait, best, best epoch, stopped
  epoch, best weights), ReduceLROnPlateau (best, wait, cooldown) and
  ModelCheckpoint (best, batch counters). They are matched by position and
  class in the callbacks list.

Restarted with the same code and data, a run ends with the same weights,
history and optimizer state, bit for bit, as one never interrupted. This
callback runs after all others (so it saves their end-of-epoch state and
restores after their ``on_train_begin``). A resumed epoch does not call
``on_epoch_begin`` again. Files other callbacks write (CSV rows, TensorBoard
events) may repeat the epochs run after the last backup.
"""
import glob
import json
import os

import jax
import jax.numpy as jnp
import numpy as np

from scanfit.callbacks.base import TRAIN_BATCH_HOOKS, Callback
from scanfit.atomic_files import atomic_output
from scanfit.distribution import is_chief
from scanfit.engine.state import EpochPosition

FORMAT = "scanfit-training-backup"
VERSION = 1
FILE_NAME = "training_state.npz"


class BackupAndRestore(Callback):
    """Back up the training state after every epoch (or `save_freq` batches); restore it at the next `fit`.

    With an integer `save_freq` the epoch runs one step per program (batch
    hooks) and a restart continues inside the epoch. With
    `delete_checkpoint` the backup file is removed when training ends (and
    `backup_dir` too, if that leaves it empty). Keras's `double_checkpoint`
    is accepted and not needed: the atomic replace already keeps the
    previous backup whole until the new one is complete.
    """

    _dispatch_last = True

    def __init__(self, backup_dir, save_freq="epoch", double_checkpoint=False, delete_checkpoint=True):
        super().__init__()
        if not backup_dir:
            raise ValueError("Empty `backup_dir` argument passed")
        if save_freq != "epoch" and (isinstance(save_freq, bool) or not isinstance(save_freq, int) or save_freq < 1):
            raise ValueError(f"Invalid value for argument `save_freq`. Received: save_freq={save_freq!r}. "
                             "Expected either 'epoch' or a positive integer.")
        self.backup_dir = os.fspath(backup_dir)
        self.save_freq = save_freq
        self.delete_checkpoint = delete_checkpoint
        self.path = os.path.join(self.backup_dir, FILE_NAME)
        self._batches_since_save = 0
        self._callbacks = []  # the run's callbacks, set by CallbackList
        if save_freq == "epoch":
            self._ignored_hooks = TRAIN_BATCH_HOOKS

    def set_callbacks(self, callbacks):
        """Called by CallbackList with all the run's callbacks: the others' state goes into the backup."""
        self._callbacks = list(callbacks)

    # --- hooks -----------------------------------------------------------------
    def on_train_begin(self, logs=None):
        self._batches_since_save = 0
        if is_chief():  # only process 0 writes, so only it removes a write cut short
            for stale in glob.glob(os.path.join(glob.escape(self.backup_dir), f".{FILE_NAME}.*.part")):
                os.unlink(stale)
        if os.path.exists(self.path):
            self._restore()

    def on_train_batch_end(self, batch, logs=None):
        self._batches_since_save += 1
        if self._batches_since_save >= self.save_freq:
            self._batches_since_save = 0
            position = self._trainer().position
            self._save(position.epoch, position)

    def on_epoch_end(self, epoch, logs=None):
        self._batches_since_save = 0
        self._save(epoch + 1, None)

    def on_train_end(self, logs=None):
        if self.delete_checkpoint and is_chief() and os.path.exists(self.path):
            os.unlink(self.path)
            try:
                os.rmdir(self.backup_dir)
            except OSError:  # not empty: other files are the user's
                pass

    # --- saving ------------------------------------------------------------------
    def _trainer(self):
        trainer = self.model.trainer
        if trainer is None:
            raise RuntimeError("BackupAndRestore works inside model.fit(): the model has no trainer yet.")
        return trainer

    def _save(self, next_epoch, position):
        if not is_chief():  # every process restores, one writes
            return
        model, trainer = self.model, self._trainer()
        arrays = {}
        for index, variable in enumerate(_backed_up(model)):
            arrays[f"weights/{index}"] = np.asarray(variable.value)
        opt_leaves = jax.tree.leaves(trainer.optimizer_state())
        for index, leaf in enumerate(opt_leaves):
            arrays[f"optimizer/{index}"] = np.asarray(leaf)
        arrays["base_key"] = _key_data(trainer.base_key)
        metadata = {
            "format": FORMAT,
            "version": VERSION,
            "epoch": next_epoch,
            "key_offset": trainer.key_offset,
            "step": 0 if position is None else position.step,
            "samples": None if position is None else position.samples,
            "stop_training": bool(getattr(model, "stop_training", False)),
            "weights": [_describe(variable.value) for variable in _backed_up(model)],
            "optimizer_leaves": len(opt_leaves),
            "iterations": int(model.optimizer.iterations),
            "learning_rate": _plain_learning_rate(model.optimizer),
            "history": {"epoch": list(model.history.epoch), "history": model.history.history}
            if getattr(model, "history", None) is not None else None,
            "callbacks": {},
        }
        if position is not None:
            arrays["position/rng"] = _key_data(position.rng)
            for index, leaf in enumerate(jax.tree.leaves(position.sums)):
                arrays[f"position/sums/{index}"] = np.asarray(leaf)
        for index, callback in enumerate(self._callbacks):
            if callback is self or not hasattr(callback, "backup_state"):
                continue
            key = f"{index}:{type(callback).__name__}"
            metadata["callbacks"][key] = _split_state(callback.backup_state(), f"callbacks/{key}", arrays)
        arrays["metadata"] = np.frombuffer(json.dumps(metadata).encode("utf-8"), dtype=np.uint8)
        os.makedirs(self.backup_dir, exist_ok=True)
        with atomic_output(self.path) as out:
            np.savez(out, **arrays)
        _fsync_folder(self.backup_dir)

    # --- restoring ---------------------------------------------------------------
    def _restore(self):
        try:
            with np.load(self.path, allow_pickle=False) as stored:
                arrays = {name: stored[name] for name in stored.files}
            metadata = json.loads(arrays.pop("metadata").tobytes().decode("utf-8"))
        except (OSError, ValueError, KeyError) as error:
            raise ValueError(f"Cannot restore training from {self.path}: the file is not a readable scanfit "
                             f"backup ({error}). Delete it to start over.") from None
        if not isinstance(metadata, dict) or metadata.get("format") != FORMAT or metadata.get("version") != VERSION:
            raise ValueError(f"Cannot restore training from {self.path}: it is not a version {VERSION} scanfit backup.")
        try:
            self._apply(metadata, arrays)
        except KeyError as error:
            raise ValueError(f"Cannot restore training from {self.path}: the backup lacks {error}. "
                             "Delete it to start over.") from None

    def _apply(self, metadata, arrays):
        """Put the backup's state into the model, optimizer, trainer, history and callbacks."""
        model, trainer = self.model, self._trainer()
        shapes = [_describe(variable.value) for variable in _backed_up(model)]
        if metadata["weights"] != shapes:
            raise ValueError(f"Cannot restore training from {self.path}: it holds weights {metadata['weights']}, "
                             f"but model {model.name!r} has {shapes}. Was the model changed?")
        for index, variable in enumerate(_backed_up(model)):
            variable.assign(arrays[f"weights/{index}"])
        template = trainer.optimizer_state()
        leaves, structure = jax.tree.flatten(template)
        stored_leaves = [arrays[f"optimizer/{index}"] for index in range(metadata["optimizer_leaves"])]
        if len(stored_leaves) != len(leaves) or any(
                np.shape(a) != np.shape(b) or np.asarray(a).dtype != b.dtype for a, b in zip(leaves, stored_leaves)):
            raise ValueError(f"Cannot restore training from {self.path}: its optimizer state does not fit "
                             f"{type(model.optimizer).__name__} on this model. Was the optimizer changed?")
        trainer.opt_state = jax.tree.unflatten(structure, [jnp.asarray(leaf) for leaf in stored_leaves])
        model.optimizer.iterations = metadata["iterations"]
        if metadata["learning_rate"] is not None:
            model.optimizer.learning_rate = metadata["learning_rate"]
        trainer.base_key = _like_key(arrays["base_key"], trainer.base_key)
        trainer.key_offset = metadata.get("key_offset", 0)  # a backup from before it was saved: a first fit's
        if metadata["step"]:

            leaves, structure = jax.tree.flatten(trainer.programs.empty_sums())
            sums = [jnp.asarray(arrays[f"position/sums/{index}"]) for index in range(len(leaves))]
            rng = _like_key(arrays["position/rng"], trainer.base_key)
            sums = jax.tree.unflatten(structure, sums)
            trainer.resume = EpochPosition(metadata["epoch"], metadata["step"], rng, sums, metadata.get("samples"))
        model.stop_training = metadata["stop_training"]
        if metadata["history"] is not None and getattr(model, "history", None) is not None:
            model.history.epoch = list(metadata["history"]["epoch"])
            model.history.history = {key: list(values) for key, values in metadata["history"]["history"].items()}
        for index, callback in enumerate(self._callbacks):
            key = f"{index}:{type(callback).__name__}"
            if key in metadata["callbacks"] and hasattr(callback, "restore_backup_state"):
                callback.restore_backup_state(_join_state(metadata["callbacks"][key], f"callbacks/{key}", arrays))
        trainer.resumed_epoch = metadata["epoch"]


def _backed_up(model):
    """The variables a backup holds: the model's weights, with each stateful layer's states after its own
    weights (so that a resumed run carries on from the same states)."""
    return [variable for layer in model.weight_layers for variable in layer.carried_variables]


def _describe(array):
    """``"float32[8, 32]"``: what a stored array must match."""
    return f"{np.dtype(array.dtype).name}{list(array.shape)}"


def _plain_learning_rate(optimizer):
    """The learning rate as a float, or None when a schedule computes it (from the restored state)."""
    if not hasattr(optimizer, "learning_rate") or getattr(optimizer, "_is_scheduled", False):
        return None
    return float(optimizer.learning_rate)


def _key_data(key):
    if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        key = jax.random.key_data(key)
    return np.asarray(key)


def _like_key(data, like):
    """`data` as a random key of the same kind as `like` (typed or raw uint32)."""
    if jax.dtypes.issubdtype(like.dtype, jax.dtypes.prng_key):
        return jax.random.wrap_key_data(jnp.asarray(data), impl=jax.random.key_impl(like))
    return jnp.asarray(data)


def _split_state(state, prefix, arrays):
    """A callback's state as JSON, its lists of arrays moved into `arrays` under `prefix`."""
    plain = {}
    for name, value in state.items():
        if isinstance(value, (list, tuple)) and value and all(hasattr(item, "shape") for item in value):
            for index, item in enumerate(value):
                arrays[f"{prefix}/{name}/{index}"] = np.asarray(item)
            plain[name] = {"__arrays__": len(value)}
        elif hasattr(value, "item") and np.ndim(value) == 0:
            plain[name] = value.item()
        else:
            plain[name] = value
    return plain


def _join_state(plain, prefix, arrays):
    state = {}
    for name, value in plain.items():
        if isinstance(value, dict) and set(value) == {"__arrays__"}:
            value = [arrays[f"{prefix}/{name}/{index}"] for index in range(value["__arrays__"])]
        state[name] = value
    return state


def _fsync_folder(folder):
    """Make the rename in `folder` durable (skipped where folders cannot be opened, as on Windows)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
