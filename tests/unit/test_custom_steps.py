"""Keras 3's JAX forms of customizing training, against Keras 3 on JAX running the same code: a train_step
override (the Keras guide's two versions), a compute_loss override, a test_step override, a training loop
written with stateless_call and stateless_apply, tf.keras-style apply_gradients; and what they refuse."""
import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest

import scanfit

RNG = np.random.default_rng(7)
X = RNG.random((100, 8)).astype("float32")
Y = (X[:, :1] * 2 - X[:, 1:2] + 0.1 * RNG.random((100, 1))).astype("float32")
XV, YV = X[:30] + 0.05, Y[:30]


def guide_model(library, with_batch_norm=True):
    """The guide's CustomModel: compute_loss_and_updates with stateless_call, train_step with
    value_and_grad, optimizer.stateless_apply and every metric of model.metrics."""

    class CustomModel(library.Model):
        def compute_loss_and_updates(self, trainable_variables, non_trainable_variables, x, y, training=False):
            y_pred, non_trainable_variables = self.stateless_call(trainable_variables, non_trainable_variables, x,
                                                                  training=training)
            loss = self.compute_loss(x, y, y_pred)
            return loss, (y_pred, non_trainable_variables)

        def train_step(self, state, data):
            trainable_variables, non_trainable_variables, optimizer_variables, metrics_variables = state
            x, y = data
            grad_fn = jax.value_and_grad(self.compute_loss_and_updates, has_aux=True)
            (loss, (y_pred, non_trainable_variables)), grads = grad_fn(
                trainable_variables, non_trainable_variables, x, y, training=True)
            trainable_variables, optimizer_variables = self.optimizer.stateless_apply(
                optimizer_variables, grads, trainable_variables)
            new_metrics_vars, logs = [], {}
            for metric in self.metrics:
                this = metrics_variables[len(new_metrics_vars):len(new_metrics_vars) + len(metric.variables)]
                if metric.name == "loss":
                    this = metric.stateless_update_state(this, loss)
                else:
                    this = metric.stateless_update_state(this, y, y_pred)
                logs[metric.name] = metric.stateless_result(this)
                new_metrics_vars += this
            return logs, (trainable_variables, non_trainable_variables, optimizer_variables, new_metrics_vars)

    return _functional(library, CustomModel, with_batch_norm)


def _functional(library, cls, with_batch_norm=True, dropout=0.0, regularizer=None):
    inputs = library.Input(shape=(8,))
    hidden = library.layers.Dense(16, activation="relu", kernel_regularizer=regularizer)(inputs)
    if with_batch_norm:
        hidden = library.layers.BatchNormalization()(hidden)
    if dropout:
        hidden = library.layers.Dropout(dropout)(hidden)
    model = cls(inputs, library.layers.Dense(1)(hidden))
    weights = np.random.default_rng(1)
    model.set_weights([weights.normal(size=w.shape).astype("float32") * 0.3 if w.ndim == 2 else w
                       for w in model.get_weights()])
    return model


def _same_weights(keras_model, scanfit_model, atol=2e-6):
    for expected, got in zip(keras_model.get_weights(), scanfit_model.get_weights()):
        np.testing.assert_allclose(got, expected, atol=atol, rtol=1e-5)


def _same_history(expected, got, rtol=1e-5):
    assert sorted(got.history) == sorted(expected.history)
    for name in expected.history:
        np.testing.assert_allclose(got.history[name], expected.history[name], rtol=rtol, atol=1e-6)


def test_the_keras_guide_train_step_trains_as_in_keras():
    """3 epochs of 4 batches (the last of 4 samples), BatchNormalization's statistics in the state:
    Keras's losses, metrics and weights. (Keras's own validation of this model fails: its default test_step
    calls its compute_loss_and_updates, which the guide's model replaces with another signature.)"""
    runs = []
    for library in (keras, scanfit):
        model = guide_model(library)
        # SGD: with Adam one bias of a unit ReLU nearly silences has a gradient near 0, which Adam's division
        # by its root mean square turns from float32 rounding into steps of either sign (Adam is compared on
        # a model without that unit in test_a_training_loop_written_with_jax).
        model.compile(optimizer=library.optimizers.SGD(0.05, momentum=0.9), loss="mse", metrics=["mae"])
        runs.append((model, model.fit(X, Y, epochs=3, batch_size=32, shuffle=False, verbose=0)))
    (keras_model, keras_history), (model, history) = runs
    _same_history(keras_history, history)
    assert sorted(history.history) == ["loss", "mae"]
    _same_weights(keras_model, model)
    assert model.optimizer.iterations == 12
    assert [m.name for m in model.metrics] == ["loss", "compile_metrics"]
    np.testing.assert_allclose(model.predict(XV, verbose=0), keras_model.predict(XV, verbose=0), atol=1e-5)
    # scanfit validates it through Keras's default test_step (which Keras's own fit cannot, see above)
    validated = model.fit(X, Y, epochs=1, batch_size=32, shuffle=False, verbose=0, validation_data=(XV, YV))
    results = model.evaluate(XV, YV, verbose=0, return_dict=True)
    assert validated.history["val_loss"] == [pytest.approx(results["loss"], rel=1e-6)]
    assert validated.history["val_mae"] == [pytest.approx(results["mae"], rel=1e-6)]


