"""SwapEMAWeights: evaluate with the optimizer's moving average of the weights (``use_ema=True``)."""
from scanfit.callbacks.base import Callback
from scanfit.engine import moving_average

WHO = "SwapEMAWeights"


class SwapEMAWeights(Callback):
    """Swap the model's weights with the optimizer's moving average for evaluation, and back after it.

    The optimizer needs ``use_ema=True``. The validation of `fit` and an
    `evaluate` or `predict` given this callback run with the averaged weights;
    the average and the weights trade places (no copy), as in Keras. With
    ``swap_on_epoch=True`` the average is also swapped in at each epoch's end
    (the callbacks after this one, such as ModelCheckpoint, see it) and out at
    the next epoch's start; after the last epoch the average stays in both.
    Unlike Keras 3.15, whose ``on_predict_end`` leaves the average in the model
    (a bug), `predict` swaps back as the docstring of both says.
    """

    def __init__(self, swap_on_epoch=False):
        super().__init__()
        self.swap_on_epoch = swap_on_epoch
        self._average_in_model = False

    def _swap(self, average_in_model):
        if self._average_in_model != average_in_model:
            moving_average.swap(self.model, WHO)
            self._average_in_model = average_in_model

    def set_model(self, model):
        moving_average.check_moving_average(model, WHO)  # (before fit, evaluate or predict compiles anything)
        super().set_model(model)

    def on_epoch_begin(self, epoch, logs=None):
        if self.swap_on_epoch:
            self._swap(False)

    def on_epoch_end(self, epoch, logs=None):
        if self.swap_on_epoch and not self._average_in_model:
            self._swap(True)
            if epoch == self.params["epochs"] - 1:  # fit ends by setting the weights to the average: keep it there
                moving_average.copy_weights_to_average(self.model, WHO)

    def on_test_begin(self, logs=None):
        self._swap(True)

    def on_test_end(self, logs=None):
        self._swap(False)

    def on_predict_begin(self, logs=None):
        self._swap(True)

    def on_predict_end(self, logs=None):
        self._swap(False)
