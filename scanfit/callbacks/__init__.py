"""`keras.callbacks`: hooks into `fit`, `evaluate` and `predict`.

Callbacks get Keras's hooks with Keras's `logs`: ``on_epoch_end(epoch,
logs)`` sees ``{'loss', <metrics>, 'val_loss', 'val_<metrics>'}``, batch
hooks see the running averages of the epoch so far, ``on_test_*`` hooks also
run for the validation inside `fit`, and ``on_predict_batch_end`` sees
``{'outputs': ...}``. A callback can set ``self.model.stop_training = True``
or ``self.model.optimizer.learning_rate`` (read before each epoch).

Speed: scanfit runs a whole epoch as one compiled program. A callback that
overrides a batch hook (``on_batch_*``, ``on_train_batch_*``) makes the
engine run the epoch one step per program instead, like Keras's
``steps_per_execution=1``, and the model's weights are written back after
every step; that costs speed (per-step Python and dispatch). Likewise,
overriding ``on_test_batch_*`` / ``on_predict_batch_*`` runs evaluation /
prediction one batch per program. The built-in callbacks use batch hooks
only when asked to (an integer ``save_freq`` or ``update_freq``).
"""
from scanfit.callbacks.backup_and_restore import BackupAndRestore
from scanfit.callbacks.base import Callback, CallbackList, History
from scanfit.callbacks.csv_logger import CSVLogger
from scanfit.callbacks.early_stopping import EarlyStopping
from scanfit.callbacks.lambda_callback import LambdaCallback
from scanfit.callbacks.learning_rate_scheduler import LearningRateScheduler
from scanfit.callbacks.model_checkpoint import ModelCheckpoint
from scanfit.callbacks.monitor import MonitorCallback
from scanfit.callbacks.progbar_logger import ProgbarLogger
from scanfit.callbacks.reduce_lr_on_plateau import ReduceLROnPlateau
from scanfit.callbacks.swap_ema_weights import SwapEMAWeights
from scanfit.callbacks.tensorboard import TensorBoard
from scanfit.callbacks.terminate_on_nan import TerminateOnNaN

__all__ = [
    "BackupAndRestore", "CSVLogger", "Callback", "CallbackList", "EarlyStopping", "History", "LambdaCallback",
    "LearningRateScheduler", "ModelCheckpoint", "MonitorCallback", "ProgbarLogger", "ReduceLROnPlateau",
    "SwapEMAWeights", "TensorBoard",
    "TerminateOnNaN",
]