def current_guide_model(library):
    """The guide as keras.io has it now: compute_loss_and_updates with stateless_compute_loss, which takes and
    gives back the metrics variables, the batch unpacked by unpack_x_y_sample_weight."""

    class CustomModel(library.Model):
        def compute_loss_and_updates(self, trainable_variables, non_trainable_variables, metrics_variables, x, y,
                                     sample_weight, training=False):
            y_pred, non_trainable_variables = self.stateless_call(trainable_variables, non_trainable_variables, x,
                                                                  training=training)
            loss, (trainable_variables, non_trainable_variables, metrics_variables) = self.stateless_compute_loss(
                trainable_variables, non_trainable_variables, metrics_variables, x=x, y=y, y_pred=y_pred,
                sample_weight=sample_weight, training=training)
            return loss, (y_pred, non_trainable_variables, metrics_variables)

        def train_step(self, state, data):
            trainable_variables, non_trainable_variables, optimizer_variables, metrics_variables = state
            x, y, sample_weight = library.utils.unpack_x_y_sample_weight(data)
            grad_fn = jax.value_and_grad(self.compute_loss_and_updates, has_aux=True)
            (loss, (y_pred, non_trainable_variables, metrics_variables)), grads = grad_fn(
                trainable_variables, non_trainable_variables, metrics_variables, x, y, sample_weight, training=True)
            trainable_variables, optimizer_variables = self.optimizer.stateless_apply(
                optimizer_variables, grads, trainable_variables)
            new_metrics_vars, logs = [], {}
            for metric in self.metrics:
                this = metrics_variables[len(new_metrics_vars):len(new_metrics_vars) + len(metric.variables)]
                if metric.name == "loss":
                    this = metric.stateless_update_state(this, loss, sample_weight=sample_weight)
                else:
                    this = metric.stateless_update_state(this, y, y_pred, sample_weight=sample_weight)
                logs[metric.name] = metric.stateless_result(this)
                new_metrics_vars += this
            return logs, (trainable_variables, non_trainable_variables, optimizer_variables, new_metrics_vars)

    return _functional(library, CustomModel, with_batch_norm=True, regularizer="l2")


def test_the_current_guide_with_stateless_compute_loss_trains_as_in_keras():
    """(With sample weights the guide's step fails in Keras too: its loss tracker gets a scalar loss with one
    weight per sample.)"""
    runs = []
    for library in (keras, scanfit):
        model = current_guide_model(library)
        model.compile(optimizer=library.optimizers.SGD(0.05, momentum=0.9), loss="mse", metrics=["mae"])
        runs.append((model, model.fit(X, Y, epochs=2, batch_size=32, shuffle=False, verbose=0)))
    (keras_model, keras_history), (model, history) = runs
    _same_history(keras_history, history)
    _same_weights(keras_model, model)


