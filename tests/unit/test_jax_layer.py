"""JaxLayer against Keras 3's: a layer computed by JAX functions of the user's, with params, state and keys."""
import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest

import scanfit

RNG = np.random.default_rng(1)
X = RNG.normal(size=(64, 5)).astype("float32")
Y = (X[:, :1] - 2 * X[:, 1:2]).astype("float32")
PARAMS = {"w": RNG.normal(size=(5, 3)).astype("float32") * 0.3, "b": np.zeros(3, "float32")}


def dense_fn(params, inputs):
    return jnp.tanh(inputs @ params["w"] + params["b"])


def normalized_fn(params, state, inputs, training):
    """A batch-statistics layer: the running mean is its state, updated while training."""
    mean = jnp.mean(inputs, axis=0) if training else state["mean"]
    new_state = {"mean": 0.9 * state["mean"] + 0.1 * jnp.mean(inputs, axis=0)} if training else state
    return (inputs - mean) @ params["w"], new_state


@pytest.mark.parametrize("stateful", [False, True])
def test_a_jax_layer_trains_as_keras_s(stateful):
    models = []
    for library in (keras, scanfit):
        if stateful:
            layer = library.layers.JaxLayer(normalized_fn, params={"w": PARAMS["w"]},
                                            state={"mean": np.zeros(5, "float32")})
        else:
            layer = library.layers.JaxLayer(dense_fn, params=PARAMS)
        model = library.Sequential([library.Input((5,)), layer, library.layers.Dense(1)])
        model.compile(optimizer=library.optimizers.SGD(0.05), loss="mse")
        models.append(model)
    models[1].set_weights(models[0].get_weights())
    for model in models:
        model.fit(X, Y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    assert [w.shape for w in models[1].get_weights()] == [w.shape for w in models[0].get_weights()]
    for expected, got in zip(models[0].get_weights(), models[1].get_weights()):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(models[1].predict(X, verbose=0), models[0].predict(X, verbose=0), rtol=1e-5, atol=1e-6)


def test_init_fn_makes_the_params_and_rng_draws_while_training_only(tmp_path):
    def init_fn(rng, inputs):
        return {"w": jax.random.normal(rng, (inputs.shape[-1], 4)) * 0.1, "scale": 2.0}

    def call_fn(params, rng, inputs, training):
        out = params["scale"] * (inputs @ params["w"])
        if training:
            out = jnp.where(jax.random.bernoulli(rng, 0.5, out.shape), out / 0.5, 0.0)
        return out

    layer = scanfit.layers.JaxLayer(call_fn, init_fn)
    model = scanfit.Sequential([scanfit.Input((5,)), layer])
    assert [w.shape for w in model.get_weights()] == [(), (5, 4)]  # the pytree's leaves: 'scale', then 'w'
    first, second = (np.asarray(layer(X[:8], training=True)) for _ in range(2))
    assert not np.array_equal(first, second) and 0.3 < np.mean(first == 0) < 0.7
    np.testing.assert_array_equal(model.predict(X, verbose=0), model.predict(X, verbose=0))
    model.compile(optimizer="sgd", loss="mse")
    model.fit(X, np.zeros((64, 4), "float32"), epochs=1, verbose=0)
    with pytest.raises(NotImplementedError, match="never saves code"):
        model.save(tmp_path / "m.keras")
    model.save_weights(tmp_path / "m.weights.h5")
    again = scanfit.Sequential([scanfit.Input((5,)), scanfit.layers.JaxLayer(call_fn, init_fn)])
    again.load_weights(tmp_path / "m.weights.h5")
    np.testing.assert_array_equal(again.predict(X, verbose=0), model.predict(X, verbose=0))


def test_bad_functions_are_refused():
    with pytest.raises(ValueError, match="must take an argument named `inputs`"):
        scanfit.layers.JaxLayer(lambda params, training: params, params=PARAMS)
    with pytest.raises(ValueError, match=r"takes \['weights'\]"):
        scanfit.layers.JaxLayer(lambda weights, inputs: inputs)
    with pytest.raises(ValueError, match="needs init_fn, params or state"):
        scanfit.layers.JaxLayer(dense_fn)
