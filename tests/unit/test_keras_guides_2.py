"""Snippets of more of Keras 3's developer guides (introduction for engineers and for researchers, migrating to
Keras 3) that scanfit got wrong, each run in both libraries."""
import keras
import numpy as np
import pytest

import scanfit

LIBS = pytest.mark.parametrize("lib", [keras, scanfit], ids=["keras", "scanfit"])


@LIBS
def test_a_sequential_first_called_inside_a_subclassed_model_is_built(lib):
    class MyModel(lib.Model):  # the engineers' guide's: a Sequential base without an input shape
        def __init__(self, num_classes):
            super().__init__()
            self.conv_base = lib.Sequential([lib.layers.Conv2D(4, 3, activation="relu"),
                                             lib.layers.GlobalAveragePooling2D()])
            self.dense = lib.layers.Dense(num_classes, activation="softmax")

        def call(self, x):
            return self.dense(self.conv_base(x))
    model = MyModel(num_classes=3)
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
    model.fit(np.ones((4, 6, 6, 1), "float32"), np.arange(4) % 3, epochs=1, verbose=0)
    assert model.conv_base.built and model.conv_base.count_params() == 40
    assert tuple(model.conv_base.output_shape)[1:] == (4,)
    lines = []
    model.summary(print_fn=lambda line, *args, **kwargs: lines.append(line))
    assert any("conv_base" in line or "sequential" in line for line in lines)


@LIBS
def test_a_model_with_dict_inputs_is_called_on_a_dict(lib):
    inputs = {"foo": lib.Input(shape=(1,), name="foo"), "bar": lib.Input(shape=(1,), name="bar")}
    model = lib.Model(inputs, inputs["foo"] - inputs["bar"])  # the migration guide's (its inputs sort as bar, foo)
    y = model({"foo": np.ones((2, 1), "float32"), "bar": np.full((2, 1), 3.0, "float32")})
    np.testing.assert_allclose(np.asarray(y), [[-2.0], [-2.0]])


def test_one_metric_per_output_in_a_flat_list():
    results = []
    for lib in (keras, scanfit):  # the migration guide's multi-output evaluate()
        inputs = lib.layers.Input(shape=(4,))
        x1 = lib.layers.Dense(3, activation="relu")(inputs)
        x2 = lib.layers.Dense(3, activation="relu")(x1)
        output_1 = lib.layers.Dense(3, activation="softmax", name="output_1")(x1)
        output_2 = lib.layers.Dense(3, activation="softmax", name="output_2")(x2)
        model = lib.Model(inputs=inputs, outputs=[output_1, output_2])
        model.set_weights([np.linspace(-0.5, 0.5, w.size).reshape(w.shape).astype("float32")
                           for w in model.get_weights()])
        model.compile(optimizer="adam", loss="categorical_crossentropy",
                      metrics=["categorical_crossentropy", ["mae", "categorical_crossentropy"]])
        x = np.linspace(0, 1, 24).reshape(6, 4).astype("float32")
        y = np.eye(3, dtype="float32")[np.arange(6) % 3]
        results.append(model.evaluate(x, [y, y], verbose=0, return_dict=True))
    assert set(results[0]) == set(results[1]) == {
        "loss", "output_1_loss", "output_2_loss", "output_1_categorical_crossentropy", "output_2_mae",
        "output_2_categorical_crossentropy"}
    for name, value in results[0].items():
        np.testing.assert_allclose(results[1][name], value, rtol=1e-5)


def f1_score_class(lib):
    ops = lib.ops

    class F1Score(lib.metrics.Metric):  # the researchers' guide's, with keras.ops
        def __init__(self, name="f1_score", dtype="float32", threshold=0.5, **kwargs):
            super().__init__(name=name, dtype=dtype, **kwargs)
            self.threshold = threshold
            self.true_positives = self.add_weight(name="tp", dtype=dtype, initializer="zeros")
            self.false_positives = self.add_weight(name="fp", dtype=dtype, initializer="zeros")
            self.false_negatives = self.add_weight(name="fn", dtype=dtype, initializer="zeros")

        def update_state(self, y_true, y_pred, sample_weight=None):
            y_pred = ops.greater_equal(y_pred, self.threshold)
            y_true = ops.cast(y_true, "bool")
            true_positives = ops.cast(y_true & y_pred, self.dtype)
            false_positives = ops.cast(~y_true & y_pred, self.dtype)
            false_negatives = ops.cast(y_true & ~y_pred, self.dtype)
            self.true_positives.assign_add(ops.sum(true_positives))
            self.false_positives.assign_add(ops.sum(false_positives))
            self.false_negatives.assign_add(ops.sum(false_negatives))

        def result(self):
            precision = self.true_positives / (self.true_positives + self.false_positives)
            recall = self.true_positives / (self.true_positives + self.false_negatives)
            return precision * recall * 2.0 / (precision + recall)
    return F1Score