def test_the_guide_lower_level_version_with_its_own_metrics():
    """No loss in compile, a loss function and two Mean/MAE trackers of the model's own, listed by an
    overridden `metrics` property (and so reset at each epoch)."""

    def make(library):
        class CustomModel(library.Model):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                self.loss_tracker = library.metrics.Mean(name="loss")
                self.mae_metric = library.metrics.MeanAbsoluteError(name="mae")
                self.loss_fn = library.losses.MeanSquaredError()

            def compute_loss_and_updates(self, trainable, non_trainable, x, y, training=False):
                y_pred, non_trainable = self.stateless_call(trainable, non_trainable, x, training=training)
                return self.loss_fn(y, y_pred), (y_pred, non_trainable)

            def train_step(self, state, data):
                trainable, non_trainable, optimizer_variables, metrics_variables = state
                x, y = data
                grad_fn = jax.value_and_grad(self.compute_loss_and_updates, has_aux=True)
                (loss, (y_pred, non_trainable)), grads = grad_fn(trainable, non_trainable, x, y, training=True)
                trainable, optimizer_variables = self.optimizer.stateless_apply(optimizer_variables, grads,
                                                                                trainable)
                loss_vars = self.loss_tracker.stateless_update_state(metrics_variables[:2], loss)
                mae_vars = self.mae_metric.stateless_update_state(metrics_variables[2:], y, y_pred)
                logs = {self.loss_tracker.name: self.loss_tracker.stateless_result(loss_vars),
                        self.mae_metric.name: self.mae_metric.stateless_result(mae_vars)}
                return logs, (trainable, non_trainable, optimizer_variables, loss_vars + mae_vars)

            @property
            def metrics(self):
                return [self.loss_tracker, self.mae_metric]

        return _functional(library, CustomModel, with_batch_norm=False)

    runs = []
    for library in (keras, scanfit):
        model = make(library)
        model.compile(optimizer=library.optimizers.SGD(0.1))
        runs.append((model, model.fit(X, Y, epochs=4, batch_size=25, shuffle=False, verbose=0)))
    (keras_model, keras_history), (model, history) = runs
    _same_history(keras_history, history)
    _same_weights(keras_model, model)
    assert float(model.loss_tracker.count.numpy()) == 4  # reset at each epoch: one loss per batch, 4 batches
    assert [m.name for m in model.metrics] == ["loss", "mae"]


def test_overriding_compute_loss_alone_uses_keras_default_train_step(tmp_path):
    """Keras's default steps call compute_loss(x, y, y_pred, sample_weight, training): an extra term on the
    predictions trains and logs as in Keras, with a kernel regularizer (its penalty from the step's own
    weights), sample weights and a validation split."""

    def make(library):
        class Penalized(library.Model):
            def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
                loss = super().compute_loss(x, y, y_pred, sample_weight, training=training)
                return loss + 0.1 * jnp.mean(jnp.square(y_pred))

        return _functional(library, Penalized, regularizer=library.regularizers.L2(0.01))

    weights = np.linspace(0.5, 1.5, 100).astype("float32")
    runs = []
    for library in (keras, scanfit):
        model = make(library)
        model.compile(optimizer="rmsprop", loss="mse", metrics=["mae"], weighted_metrics=["mse"])
        runs.append((model, model.fit(X, Y, sample_weight=weights, epochs=2, batch_size=16, shuffle=False,
                                      validation_split=0.2, verbose=0)))
    (keras_model, keras_history), (model, history) = runs
    _same_history(keras_history, history)
    _same_weights(keras_model, model)
    keras_results = keras_model.evaluate(XV, YV, return_dict=True, verbose=0)
    results = model.evaluate(XV, YV, return_dict=True, verbose=0)
    assert sorted(results) == sorted(keras_results)
    for name in results:
        np.testing.assert_allclose(results[name], keras_results[name], rtol=1e-5)
    # Saved and loaded, the model is of its class again (with its compute_loss), as in Keras 3
    path = tmp_path / "penalized.keras"
    model.save(path)
    loaded = scanfit.models.load_model(path, custom_objects={"Penalized": type(model)})
    assert type(loaded) is type(model)
    reloaded = loaded.evaluate(XV, YV, return_dict=True, verbose=0)
    for name in results:
        np.testing.assert_allclose(reloaded[name], results[name], rtol=1e-6)


def test_a_test_step_override_in_evaluate_and_validation():
    """A test_step that logs its own metric (the largest absolute error so far): evaluate returns it, and
    fit reports it under val_."""

    def make(library):
        class WorstCase(library.Model):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                self.worst = library.metrics.Mean(name="worst")

            def test_step(self, state, data):
                trainable, non_trainable, metrics_variables = state
                x, y = data
                y_pred, non_trainable = self.stateless_call(trainable, non_trainable, x, training=False)
                new, logs, start = [], {}, 0
                for metric in self.metrics:
                    this = metrics_variables[start:start + len(metric.variables)]
                    start += len(metric.variables)
                    if metric.name == "worst":
                        this = metric.stateless_update_state(this, jnp.max(jnp.abs(y - y_pred)))
                    elif metric.name == "loss":
                        this = metric.stateless_update_state(this, self.compute_loss(x, y, y_pred))
                    else:
                        this = metric.stateless_update_state(this, y, y_pred)
                    result = metric.stateless_result(this)
                    logs.update(result if isinstance(result, dict) else {metric.name: result})
                    new += this
                return logs, (trainable, non_trainable, new)

        return _functional(library, WorstCase, with_batch_norm=False)

    runs = []
    for library in (keras, scanfit):
        model = make(library)
        model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
        history = model.fit(X, Y, epochs=2, batch_size=20, shuffle=False, validation_data=(XV, YV), verbose=0)
        runs.append((model, history, model.evaluate(XV, YV, batch_size=7, return_dict=True, verbose=0)))
    (_, keras_history, keras_results), (model, history, results) = runs
    _same_history(keras_history, history)
    assert "val_worst" in history.history
    assert sorted(results) == sorted(keras_results) == ["loss", "mae", "worst"]
    for name in results:
        np.testing.assert_allclose(results[name], keras_results[name], rtol=1e-5)


