"""Non-trainable variables assigned inside a Keras-style layer's call(): counters and hand-written moving
averages updated by fit, evaluate, predict and eager calls, with Keras 3 (JAX backend) as the oracle."""
import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest

import scanfit

RNG = np.random.default_rng(11)
X = RNG.normal(size=(10, 3)).astype("float32")
Y = RNG.normal(size=(10, 1)).astype("float32")


def counter_class(K):
    """Counts its calls (one per batch in fit, evaluate and predict) in a non-trainable variable."""

    class Counter(K.layers.Layer):
        def build(self, input_shape):
            self.count = self.add_weight(shape=(), initializer="zeros", trainable=False, name="count")

        def call(self, x):
            self.count.assign_add(1.0)
            return x

    return Counter


def centering_class(K):
    """Subtracts the batch mean in training, keeping a moving average of it, and the moving average otherwise."""

    class MeanCentering(K.layers.Layer):
        def build(self, input_shape):
            self.moving_mean = self.add_weight(shape=(input_shape[-1],), initializer="zeros", trainable=False,
                                               name="moving_mean")

        def call(self, x, training=None):
            if training:
                mean = K.ops.mean(x, axis=0)
                self.moving_mean.assign(0.9 * self.moving_mean + 0.1 * mean)
                return x - mean
            return x - self.moving_mean

    return MeanCentering


def counting_model(K):
    return K.Sequential([K.Input((3,)), counter_class(K)(name="counter"), K.layers.Dense(1, name="dense")])


def count_of(model):
    return float(np.asarray(model.get_layer("counter").count))


def test_a_counter_counts_the_batches_of_fit_evaluate_predict_and_calls_as_keras():
    models = [counting_model(K) for K in (keras, scanfit)]
    counts = []
    for model in models:
        model.compile(optimizer="sgd", loss="mse")
        seen = []
        model.fit(X, Y, batch_size=4, epochs=2, verbose=0)  # 2 epochs of 3 batches
        seen.append(count_of(model))
        model.evaluate(X, Y, batch_size=4, verbose=0)
        seen.append(count_of(model))
        model.predict(X, batch_size=4, verbose=0)
        seen.append(count_of(model))
        model(X)
        model.get_layer("counter")(X)
        seen.append(count_of(model))
        model.fit(X, Y, batch_size=5, epochs=1, verbose=0, validation_data=(X, Y))  # 2 training, 2 validation
        seen.append(count_of(model))
        model.train_on_batch(X, Y)
        model.test_on_batch(X, Y)
        model.predict_on_batch(X)
        seen.append(count_of(model))
        counts.append(seen)
    assert counts[1] == counts[0] == [6.0, 9.0, 12.0, 14.0, 18.0, 21.0]


def test_evaluate_and_predict_with_per_batch_callbacks_count_every_batch():
    class Noting(scanfit.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.counts = []

        def on_test_batch_end(self, batch, logs=None):
            self.counts.append(count_of(self.model))

        def on_predict_batch_end(self, batch, logs=None):
            self.counts.append(count_of(self.model))

    model = counting_model(scanfit)
    model.compile(optimizer="sgd", loss="mse")
    noting = Noting()
    model.evaluate(X, Y, batch_size=4, verbose=0, callbacks=[noting])
    model.predict(X, batch_size=4, verbose=0, callbacks=[noting])
    assert noting.counts == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]