@LIBS
def test_a_metric_updated_with_python_lists(lib):
    metric = f1_score_class(lib)()
    metric.update_state([0, 1, 0, 0], [0.3, 0.5, 0.8, 0.9])
    assert float(metric.result()) == pytest.approx(0.5)  # the guide's printed values (tp 1, fp 2, fn 0)
    metric.update_state([1, 1, 1, 1], [0.1, 0.7, 0.6, 0.0])
    assert float(metric.result()) == pytest.approx(0.6)  # tp 3, fp 2, fn 2


def test_ops_take_python_lists_as_keras():
    cases = [("greater_equal", ([0.3, 0.5], 0.5)), ("add", ([1, 2], [3, 4])), ("sum", ([1.5, 2],)),
             ("matmul", ([[1.0, 2.0]], [[2.0], [3.0]])), ("logical_and", ([True, True], [False, True])),
             ("concatenate", ([[1, 2], [3]],)), ("stack", ([[1, 2], [3, 4]],)), ("take", ([5, 6, 7], [0, 2])),
             ("reshape", ([1, 2, 3, 4], (2, 2))), ("one_hot", ([0, 2], 3)), ("mean", ([1, 2],))]
    for name, args in cases:
        expected, got = getattr(keras.ops, name)(*args), getattr(scanfit.ops, name)(*args)
        assert np.asarray(got).dtype == np.asarray(expected).dtype, name
        np.testing.assert_allclose(np.asarray(got), np.asarray(expected), err_msg=name)
    x = np.arange(6).reshape(2, 3)
    assert int(scanfit.ops.get_item(x, (1, 2))) == int(keras.ops.get_item(x, (1, 2))) == 5  # an index, not an array


def test_a_string_input_is_a_clear_error():
    # Keras (which needs TensorFlow for string layers) cannot compute a model on strings on JAX either; the
    # preprocessing guide's end-to-end text model therefore maps the strings before the model.
    with pytest.raises(ValueError, match="numeric arrays only.*TextVectorization"):
        scanfit.Input(shape=(1,), dtype="string")


def test_jit_compile_and_run_eagerly_attributes():
    class MyModel(scanfit.Model):
        def call(self, inputs):
            return inputs * 2
    model = MyModel()
    assert model.jit_compile is True and model.run_eagerly is False
    model.jit_compile = True
    with pytest.raises(ValueError, match="jit_compile=False is not supported"):
        model.jit_compile = False  # the migration guide's fix for ops XLA cannot compile: scanfit always compiles
    with pytest.raises(ValueError, match="run_eagerly=True is not supported"):
        model.run_eagerly = True
    np.testing.assert_allclose(model.predict(np.ones((2, 3), "float32"), verbose=0), 2.0)


@LIBS
def test_normalization_mean_and_variance_in_the_broadcast_shape(lib):
    data = np.array([[0.1, 0.2, 0.3], [0.8, 0.9, 1.0], [1.5, 1.6, 1.7]])  # the preprocessing guide's
    layer = lib.layers.Normalization()
    assert layer.mean is None
    layer.adapt(data)
    normalized = np.asarray(layer(data))
    assert abs(normalized.mean()) < 1e-6 and normalized.std() == pytest.approx(1.0, abs=1e-4)
    np.testing.assert_allclose(np.asarray(layer.mean), [[0.8, 0.9, 1.0]], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(layer.variance), np.full((1, 3), 0.98 / 3), rtol=1e-5)
    given = lib.layers.Normalization(axis=(1, 2), mean=[1.0, 2.0], variance=[4.0, 9.0])
    given.build((None, 3, 2))
    np.testing.assert_allclose(np.asarray(given.variance), np.broadcast_to([4.0, 9.0], (1, 3, 2)))


def test_normalization_reads_its_weights_after_set_weights():
    # Keras 3.15 keeps computing (and reporting `mean`) with the statistics of the last adapt() after set_weights,
    # as if the new weights were not there; scanfit uses the weights it holds: (3 - 1) / sqrt(4) = 1.
    layer = scanfit.layers.Normalization(axis=(1, 2))
    layer.adapt(np.arange(24.0).reshape(2, 3, 4))
    layer.set_weights([np.ones((3, 4)), np.full((3, 4), 4.0), np.array(5)])
    np.testing.assert_allclose(np.asarray(layer(np.full((1, 3, 4), 3.0))), 1.0, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(layer.mean), np.ones((1, 3, 4)))