def test_a_training_loop_written_with_jax():
    """Keras's "training loop from scratch in JAX": optimizer.build, a jitted step with stateless_call,
    value_and_grad and stateless_apply, a metric carried by stateless_update_state, the values assigned back."""
    results = []
    for library in (keras, scanfit):
        model = _functional(library, library.Model, with_batch_norm=False)
        loss_fn = library.losses.MeanSquaredError()
        optimizer = library.optimizers.Adam(learning_rate=0.01)
        metric = library.metrics.MeanAbsoluteError()
        optimizer.build(model.trainable_variables)

        def loss_and_updates(trainable, non_trainable, x, y):
            y_pred, non_trainable = model.stateless_call(trainable, non_trainable, x, training=True)
            return loss_fn(y, y_pred), (y_pred, non_trainable)

        @jax.jit
        def train_step(state, x, y):
            trainable, non_trainable, optimizer_variables, metric_variables = state
            (loss, (y_pred, non_trainable)), grads = jax.value_and_grad(loss_and_updates, has_aux=True)(
                trainable, non_trainable, x, y)
            trainable, optimizer_variables = optimizer.stateless_apply(optimizer_variables, grads, trainable)
            metric_variables = metric.stateless_update_state(metric_variables, y, y_pred)
            return loss, (trainable, non_trainable, optimizer_variables, metric_variables)

        state = ([v.value for v in model.trainable_variables], [v.value for v in model.non_trainable_variables],
                 [v.value for v in optimizer.variables], [v.value for v in metric.variables])
        losses = []
        for start in range(0, 100, 20):
            loss, state = train_step(state, X[start:start + 20], Y[start:start + 20])
            losses.append(float(loss))
        for variable, value in zip(model.trainable_variables + model.non_trainable_variables, state[0] + state[1]):
            variable.assign(value)
        results.append((model, losses, float(metric.stateless_result(state[3]))))
    (keras_model, keras_losses, keras_mae), (model, losses, mae) = results
    np.testing.assert_allclose(losses, keras_losses, rtol=1e-5)
    np.testing.assert_allclose(mae, keras_mae, rtol=1e-5)
    _same_weights(keras_model, model)


def test_apply_gradients_as_tf_keras_loops_write_it():
    """``optimizer.apply_gradients(zip(grads, model.trainable_variables))`` with gradients from jax.grad: the
    variables change in place as in Keras, and iterations counts the steps."""
    results = []
    for library in (keras, scanfit):
        model = _functional(library, library.Model, with_batch_norm=False)
        optimizer = library.optimizers.SGD(learning_rate=0.05, momentum=0.9)

        def loss_of(values):
            y_pred, _ = model.stateless_call(values, [], X)
            return jnp.mean(jnp.square(y_pred - Y))

        for _ in range(3):
            grads = jax.grad(loss_of)([v.value for v in model.trainable_variables])
            optimizer.apply_gradients(zip(grads, model.trainable_variables))
        results.append((model, int(np.asarray(optimizer.iterations))))
    (keras_model, keras_steps), (model, steps) = results
    assert steps == keras_steps == 3
    _same_weights(keras_model, model)