def test_a_moving_average_updated_in_training_trains_as_keras():
    models = []
    for K in (keras, scanfit):
        inputs = K.Input((3,))
        models.append(K.Model(inputs, K.layers.Dense(1)(centering_class(K)(name="centering")(inputs))))
    weights = [RNG.normal(size=w.shape).astype("float32") for w in models[0].get_weights()]
    results = []
    for K, model in zip((keras, scanfit), models):
        model.set_weights(weights)
        model.compile(optimizer=K.optimizers.SGD(0.05), loss="mse")
        history = model.fit(X, Y, batch_size=4, epochs=3, shuffle=False, verbose=0, validation_data=(X, Y)).history
        after_fit = np.asarray(model.get_layer("centering").moving_mean)
        evaluated = model.evaluate(X, Y, batch_size=4, verbose=0)
        predicted = model.predict(X, batch_size=4, verbose=0)
        unchanged = np.asarray(model.get_layer("centering").moving_mean)  # inference leaves it alone
        results.append((history, after_fit, evaluated, predicted, unchanged))
    (k_history, k_mean, k_eval, k_pred, k_after), (s_history, s_mean, s_eval, s_pred, s_after) = results
    for name in ("loss", "val_loss"):
        np.testing.assert_allclose(s_history[name], k_history[name], rtol=1e-5)
    assert np.abs(k_mean).max() > 0.01
    np.testing.assert_allclose(s_mean, k_mean, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(s_eval, k_eval, rtol=1e-5)
    np.testing.assert_allclose(s_pred, k_pred, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(s_after, s_mean)
    np.testing.assert_array_equal(k_after, k_mean)
    assert not models[1].updates_state_at_inference()  # so evaluate and predict carry nothing
    assert counting_model(scanfit).updates_state_at_inference()


def test_assign_assign_add_and_assign_sub_in_call_and_reads_after_them_as_keras():
    def layer_class(K):
        class Tally(K.layers.Layer):
            def build(self, input_shape):
                self.last = self.add_weight(shape=(), initializer="zeros", trainable=False, name="last")
                self.total = self.add_weight(shape=(input_shape[-1],), initializer="ones", trainable=False,
                                             name="total")
                self.left = self.add_weight(shape=(), initializer=K.initializers.Constant(10.0), trainable=False,
                                            name="left")
                self.scale = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="scale")

            def call(self, x):
                self.last.assign(K.ops.max(x))
                self.total.assign_add(K.ops.sum(x, axis=0))
                self.left.assign_sub(1.0)
                # reads after the assigns see the new values, also through .value
                return x * self.scale + self.total + self.last.value * self.left

        return Tally

    outputs, states = [], []
    for K in (keras, scanfit):
        layer = layer_class(K)(name="tally")
        first = layer(X[:4])
        model = K.Sequential([K.Input((3,)), layer])
        second = model.predict(X, batch_size=4, verbose=0)  # three batches
        outputs.append([np.asarray(first), np.asarray(second)])
        states.append([np.asarray(v) for v in layer.non_trainable_weights])
    for ours, theirs in zip(outputs[1] + states[1], outputs[0] + states[0], strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
    assert states[1][2] == 6.0  # left: 10 minus one call and three batches


def test_a_layer_returning_its_variable_gives_its_new_value():
    """The subclassing guide's ComputeSum returns its variable (Keras gives the Variable, scanfit its array)."""
    def compute_sum(K):
        class ComputeSum(K.layers.Layer):
            def __init__(self, input_dim):
                super().__init__()
                self.total = self.add_weight(initializer="zeros", shape=(input_dim,), trainable=False)

            def call(self, inputs):
                self.total.assign_add(K.ops.sum(inputs, axis=0))
                return self.total

        return ComputeSum(2)

    results = []
    for K in (keras, scanfit):
        layer = compute_sum(K)
        results.append([np.asarray(layer(np.ones((2, 2), "float32"))) for _ in range(2)])
    np.testing.assert_array_equal(results[1], results[0])
    np.testing.assert_array_equal(results[1][1], [4.0, 4.0])


def test_assigning_a_trainable_variable_in_call_is_refused():
    class Bumping(scanfit.layers.Layer):
        def build(self, input_shape):
            self.shift = self.add_weight(shape=(), initializer="zeros", name="shift")

        def call(self, x):
            self.shift.assign_add(1.0)
            return x + self.shift

    class BumpingByWeights(Bumping):  # reaches the variable another way than its attribute
        def call(self, x):
            self.weights[0].assign_add(1.0)
            return x

    for layer_class in (Bumping, BumpingByWeights):
        with pytest.raises(NotImplementedError, match="trainable.*add_weight\\(..., trainable=False\\)"):
            layer_class()(X)
        with pytest.raises(NotImplementedError, match="trainable.*add_weight\\(..., trainable=False\\)"):
            scanfit.Sequential([scanfit.Input((3,)), layer_class(), scanfit.layers.Dense(1)])  # (traced here)
        model = scanfit.Sequential([layer_class(), scanfit.layers.Dense(1)])  # built by fit
        model.compile(optimizer="sgd", loss="mse")
        with pytest.raises(NotImplementedError, match="trainable.*add_weight\\(..., trainable=False\\)"):
            model.fit(X, Y, verbose=0)


def test_a_call_traced_in_a_users_jit_refuses_to_store_the_assigned_value():
    model = counting_model(scanfit)
    with pytest.raises(RuntimeError, match="'counter' updated its variables \\['count'\\].*stateless_call"):
        jax.jit(lambda x: model(x))(X)
    assert count_of(model) == 0.0


def test_the_count_is_saved_and_loads_in_both_libraries(tmp_path):
    model = counting_model(scanfit)
    model.compile(optimizer="sgd", loss="mse")
    model.fit(X, Y, batch_size=4, epochs=1, verbose=0)
    model.save(tmp_path / "counting.keras")
    for K in (scanfit, keras):
        loaded = K.models.load_model(tmp_path / "counting.keras", custom_objects={"Counter": counter_class(K)})
        assert count_of(loaded) == 3.0
        loaded.predict(X, batch_size=5, verbose=0)
        assert count_of(loaded) == 5.0


def test_stateless_call_returns_the_assigned_values_as_keras():
    models = [counting_model(K) for K in (keras, scanfit)]
    models[1].set_weights(models[0].get_weights())
    results = []
    for model in models:
        trainable = [v.value for v in model.trainable_variables]
        fixed = [jnp.asarray(4.0)]
        _, new_fixed = model.stateless_call(trainable, fixed, X)
        results.append((float(new_fixed[0]), count_of(model)))
    assert results[1] == results[0] == (5.0, 0.0)


def test_a_custom_train_step_and_test_step_carry_the_assigned_values_as_keras():
    def model_of(K):
        class Stepping(K.Sequential):
            def compute_loss(self, *args, **kwargs):  # the custom-step path, Keras's own steps
                return super().compute_loss(*args, **kwargs)

        return Stepping([K.Input((3,)), counter_class(K)(name="counter"), K.layers.Dense(1)])

    counts = []
    for K in (keras, scanfit):
        model = model_of(K)
        model.compile(optimizer="sgd", loss="mse")
        model.fit(X, Y, batch_size=4, epochs=2, verbose=0)
        seen = [count_of(model)]
        model.evaluate(X, Y, batch_size=4, verbose=0)
        seen.append(count_of(model))
        counts.append(seen)
    assert counts[1] == counts[0] == [6.0, 9.0]


def test_mixed_precision_reads_the_variable_in_the_compute_dtype_as_keras():
    """Under mixed_bfloat16 the layer reads its autocast variable in bfloat16 (Keras's autocast scope), so
    the moving average rounds to bfloat16 before it is stored in float32."""
    x = (1.0 + np.arange(12, dtype="float32").reshape(4, 3) / 7.0).astype("float32")
    results = []
    for K in (keras, scanfit):
        layer = centering_class(K)(dtype="mixed_bfloat16")
        outputs = [np.asarray(layer(x, training=True), np.float32) for _ in range(3)]
        results.append((outputs, np.asarray(layer.moving_mean), str(layer.moving_mean.dtype)))
    np.testing.assert_array_equal(results[1][0], results[0][0])
    np.testing.assert_array_equal(results[1][1], results[0][1])
    assert results[1][2] == results[0][2] == "float32"


def test_a_recurrent_cell_assigning_a_variable_is_a_clear_error():
    class CountingCell(scanfit.layers.Layer):
        state_size = 2

        def build(self, input_shape):
            self.steps = self.add_weight(shape=(), initializer="zeros", trainable=False, name="steps")

        def call(self, x, states):
            self.steps.assign_add(1.0)
            return x[:, :2] + states[0], [x[:, :2] + states[0]]

    with pytest.raises(ValueError, match="a variable assigned in call\\(\\)"):
        scanfit.layers.RNN(CountingCell())(np.ones((2, 4, 3), "float32"))


def test_a_sweep_refuses_a_model_that_assigns_at_inference():
    def build(seed):
        model = counting_model(scanfit)
        model.compile(optimizer="sgd", loss="mse")
        return model

    sweep = scanfit.Sweep(build, scanfit.Sweep.grid(seed=[0, 1]))
    with pytest.raises(ValueError, match="call\\(\\) assigns a variable outside training"):
        sweep.fit(X, Y, epochs=1, batch_size=4, verbose=0)


def test_a_sweep_trains_a_layer_that_assigns_in_training_as_fit_does():
    def build(seed, learning_rate):
        inputs = scanfit.Input((3,))
        model = scanfit.Model(inputs, scanfit.layers.Dense(1, name="dense")(
            centering_class(scanfit)(name="centering")(inputs)))
        model.compile(optimizer=scanfit.optimizers.SGD(learning_rate), loss="mse")
        return model

    grid = scanfit.Sweep.grid(seed=[3], learning_rate=[0.01, 0.1])
    sweep = scanfit.Sweep(build, grid)
    histories = sweep.fit(X, Y, epochs=2, batch_size=4, shuffle=False, verbose=0, validation_data=(X, Y))
    for params, history, swept in zip(grid, histories, sweep.models):
        scanfit.utils.set_random_seed(params["seed"])
        alone = build(**params)
        expected = alone.fit(X, Y, epochs=2, batch_size=4, shuffle=False, verbose=0, validation_data=(X, Y))
        for name in ("loss", "val_loss"):
            np.testing.assert_allclose(history.history[name], expected.history[name], rtol=1e-5)
        moving_mean = np.asarray(alone.get_layer("centering").moving_mean)
        assert np.abs(moving_mean).max() > 0.01
        np.testing.assert_allclose(np.asarray(swept.get_layer("centering").moving_mean), moving_mean, rtol=1e-5,
                                   atol=1e-7)