def sparse_mlp(lib):
    ops = lib.ops

    class ActivityRegularization(lib.layers.Layer):  # the researchers' guide's
        def __init__(self, rate=1e-2):
            super().__init__()
            self.rate = rate

        def call(self, inputs):
            self.add_loss(self.rate * ops.sum(inputs))
            return inputs

    class SparseMLP(lib.layers.Layer):
        def __init__(self):
            super().__init__()
            self.linear_1 = lib.layers.Dense(4, kernel_initializer="ones", activity_regularizer="l1")
            self.regularization = ActivityRegularization(1e-2)
            self.linear_3 = lib.layers.Dense(2)

        def call(self, inputs):
            return self.linear_3(self.regularization(ops.relu(self.linear_1(inputs))))
    return SparseMLP()


@LIBS
def test_each_layer_reports_the_losses_of_its_last_call(lib):
    mlp = sparse_mlp(lib)
    for _ in range(2):  # no accumulation from call to call
        mlp(np.ones((10, 3), "float32"))
        # each unit gives 3 per sample: the guide's term 0.01 * 10 * 4 * 3, the l1 activity 0.01 * 12 (per sample)
        assert sum(float(loss) for loss in mlp.losses) == pytest.approx(1.2 + 0.12, rel=1e-5)
        assert sum(float(loss) for loss in mlp.regularization.losses) == pytest.approx(1.2, rel=1e-5)
        assert sum(float(loss) for loss in mlp.linear_1.losses) == pytest.approx(0.12, rel=1e-5)
        assert mlp.linear_3.losses == []
    inputs = lib.Input((3,))
    dense = lib.layers.Dense(2, kernel_initializer="ones", activity_regularizer="l2")
    model = lib.Model(inputs, dense(inputs))
    model(np.ones((2, 3), "float32"))  # l2: 0.01 * the sum of the squared outputs (4 of 3) / the batch size
    assert sum(float(loss) for loss in dense.losses) == pytest.approx(0.01 * 4 * 9 / 2, rel=1e-5)


def test_export_is_refused_with_the_way_through_keras(tmp_path):
    model = scanfit.Sequential([scanfit.Input((5,)), scanfit.layers.Dense(2)])  # the migration guide's
    with pytest.raises(NotImplementedError, match="model.save.*load it in Keras"):
        model.export(str(tmp_path / "saved_model"))
    model.save(tmp_path / "m.keras")  # the way the message gives
    x = np.linspace(0, 1, 15).reshape(3, 5).astype("float32")
    np.testing.assert_allclose(keras.saving.load_model(tmp_path / "m.keras")(x), model(x), rtol=1e-6)


def dict_reading_layer(lib):
    class CustomLayer(lib.layers.Layer):  # the migration guide's "Solution 1", with weights and an optional entry
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = lib.layers.Dense(2, kernel_initializer="ones")

        def call(self, inputs):
            out = self.dense(inputs["foo"]) * inputs["bar"]["baz"]
            if inputs["bar"]["qux"] is not None:
                out = out + inputs["bar"]["qux"]
            return out
    return CustomLayer()


@LIBS
def test_a_layer_called_on_a_nested_dict_of_tensors(lib):
    layer = dict_reading_layer(lib)
    foo, baz = lib.Input(shape=(3,), name="foo"), lib.Input(shape=(1,), name="baz")
    out = layer({"foo": foo, "bar": {"baz": baz, "qux": None}})
    assert tuple(out.shape) == (None, 2) and len(layer.weights) == 2
    model = lib.Model([foo, baz], out)
    x = [np.ones((2, 3), "float32"), np.full((2, 1), 2.0, "float32")]
    np.testing.assert_allclose(np.asarray(model(x)), 6.0)
    model.compile(optimizer=lib.optimizers.SGD(0.01), loss="mse")
    history = model.fit(x, np.zeros((2, 2)), verbose=0, epochs=2, shuffle=False).history
    np.testing.assert_allclose(history["loss"], [36.0, 25.4016], rtol=1e-5)  # 6 ** 2, then after one SGD step
    eager = layer({"foo": np.ones((2, 3), "float32"), "bar": {"baz": np.ones((2, 1), "float32"),
                                                              "qux": np.ones((2, 2), "float32")}})
    np.testing.assert_allclose(np.asarray(eager), 3.1168, rtol=1e-5)  # kernel 0.7792, bias -0.2208 after 2 steps


def test_saving_a_model_with_a_dict_call_is_a_clear_error(tmp_path):
    layer = dict_reading_layer(scanfit)
    foo, baz = scanfit.Input(shape=(3,)), scanfit.Input(shape=(1,))
    model = scanfit.Model([foo, baz], layer({"foo": foo, "bar": {"baz": baz, "qux": None}}))
    with pytest.raises(NotImplementedError, match="called on a dict of tensors"):
        model.save(tmp_path / "m.keras")
