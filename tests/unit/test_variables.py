"""`keras.Variable`: standalone variables, and variables assigned to a layer's attributes, against Keras 3."""
import keras
import numpy as np
import pytest

import scanfit

LIBS = pytest.mark.parametrize("lib", [keras, scanfit], ids=["keras", "scanfit"])


@LIBS
def test_a_variable_from_a_value_or_an_initializer(lib):
    a = lib.Variable(np.ones((2, 2)))  # float64 values become floatx
    assert (a.shape, str(a.dtype), a.trainable, a.ndim) == ((2, 2), "float32", True, 2)
    assert a.name.startswith("variable") and a.path == a.name
    b = lib.Variable("zeros", shape=(3,), name="b", trainable=False)
    assert (b.name, b.path, b.shape, str(b.dtype), b.trainable) == ("b", "b", (3,), "float32", False)
    np.testing.assert_array_equal(b.numpy(), np.zeros(3))
    c = lib.Variable(3)
    assert (str(c.dtype), c.shape) == ("int32", ())
    d = lib.Variable(lib.initializers.Constant(2.5), shape=(2, 1), dtype="float16")
    assert str(d.dtype) == "float16"
    np.testing.assert_array_equal(d.numpy(), np.full((2, 1), 2.5))


@LIBS
def test_assign_and_arithmetic(lib):
    a = lib.Variable(np.arange(4, dtype="float32").reshape(2, 2))
    a.assign(a * 2)
    a.assign_add(np.ones((2, 2), "float32"))
    a.assign_sub(lib.ops.full((2, 2), 0.5))
    expected = np.arange(4).reshape(2, 2) * 2 + 0.5
    np.testing.assert_allclose(a.numpy(), expected)
    np.testing.assert_allclose(np.asarray(lib.ops.sum(a)), expected.sum())
    np.testing.assert_allclose(np.asarray(a @ np.eye(2, dtype="float32")), expected)
    np.testing.assert_allclose(np.asarray(a.value), expected)
    with pytest.raises(ValueError):
        a.assign(np.ones((3,), "float32"))


@LIBS
def test_bad_arguments_are_refused(lib):
    with pytest.raises(ValueError, match="shape"):
        lib.Variable("zeros")
    with pytest.raises(ValueError):
        lib.Variable(1.0, name="a/b")


class _Scaled:
    """A layer class for `lib` whose weights are variables assigned to attributes: one in __init__ (trainable),
    one in build (not trainable)."""

    @staticmethod
    def make(lib):
        class Scaled(lib.layers.Layer):
            def __init__(self, **kwargs):
                super().__init__(**kwargs)
                self.w = lib.Variable(np.full((2, 3), 0.5, "float32"), name="w")

            def build(self, input_shape):
                self.offset = lib.Variable(np.arange(3, dtype="float32"), name="offset", trainable=False)

            def call(self, x):
                return lib.ops.matmul(x, self.w) + self.offset

        return Scaled


@LIBS
def test_variables_assigned_to_a_layer_are_its_weights_and_train(lib):
    layer = _Scaled.make(lib)(name="scaled")
    y = layer(np.ones((1, 2), "float32"))
    np.testing.assert_allclose(np.asarray(y), [[1.0, 2.0, 3.0]])
    assert [v.name for v in layer.trainable_weights] == ["w"]
    assert [v.name for v in layer.non_trainable_weights] == ["offset"]
    model = lib.Sequential([lib.Input((2,)), _Scaled.make(lib)(name="inner")])
    model.compile(lib.optimizers.SGD(0.1), "mse")
    x, y = np.ones((4, 2), "float32"), np.zeros((4, 3), "float32")
    model.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False)
    inner = model.layers[0]
    # One SGD step on mse from w = 0.5: every prediction is 1 + offset_j, and d loss / d w_ij = 2 (1 + j) / 3.
    expected = 0.5 - 0.1 * 2 * (1 + np.arange(3)) / 3
    np.testing.assert_allclose(inner.w.numpy(), np.tile(expected, (2, 1)), rtol=1e-6)
    np.testing.assert_allclose(inner.offset.numpy(), np.arange(3))


def test_trained_variables_equal_keras_and_survive_saving(tmp_path):
    trained = {}
    for lib in (keras, scanfit):
        model = lib.Sequential([lib.Input((2,)), _Scaled.make(lib)(name="inner")])
        model.compile(lib.optimizers.SGD(0.1), "mse")
        x = np.array([[1.0, 2.0], [0.5, -1.0], [0.0, 1.0], [2.0, 0.0]], "float32")
        model.fit(x, np.zeros((4, 3), "float32"), batch_size=2, epochs=2, verbose=0, shuffle=False)
        trained[lib] = model.get_weights()
    for ours, theirs in zip(trained[scanfit], trained[keras]):
        np.testing.assert_allclose(ours, theirs, rtol=1e-6)
    # The first weight moved, the non-trainable one did not.
    assert not np.allclose(trained[scanfit][0], 0.5)
    np.testing.assert_array_equal(trained[scanfit][1], np.arange(3))
    model = scanfit.Sequential([scanfit.Input((2,)), _Scaled.make(scanfit)(name="inner")])
    model.set_weights(trained[scanfit])
    model.save_weights(tmp_path / "scaled.weights.h5")
    fresh = scanfit.Sequential([scanfit.Input((2,)), _Scaled.make(scanfit)(name="inner")])
    fresh.load_weights(tmp_path / "scaled.weights.h5")
    for ours, saved in zip(fresh.get_weights(), trained[scanfit]):
        np.testing.assert_array_equal(ours, saved)


def test_a_variable_assigned_before_the_layer_is_initialized_is_refused():
    class Early(scanfit.layers.Layer):
        def __init__(self):
            self.w = scanfit.Variable(1.0)
            super().__init__()

    with pytest.raises(RuntimeError, match="super"):
        Early()


def test_variables_in_lists_keep_their_paths_and_get_unique_short_names():
    def many(lib):
        class Many(lib.layers.Layer):
            def __init__(self):
                super().__init__(name="many")
                self.scales = [lib.Variable(1.0, name="s"), lib.Variable(2.0, name="s")]

            def call(self, x):
                return x * self.scales[0] * self.scales[1]

        return Many()

    layer, k_layer = many(scanfit), many(keras)
    # As in Keras, a variable made outside any name scope (in __init__) keeps its path when a layer adopts it.
    assert [(v.path, v.name) for v in layer.weights] == [(v.path, v.name) for v in k_layer.weights] == [("s", "s")] * 2
    assert [v.short_name for v in layer.weights] == ["s", "s_1"]  # the keys of the layer's weight dicts
    np.testing.assert_allclose(np.asarray(layer(np.ones((1, 2), "float32"))), [[2.0, 2.0]])


def test_an_optimizer_updates_standalone_variables():
    for lib in (keras, scanfit):
        v = lib.Variable(np.array([1.0, -2.0], "float32"))
        optimizer = lib.optimizers.Adam(0.1)
        optimizer.apply_gradients([(np.array([0.5, -0.5], "float32"), v)])
        np.testing.assert_allclose(v.numpy(), [0.9, -1.9], rtol=1e-5)
