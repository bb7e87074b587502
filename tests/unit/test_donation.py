"""Training donates the weights and optimizer state it is given: XLA writes the new ones into those buffers."""
import warnings

import jax
import numpy as np
import pytest

import scanfit
from scanfit.engine import compiling


def _data(n=96, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 8)).astype("float32"), rng.integers(0, 3, size=n)


def _model(metrics=("accuracy",), seed=1):
    scanfit.utils.set_random_seed(seed)
    model = scanfit.Sequential([scanfit.Input((8,)), scanfit.layers.Dense(8, activation="relu"),
                                scanfit.layers.Dense(8, activation="relu"), scanfit.layers.Dropout(0.2),
                                scanfit.layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=list(metrics))
    return model


def _weight_arrays(model):
    return [variable.value for variable in model.weights]


class _EveryBatch(scanfit.callbacks.Callback):
    """A batch hook, so that fit runs the epoch one batch per program (`Trainer.train_chunk`)."""

    def __init__(self):
        super().__init__()
        self.kernels = []

    def on_train_batch_end(self, batch, logs=None):
        self.kernels.append(self.model.layers[0].kernel.numpy().copy())


@pytest.mark.parametrize("callbacks", [[], [_EveryBatch()]], ids=["whole epoch", "batch by batch"])
def test_fit_consumes_the_weight_arrays_it_started_from(callbacks):
    x, y = _data()
    model = _model()
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)  # the weights are now arrays a program returned
    before = _weight_arrays(model)
    values_before = [np.asarray(array).copy() for array in before]
    model.fit(x, y, batch_size=32, epochs=2, verbose=0, callbacks=callbacks)
    assert all(array.is_deleted() for array in before)
    after = model.get_weights()
    assert not any(np.array_equal(a, b) for a, b in zip(values_before, after))
    assert model.evaluate(x, y, verbose=0)[0] > 0  # the model works on with the arrays fit returned
    if callbacks:  # each batch's published kernel stayed readable in its callback
        assert len(callbacks[0].kernels) == 6 and not np.array_equal(callbacks[0].kernels[0], callbacks[0].kernels[-1])


def test_an_array_held_by_two_variables_is_given_twice_as_two_buffers(monkeypatch):
    x, y = _data()
    model = _model()
    first, second = model.layers[0], model.layers[1]
    second.kernel.assign(np.ones((8, 8), np.float32))
    first.kernel.assign(second.kernel.value)  # one array object behind both kernels
    assert first.kernel.value is second.kernel.value
    with monkeypatch.context() as patch:  # without the copy, XLA refuses the buffer given twice
        patch.setattr(compiling, "distinct_arrays", lambda tree: tree)
        with pytest.raises(Exception, match="donate the same buffer twice"):
            model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    model = _model()
    first, second = model.layers[0], model.layers[1]
    second.kernel.assign(np.ones((8, 8), np.float32))
    first.kernel.assign(second.kernel.value)
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    kernels = first.kernel.numpy(), second.kernel.numpy()
    assert np.isfinite(kernels[0]).all() and not np.array_equal(kernels[0], np.ones((8, 8)))
    assert not np.array_equal(kernels[0], kernels[1])  # trained as the two variables they are


class _ConfidentShare(scanfit.metrics.Metric):
    """A Keras 3-style metric with variables of its own: the share of samples predicted with p > 0.5."""

    def __init__(self, **kwargs):
        super().__init__(name="confident", **kwargs)
        self.hits = self.add_weight(name="hits", initializer="zeros")
        self.count = self.add_weight(name="count", initializer="zeros")

    def update_state(self, y_true, y_pred, sample_weight=None):
        confident = scanfit.ops.cast(scanfit.ops.max(y_pred, axis=-1) > 0.5, "float32")
        self.hits.assign_add(scanfit.ops.sum(confident))
        self.count.assign_add(scanfit.ops.cast(scanfit.ops.shape(y_pred)[0], "float32"))

    def result(self):
        return self.hits / self.count


def test_a_metric_with_variables_keeps_them_through_a_fit_batch_by_batch():
    x, y = _data()
    metric = _ConfidentShare()
    model = _model(metrics=[metric])
    history = model.fit(x, y, batch_size=32, epochs=2, verbose=0, callbacks=[_EveryBatch()])
    assert not any(variable.value.is_deleted() for variable in metric.variables)
    assert 0.0 <= history.history["confident"][-1] <= 1.0
    model.fit(x, y, batch_size=32, epochs=1, verbose=0, callbacks=[_EveryBatch()])  # and the next fit starts it again


def test_fit_and_sweep_donate_without_warnings():
    x, y = _data()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = _model()
        model.fit(x, y, batch_size=32, epochs=2, verbose=0)
        model.fit(x, y, batch_size=32, epochs=1, verbose=0, callbacks=[_EveryBatch()])
        sweep = scanfit.Sweep(lambda units: _model(), [{"units": 1}, {"units": 2}])
        sweep.fit(x, y, batch_size=32, epochs=2, verbose=0)
        sweep.fit(x, y, batch_size=32, epochs=1, verbose=0, callbacks=[_EveryBatch()])
    assert not [str(w.message) for w in caught if "donat" in str(w.message)]


def test_only_the_donated_arguments_are_made_distinct(monkeypatch):
    calls = []
    monkeypatch.setattr(compiling, "distinct_arrays", lambda tree: calls.append(tree) or tree)
    x, _ = _data()
    model = _model()
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, x[:, :3], batch_size=32, epochs=1, verbose=0)  # the data set is neither copied nor looked at
    (given,) = calls
    trainable, fixed, _ = given  # the epoch program's weights and optimizer state, nothing else
    assert len(jax.tree.leaves(trainable)) == len(model.trainable_weights) == 6 and not jax.tree.leaves(fixed)
    assert all(np.shape(leaf)[:1] != (len(x),) for leaf in jax.tree.leaves(given))