def test_each_step_draws_its_own_dropout_mask():
    """Dropout inside a train_step run by fit: every batch of every epoch gets another mask (a step key of
    its own), about half the units dropped, and keras.random draws in the step itself differ from step to
    step; at inference (predict) nothing is dropped."""

    class Probe(scanfit.Model):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.seed_generator = scanfit.random.SeedGenerator(1)

        def train_step(self, state, data):
            trainable, non_trainable, optimizer_variables, metrics_variables = state
            y_pred, _ = self.stateless_call(trainable, non_trainable, data[0], training=True)
            noise = scanfit.random.normal((), seed=self.seed_generator)  # a GAN draws its latent vectors so
            return {"kept": jnp.mean(y_pred != 0), "noise": noise}, state

    inputs = scanfit.Input(shape=(200,))
    model = Probe(inputs, scanfit.layers.Dropout(0.5)(inputs))
    model.compile(optimizer="sgd")
    seen = []

    class Record(scanfit.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append((logs["kept"], logs["noise"]))

    ones = np.ones((64, 200), "float32")
    model.fit(ones, ones, batch_size=16, epochs=3, shuffle=False, verbose=0, callbacks=[Record()])
    assert len(seen) == 12
    kept = np.array([k for k, _ in seen])
    assert np.all(np.abs(kept - 0.5) < 0.05), kept
    assert len({round(k, 6) for k in kept}) > 8  # the masks differ from batch to batch
    assert len({n for _, n in seen}) == 12  # and so do the step's own draws
    np.testing.assert_array_equal(model.predict(ones[:4], verbose=0), ones[:4])


def test_metric_stateless_forms_equal_the_eager_ones_and_leave_the_variables_alone():
    metric = scanfit.metrics.SparseCategoricalAccuracy()
    y_true, y_pred = np.array([0, 1, 2, 1]), np.eye(3, dtype="float32")[[0, 2, 2, 1]]
    state = metric.stateless_update_state(metric.stateless_reset_state(), y_true, y_pred, sample_weight=[1, 1, 2, 0])
    assert float(metric.stateless_result(state)) == pytest.approx(0.75)
    assert [float(v.numpy()) for v in metric.variables] == [0.0, 0.0]
    metric.update_state(y_true, y_pred, sample_weight=[1, 1, 2, 0])
    assert float(metric.result()) == pytest.approx(0.75)
    with pytest.raises(ValueError, match="needs the values of its 2 variable"):
        metric.stateless_result([1.0])
    total = scanfit.metrics.Sum()
    assert float(total.stateless_result(total.stateless_update_state([np.float32(2)], [1.0, 2.5]))) == 5.5


def test_what_custom_steps_refuse_with_clear_errors():
    class TfKerasStyle(scanfit.Model):
        def train_step(self, data):
            raise AssertionError("never called")

    inputs = scanfit.Input(shape=(8,))
    with pytest.raises(NotImplementedError, match=r"train_step\(self, data\) is tf.keras 2's form"):
        TfKerasStyle(inputs, scanfit.layers.Dense(1)(inputs)).compile(optimizer="sgd", loss="mse")

    class BadState(scanfit.Model):
        def train_step(self, state, data):
            return {}, state[:3]

    model = _functional(scanfit, BadState, with_batch_norm=False)
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match=r"must return \(logs, state\) with state"):
        model.fit(X, Y, verbose=0)
    with pytest.raises(NotImplementedError, match="steps_per_epoch"):
        model.fit(X, Y, verbose=0, steps_per_epoch=2)

    def build(seed):
        model = _functional(scanfit, BadState, with_batch_norm=False)
        model.compile(optimizer="sgd", loss="mse")
        return model

    with pytest.raises(ValueError, match="defines its own train_step, test_step or compute_loss, which a Sweep"):
        scanfit.Sweep(build, [{"seed": 0}]).fit(X, Y, verbose=0)

    plain = _functional(scanfit, scanfit.Model, with_batch_norm=False, dropout=0.5)
    with pytest.raises(ValueError, match="trainable_variables, but 1 values were given"):
        plain.stateless_call([np.zeros((8, 16))], [], X)
    with pytest.raises(ValueError, match="has shape"):
        plain.stateless_call([np.zeros((8, 16))] * 4, [], X)

    @jax.jit
    def inside_jit(trainable, non_trainable):
        return plain.stateless_call(trainable, non_trainable, X, training=True)[0]

    with pytest.raises(ValueError, match="draws random numbers"):
        inside_jit([v.value for v in plain.trainable_variables], [v.value for v in plain.non_trainable_variables])
    values = [v.value for v in plain.trainable_variables]
    first, second = (np.asarray(plain.stateless_call(values, [], X, training=True)[0]) for _ in range(2))
    assert not np.allclose(first, second)  # eagerly, each call draws a fresh mask
    np.testing.assert_allclose(plain.stateless_call(values, [], X)[0], plain.predict(X, verbose=0), rtol=1e-6)

    class NoLoss(scanfit.Model):
        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
            return super().compute_loss(x, y, y_pred, sample_weight, training)

    model = _functional(scanfit, NoLoss, with_batch_norm=False)
    model.compile(optimizer="sgd")
    with pytest.raises(ValueError, match="has no loss to compute"):
        model.fit(X, Y, verbose=0)
    with pytest.raises(ValueError, match="is not built"):
        scanfit.optimizers.Adam().stateless_apply([], [], [])


def test_a_variational_autoencoder_trained_by_its_own_step():
    """Chollet's VAE in Keras 3's JAX form: a Sampling layer drawing with keras.random.normal and a
    SeedGenerator, a model of three outputs, a train_step adding the KL term to the reconstruction loss, three
    trackers. The trackers are means of the same batches, so total = reconstruction + KL every epoch; the
    loss falls, and the KL term stays positive."""

    class Sampling(scanfit.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.seed_generator = scanfit.random.SeedGenerator(1337)

        def call(self, inputs):
            mean, log_var = inputs
            noise = scanfit.random.normal(scanfit.ops.shape(mean), seed=self.seed_generator)
            return mean + scanfit.ops.exp(0.5 * log_var) * noise

    class VAE(scanfit.Model):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.total_tracker = scanfit.metrics.Mean(name="total_loss")
            self.reconstruction_tracker = scanfit.metrics.Mean(name="reconstruction_loss")
            self.kl_tracker = scanfit.metrics.Mean(name="kl_loss")

        @property
        def metrics(self):
            return [self.total_tracker, self.reconstruction_tracker, self.kl_tracker]

        def losses_of(self, trainable, non_trainable, x):
            (reconstruction, z_mean, z_log_var), non_trainable = self.stateless_call(trainable, non_trainable, x,
                                                                                       training=True)
            reconstruction_loss = jnp.mean(jnp.sum(jnp.square(x - reconstruction), axis=1))
            kl = -0.5 * jnp.mean(jnp.sum(1 + z_log_var - jnp.square(z_mean) - jnp.exp(z_log_var), axis=1))
            return reconstruction_loss + kl, (reconstruction_loss, kl, non_trainable)

        def train_step(self, state, data):
            trainable, non_trainable, optimizer_variables, metrics_variables = state
            (total, (reconstruction_loss, kl, non_trainable)), grads = jax.value_and_grad(
                self.losses_of, has_aux=True)(trainable, non_trainable, data)
            trainable, optimizer_variables = self.optimizer.stateless_apply(optimizer_variables, grads, trainable)
            new, logs = [], {}
            for metric, value in zip(self.metrics, (total, reconstruction_loss, kl)):
                this = metric.stateless_update_state(metrics_variables[len(new):len(new) + 2], value)
                logs[metric.name] = metric.stateless_result(this)
                new += this
            return logs, (trainable, non_trainable, optimizer_variables, new)

    inputs = scanfit.Input(shape=(8,))
    hidden = scanfit.layers.Dense(16, activation="relu")(inputs)
    z_mean, z_log_var = scanfit.layers.Dense(2)(hidden), scanfit.layers.Dense(2)(hidden)
    z = Sampling()([z_mean, z_log_var])
    decoded = scanfit.layers.Dense(8)(scanfit.layers.Dense(16, activation="relu")(z))
    vae = VAE(inputs, [decoded, z_mean, z_log_var])
    vae.compile(optimizer=scanfit.optimizers.Adam(0.01))
    history = vae.fit(X, epochs=8, batch_size=20, verbose=0).history
    assert sorted(history) == ["kl_loss", "reconstruction_loss", "total_loss"]
    np.testing.assert_allclose(history["total_loss"], np.add(history["reconstruction_loss"], history["kl_loss"]),
                               rtol=1e-5)
    assert history["total_loss"][-1] < 0.7 * history["total_loss"][0]
    assert min(history["kl_loss"]) > 0


def test_train_on_batch_and_test_on_batch_run_the_model_own_steps():
    """(Keras's train_on_batch hands the step (x, y, None), which the guide's ``x, y = data`` cannot take:
    this step unpacks with keras.utils.unpack_x_y_sample_weight.)"""

    def make(library):
        class Unpacking(library.Model):
            def train_step(self, state, data):
                x, y, sample_weight = library.utils.unpack_x_y_sample_weight(data)
                return super().train_step(state, (x, y) if sample_weight is None else (x, y, sample_weight))

        return _functional(library, Unpacking, with_batch_norm=False)

    runs = []
    for library in (keras, scanfit):
        model = make(library)
        model.compile(optimizer=library.optimizers.SGD(0.1), loss="mse", metrics=["mae"])
        first = model.train_on_batch(X[:40], Y[:40], return_dict=True)
        second = model.train_on_batch(X[40:80], Y[40:80], return_dict=True)
        runs.append((model, first, second, model.test_on_batch(XV, YV, return_dict=True)))
    for expected, got in zip(runs[0][1:], runs[1][1:]):
        assert sorted(got) == sorted(expected)
        for name in got:
            np.testing.assert_allclose(got[name], expected[name], rtol=1e-5)
    _same_weights(runs[0][0], runs[1][0])


def test_batch_sources_feed_the_model_own_steps():
    """PyDatasets (with sample weights) for fit and validation, a generator for evaluate: the steps get the batches as the source gives them, and train as Keras does from the same
    PyDataset; the x-only batches of a VAE-style source reach the step as x alone."""

    def make(library):
        class Penalized(library.Model):
            def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
                return super().compute_loss(x, y, y_pred, sample_weight, training) + 0.1 * jnp.mean(y_pred ** 2)

        return _functional(library, Penalized, with_batch_norm=False)

    weights = np.linspace(0.5, 1.5, 100).astype("float32")

    def dataset(library, x, y, w=None, size=30):
        class Batches(library.utils.PyDataset):
            def __len__(self):
                return -(-len(x) // size)

            def __getitem__(self, index):
                rows = slice(index * size, (index + 1) * size)
                return (x[rows], y[rows]) if w is None else (x[rows], y[rows], w[rows])

        return Batches()

    validation = [(XV[:16], YV[:16]), (XV[16:], YV[16:])]
    runs = []
    for library in (keras, scanfit):
        model = make(library)
        model.compile(optimizer=library.optimizers.SGD(0.1), loss="mse", metrics=["mae"])
        history = model.fit(dataset(library, X, Y, weights), epochs=2, verbose=0, shuffle=False,
                            validation_data=dataset(library, XV, YV, size=16))
        runs.append((model, history, model.evaluate((batch for batch in validation), verbose=0, return_dict=True)))
    (keras_model, keras_history, keras_results), (model, history, results) = runs
    _same_history(keras_history, history)
    _same_weights(keras_model, model)
    for name in results:
        np.testing.assert_allclose(results[name], keras_results[name], rtol=1e-5)

    class Seen(scanfit.Model):
        def train_step(self, state, data):
            assert not isinstance(data, tuple)  # x alone, as Keras packs a batch without targets
            return {"mean": jnp.mean(data)}, state

    inputs = scanfit.Input(shape=(8,))
    seen = Seen(inputs, scanfit.layers.Dense(1)(inputs))
    seen.compile(optimizer="sgd")
    logs = seen.fit((part for part in (X[:50], X[50:])), epochs=1, verbose=0).history
    assert logs["mean"] == [pytest.approx(float(X[50:].mean()), rel=1e-6)]


def test_the_optimizer_state_saves_and_resumes_as_keras_does(tmp_path):
    """After a fit by the guide's train_step, the optimizer variables scanfit writes to a .keras file are
    Keras's after the same fit; a model loaded from that file trains on exactly as the saved one does."""
    from scanfit.saving.optimizer_state import optimizer_variables

    runs = []
    for library in (keras, scanfit):
        model = guide_model(library, with_batch_norm=False)
        model.compile(optimizer=library.optimizers.Adam(0.01), loss="mse", metrics=["mae"])
        model.fit(X, Y, epochs=2, batch_size=32, shuffle=False, verbose=0)
        runs.append(model)
    keras_model, model = runs
    saved = optimizer_variables(model)
    assert [name.split("/")[1] for name, _ in saved][:2] == ["iteration", "learning_rate"]
    assert len(saved) == len(keras_model.optimizer.variables)
    for (name, value), expected in zip(saved, keras_model.optimizer.variables):
        np.testing.assert_allclose(value, np.asarray(expected), rtol=1e-4, atol=1e-7, err_msg=name)

    path = tmp_path / "guide.keras"
    model.save(path)
    loaded = scanfit.models.load_model(path, custom_objects={"CustomModel": type(model)})
    for trained in (model, loaded):
        trained.fit(X, Y, epochs=1, batch_size=32, shuffle=False, verbose=0)
    _same_weights(model, loaded, atol=0)


def test_backup_and_restore_resumes_a_model_own_steps_exactly(tmp_path):
    """A fit of the guide's model (shuffled, with Dropout drawing in the step) killed at the start of its third
    epoch and run again with the same BackupAndRestore ends with the weights and History of a run never
    interrupted; a backup inside an epoch is refused."""

    class Crash(Exception):
        pass

    class CrashAt(scanfit.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 2:
                raise Crash()

    def train(folder, extra=()):
        scanfit.utils.set_random_seed(5)
        model = _functional(scanfit, type(guide_model(scanfit)), with_batch_norm=False, dropout=0.3)
        model.compile(optimizer=scanfit.optimizers.Adam(0.01), loss="mse", metrics=["mae"])
        backup = scanfit.callbacks.BackupAndRestore(str(tmp_path / folder))
        history = model.fit(X, Y, epochs=4, batch_size=16, verbose=0, callbacks=[*extra, backup])
        return model, history.history

    reference, expected = train("reference")
    with pytest.raises(Crash):
        train("backup", [CrashAt()])
    resumed, history = train("backup")
    assert history == expected
    _same_weights(reference, resumed, atol=0)
    assert resumed.optimizer.iterations == reference.optimizer.iterations == 28
    with pytest.raises(NotImplementedError, match="save_freq='epoch'"):
        resumed.fit(X, Y, verbose=0, callbacks=[scanfit.callbacks.BackupAndRestore(str(tmp_path / "b"), save_freq=2)])


def test_jax_gradients_through_model_calls_as_in_deep_learning_with_python():
    """Chollet's filter visualization and Grad-CAM on JAX: jax.grad (and jax.jit of it) of a function that
    calls a feature-extraction model on the image; the gradients equal Keras's for the same weights (a model
    call under a JAX transformation used to fail reading its loss terms as a float)."""
    results = []
    for library in (keras, scanfit):
        inputs = library.Input(shape=(8, 8, 1))
        conv = library.layers.Conv2D(3, 3, activation="tanh", name="last_conv")(inputs)
        outputs = library.layers.Dense(2)(library.layers.GlobalAveragePooling2D()(conv))
        model = library.Model(inputs, outputs)
        model.set_weights([np.random.default_rng(3).normal(size=w.shape).astype("float32") for w in model.get_weights()])
        extractor = library.Model(model.inputs, model.get_layer("last_conv").output)

        def filter_activation(image):
            return jnp.mean(extractor(image)[..., 1])

        image = np.random.default_rng(4).uniform(size=(1, 8, 8, 1)).astype("float32")
        results.append((np.asarray(jax.grad(filter_activation)(image)),
                        np.asarray(jax.jit(jax.grad(filter_activation))(image)),
                        np.asarray(jax.grad(lambda x: model(x)[0, 1])(image))))
    for expected, got in zip(*results):
        assert np.abs(expected).sum() > 0
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)


def test_a_model_of_two_outputs_logs_each_output_loss_as_keras_does():
    """Keras's default train_step on a model of two outputs (losses, loss weights and metrics by output name):
    model.metrics ends with each output's loss tracker, logged before its weight, as in Keras."""
    x = RNG.normal(size=(40, 8)).astype("float32")
    targets = {"reg": Y[:40], "cls": (X[:40, 0] > 0.5).astype("int32")}
    runs = []
    for library in (keras, scanfit):
        class Custom(library.Model):
            def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
                return super().compute_loss(x, y, y_pred, sample_weight, training)

        inputs = library.Input(shape=(8,))
        hidden = library.layers.Dense(8, activation="relu")(inputs)
        model = Custom(inputs, [library.layers.Dense(1, name="reg")(hidden),
                                library.layers.Dense(2, activation="softmax", name="cls")(hidden)])
        if runs:
            model.set_weights(runs[0][0].get_weights())
        model.compile("sgd", loss={"reg": "mse", "cls": "sparse_categorical_crossentropy"},
                      loss_weights={"reg": 1.0, "cls": 0.5}, metrics={"cls": ["accuracy"]})
        runs.append((model, None))
    histories = [model.fit(x, targets, epochs=2, batch_size=8, shuffle=False, verbose=0).history
                 for model, _ in runs]
    assert sorted(histories[1]) == sorted(histories[0]) == ["cls_accuracy", "cls_loss", "loss", "reg_loss"]
    for name in histories[0]:
        np.testing.assert_allclose(histories[1][name], histories[0][name], rtol=1e-5)
    _same_weights(runs[0][0], runs[1][0])
    assert [m.name for m in runs[1][0].metrics] == [m.name for m in runs[0][0].metrics]
