"""Functional models against Keras 3: Wide & Deep, shared layers, nested models; files both ways; bad graphs."""
import json

import keras
import numpy as np
import pytest

import scanfit

RNG = np.random.default_rng(3)
XA = RNG.normal(size=(70, 5)).astype("float32")
XB = RNG.normal(size=(70, 6)).astype("float32")
Y_MAIN = RNG.normal(size=(70, 1)).astype("float32")
Y_AUX = RNG.integers(0, 3, size=(70,))


def wide_and_deep(K):
    """Hands-on ML's Wide & Deep: two inputs, a main regression output and an auxiliary classifier."""
    wide = K.Input(shape=(5,), name="wide_input")
    deep = K.Input(shape=(6,), name="deep_input")
    hidden1 = K.layers.Dense(8, activation="relu", name="hidden1")(deep)
    hidden2 = K.layers.Dense(8, activation="tanh", name="hidden2")(hidden1)
    concat = K.layers.concatenate([wide, hidden2], name="concat")
    main = K.layers.Dense(1, name="main_output")(concat)
    aux = K.layers.Dense(3, activation="softmax", name="aux_output")(hidden2)
    return K.Model(inputs=[wide, deep], outputs=[main, aux], name="wide_deep")


def shared_layer_model(K):
    """One Dense called on two inputs (weights shared), the results merged four ways."""
    left, right = K.Input(shape=(5,), name="left"), K.Input(shape=(5,), name="right")
    shared = K.layers.Dense(4, activation="relu", name="shared")
    a, b = shared(left), shared(right)
    merged = K.layers.concatenate([K.layers.add([a, b]), K.layers.subtract([a, b]), K.layers.multiply([a, b]),
                                   K.layers.average([a, b]), K.layers.maximum([a, b]), K.layers.minimum([a, b]),
                                   K.layers.Dot(axes=1)([a, b]), K.layers.Dot(axes=1, normalize=True)([a, b])])
    return K.Model([left, right], K.layers.Dense(1, name="out")(merged))


def nested_model(K):
    """A Sequential block used as a layer of a functional model."""
    block = K.Sequential([K.layers.Dense(6, activation="relu"), K.layers.Dense(4)], name="block")
    inputs = K.Input(shape=(6,), name="features")
    return K.Model(inputs, K.layers.Dense(2, activation="softmax", name="head")(block(inputs)))


def twins(build):
    k_model, s_model = build(keras), build(scanfit)
    weights = [RNG.normal(scale=0.5, size=w.shape).astype("float32") for w in k_model.get_weights()]
    k_model.set_weights(weights)
    s_model.set_weights(weights)
    return k_model, s_model


def assert_outputs_match(k_out, s_out, atol=1e-5):
    k_out = k_out if isinstance(k_out, list) else [k_out]
    s_out = s_out if isinstance(s_out, list) else [s_out]
    assert len(k_out) == len(s_out)
    for k, s in zip(k_out, s_out):
        np.testing.assert_allclose(np.asarray(s), np.asarray(k), atol=atol, rtol=1e-5)


def test_layers_and_weights_are_in_keras_order():
    for build in (wide_and_deep, shared_layer_model, nested_model):
        keras.backend.clear_session(free_memory=False)  # names count from here in both (Keras's ops share the counter)
        scanfit.backend.clear_session(free_memory=False)
        k_model, s_model = build(keras), build(scanfit)
        assert [l.name for l in s_model.layers] == [l.name for l in k_model.layers]
        assert [w.shape for w in s_model.get_weights()] == [tuple(w.shape) for w in k_model.get_weights()]
        assert s_model.count_params() == k_model.count_params()


@pytest.mark.parametrize("build", [wide_and_deep, shared_layer_model, nested_model])
def test_outputs_match_keras_from_the_same_weights(build):
    k_model, s_model = twins(build)
    x = [XA, XB] if build is wide_and_deep else ([XA, XA[::-1]] if build is shared_layer_model else XB)
    assert_outputs_match(k_model.predict(x, verbose=0), s_model.predict(x, verbose=0))
    assert_outputs_match(k_model(x), s_model(x))


def test_wide_and_deep_trains_step_for_step_with_loss_lists_and_weights():
    k_model, s_model = twins(wide_and_deep)
    for model, library in ((k_model, keras), (s_model, scanfit)):
        model.compile(optimizer=library.optimizers.SGD(0.05),
                      loss=["mse", "sparse_categorical_crossentropy"], loss_weights=[0.9, 0.1],
                      metrics=[["mae"], ["accuracy"]])
    kwargs = dict(epochs=3, batch_size=16, shuffle=False, verbose=0,
                  validation_data=([XA[:20], XB[:20]], [Y_MAIN[:20], Y_AUX[:20]]))
    k_hist = k_model.fit([XA, XB], [Y_MAIN, Y_AUX], **kwargs).history
    s_hist = s_model.fit([XA, XB], [Y_MAIN, Y_AUX], **kwargs).history
    for k_w, s_w in zip(k_model.get_weights(), s_model.get_weights()):
        np.testing.assert_allclose(s_w, k_w, rtol=1e-4, atol=1e-5)
    assert set(s_hist) == set(k_hist)
    for key in k_hist:
        np.testing.assert_allclose(s_hist[key], k_hist[key], rtol=1e-4, atol=1e-5, err_msg=key)
    k_eval = k_model.evaluate([XA, XB], [Y_MAIN, Y_AUX], verbose=0, return_dict=True)
    s_eval = s_model.evaluate([XA, XB], [Y_MAIN, Y_AUX], verbose=0, return_dict=True)
    assert set(s_eval) == set(k_eval)
    for key in k_eval:
        np.testing.assert_allclose(s_eval[key], k_eval[key], rtol=1e-4, atol=1e-5, err_msg=key)


def test_dicts_by_input_and_output_name_give_the_same_training_as_lists():
    results = []
    for form in ("list", "dict"):
        scanfit.utils.set_random_seed(5)
        model = wide_and_deep(scanfit)
        if form == "list":
            model.compile("adam", loss=["mse", "sparse_categorical_crossentropy"], loss_weights=[1.0, 0.5])
            model.fit([XA, XB], [Y_MAIN, Y_AUX], epochs=2, verbose=0)
        else:
            model.compile("adam", loss={"aux_output": "sparse_categorical_crossentropy", "main_output": "mse"},
                          loss_weights={"main_output": 1.0, "aux_output": 0.5})
            model.fit({"deep_input": XB, "wide_input": XA}, {"main_output": Y_MAIN, "aux_output": Y_AUX},
                      epochs=2, verbose=0)
        results.append(model.get_weights())
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def test_shared_and_nested_models_train_like_keras():
    for build, x, y, loss in ((shared_layer_model, [XA, XA[::-1]], Y_MAIN, "mse"),
                              (nested_model, XB, Y_AUX % 2, "sparse_categorical_crossentropy")):
        k_model, s_model = twins(build)
        k_model.compile(keras.optimizers.Adam(0.01), loss)
        s_model.compile(scanfit.optimizers.Adam(0.01), loss)
        k_hist = k_model.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0).history
        s_hist = s_model.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0).history
        np.testing.assert_allclose(s_hist["loss"], k_hist["loss"], rtol=1e-4)
        for k_w, s_w in zip(k_model.get_weights(), s_model.get_weights()):
            np.testing.assert_allclose(s_w, k_w, rtol=1e-4, atol=1e-5)


def test_a_shared_layer_holds_one_set_of_weights():
    model = shared_layer_model(scanfit)
    shared = model.get_layer("shared")
    assert len(shared.inbound_nodes) == 2 and len(shared.weights) == 2
    assert sum(1 for w in model.weights if w.path.startswith("shared/")) == 2


@pytest.mark.parametrize("extension", ["keras", "h5"])
@pytest.mark.parametrize("build", [wide_and_deep, nested_model, shared_layer_model])
def test_files_interchange_with_keras_both_ways(tmp_path, extension, build):
    k_model, s_model = twins(build)
    x = [XA, XB] if build is wide_and_deep else ([XA, XA[::-1]] if build is shared_layer_model else XB)
    expected = k_model.predict(x, verbose=0)
    k_model.save(tmp_path / f"k.{extension}")
    s_model.save(tmp_path / f"s.{extension}")
    from_keras = scanfit.models.load_model(tmp_path / f"k.{extension}")
    from_scanfit = keras.models.load_model(tmp_path / f"s.{extension}")
    assert [l.name for l in from_keras.layers] == [l.name for l in k_model.layers]
    assert_outputs_match(expected, from_keras.predict(x, verbose=0))
    assert_outputs_match(expected, from_scanfit.predict(x, verbose=0))


def test_weights_files_of_nested_models_interchange(tmp_path):
    k_model, s_model = twins(nested_model)
    k_model.save_weights(tmp_path / "k.weights.h5")
    fresh = nested_model(scanfit)
    fresh.load_weights(tmp_path / "k.weights.h5")
    assert_outputs_match(k_model.predict(XB, verbose=0), fresh.predict(XB, verbose=0))
    s_model.save_weights(tmp_path / "s.weights.h5")
    k_fresh = nested_model(keras)
    k_fresh.load_weights(tmp_path / "s.weights.h5")
    assert_outputs_match(k_fresh.predict(XB, verbose=0), s_model.predict(XB, verbose=0))


def test_a_compiled_functional_model_continues_training_after_a_reload(tmp_path):
    scanfit.utils.set_random_seed(1)
    model = wide_and_deep(scanfit)
    model.compile("adam", loss=["mse", "sparse_categorical_crossentropy"], loss_weights=[0.9, 0.1])
    model.fit([XA, XB], [Y_MAIN, Y_AUX], epochs=1, verbose=0, shuffle=False)
    model.save(tmp_path / "m.keras")
    reloaded = scanfit.models.load_model(tmp_path / "m.keras")
    for m in (model, reloaded):
        m.fit([XA, XB], [Y_MAIN, Y_AUX], epochs=1, verbose=0, shuffle=False)
    for a, b in zip(model.get_weights(), reloaded.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_config_clone_and_json_round_trips():
    model = wide_and_deep(scanfit)
    clone = scanfit.models.clone_model(model)
    assert [l.name for l in clone.layers] == [l.name for l in model.layers]
    assert all(a is not b for a, b in zip(clone.layers, model.layers))
    assert not np.array_equal(clone.get_weights()[0], model.get_weights()[0])  # fresh weights
    rebuilt = scanfit.models.model_from_json(model.to_json())
    assert rebuilt.get_config() == model.get_config()
    keras_rebuilt = keras.models.model_from_json(model.to_json())
    assert [l.name for l in keras_rebuilt.layers] == [l.name for l in model.layers]
    from_keras = scanfit.models.model_from_json(wide_and_deep(keras).to_json())
    assert [l.name for l in from_keras.layers] == [l.name for l in model.layers]
    assert json.loads(model.to_json())["class_name"] == "Functional"


def test_a_tf_keras_2_functional_config_is_read():
    config = {
        "class_name": "Functional",
        "config": {
            "name": "model",
            "layers": [
                {"class_name": "InputLayer", "name": "input_1",
                 "config": {"batch_input_shape": [None, 3], "dtype": "float32", "name": "input_1"},
                 "inbound_nodes": []},
                {"class_name": "Dense", "name": "d1", "config": {"name": "d1", "units": 2},
                 "inbound_nodes": [[["input_1", 0, 0, {}]]]},
                {"class_name": "Dense", "name": "d2", "config": {"name": "d2", "units": 2},
                 "inbound_nodes": [[["input_1", 0, 0, {}]]]},
                {"class_name": "Add", "name": "add", "config": {"name": "add"},
                 "inbound_nodes": [[["d1", 0, 0, {}], ["d2", 0, 0, {}]]]},
            ],
            "input_layers": [["input_1", 0, 0]],
            "output_layers": [["add", 0, 0]],
        },
    }
    model = scanfit.models.model_from_config(config)
    x = RNG.normal(size=(4, 3)).astype("float32")
    d1, d2 = model.get_layer("d1"), model.get_layer("d2")
    expected = x @ d1.get_weights()[0] + d1.get_weights()[1] + x @ d2.get_weights()[0] + d2.get_weights()[1]
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)


def test_summary_has_the_connected_to_column():
    lines = []
    wide_and_deep(scanfit).summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert lines[0] == 'Model: "wide_deep"'
    assert "Connected to" in lines[2]
    assert len(lines[1]) == 98
    at = next(i for i, line in enumerate(lines) if line.startswith(" concat (Concatenate)"))
    assert lines[at].split() == ["concat", "(Concatenate)", "(None,", "13)", "0", "['wide_input[0][0]',"]
    assert lines[at + 1].split() == ["'hidden2[0][0]']"]
    assert lines[at + 2].strip() == ""
    assert "Total params: 169" in text  # 6*8+8 + 8*8+8 + 13*1+1 + 8*3+3


def test_bad_graphs_are_clear_errors_before_anything_compiles():
    a, b = scanfit.Input((3,), name="a"), scanfit.Input((3,), name="b")
    out = scanfit.layers.Dense(2)(scanfit.layers.add([a, b]))
    with pytest.raises(ValueError, match="Graph disconnected.*'b'"):
        scanfit.Model(a, out)
    with pytest.raises(ValueError, match="listed twice"):
        scanfit.Model([a, a, b], out)
    with pytest.raises(ValueError, match="incompatible shapes"):
        scanfit.layers.add([a, scanfit.Input((4,))])
    with pytest.raises(ValueError, match="match except along"):
        scanfit.layers.concatenate([scanfit.Input((3, 2)), scanfit.Input((4, 5))])
    with pytest.raises(TypeError, match="KerasTensors"):
        scanfit.Model(a, np.zeros((1, 2)))
    model = scanfit.Model([a, b], [out, scanfit.layers.Dense(1, name="second")(a)])
    with pytest.raises(ValueError, match="2 entries.*3 outputs|3 entries.*2 outputs"):
        model.compile("sgd", loss=["mse", "mse", "mse"])
        model.fit([XA[:, :3], XA[:, :3]], [Y_MAIN, Y_MAIN], verbose=0)
    model.compile("sgd", loss="mse")
    with pytest.raises(ValueError, match="unknown: \\['c'\\]"):
        model.fit({"a": XA[:, :3], "c": XA[:, :3]}, [Y_MAIN, Y_MAIN], verbose=0)
    with pytest.raises(ValueError, match="not outputs of the model"):
        model.compile("sgd", loss={"nope": "mse"})
        model.fit([XA[:, :3], XA[:, :3]], [Y_MAIN, Y_MAIN], verbose=0)
    with pytest.raises(ValueError, match="one entry .* per output"):
        model.compile("sgd", loss="mse", metrics=["mae"])
        model.fit([XA[:, :3], XA[:, :3]], [Y_MAIN, Y_MAIN], verbose=0)
    assert model.trainer is None  # nothing was compiled for any of them


def test_sequential_layers_have_outputs_for_feature_extraction():
    model = scanfit.Sequential([scanfit.Input((4,)), scanfit.layers.Dense(3, activation="relu"),
                                scanfit.layers.Dense(2)])
    features = scanfit.Model(model.inputs, model.layers[0].output)
    x = XA[:, :4]
    kernel, bias = model.layers[0].get_weights()
    np.testing.assert_allclose(features.predict(x, verbose=0), np.maximum(x @ kernel + bias, 0), rtol=1e-5, atol=1e-6)
    both = scanfit.Model(model.input, [layer.output for layer in model.layers])
    first, second = both.predict(x, verbose=0)
    np.testing.assert_allclose(second, model.predict(x, verbose=0), rtol=1e-6)
    assert model.layers[1].input is model.layers[0].output
    assert model.output.shape == (None, 2)


def test_masks_flow_through_a_functional_graph_and_indices_are_checked_first():
    tokens = RNG.integers(1, 20, size=(16, 7))
    tokens[:, 4:] = 0
    tokens[:3, 2:] = 0

    def build(K):
        inputs = K.Input((7,))
        sequence = K.layers.LSTM(5, return_sequences=True)(K.layers.Embedding(20, 4, mask_zero=True)(inputs))
        return K.Model(inputs, K.layers.Dense(1)(K.layers.GlobalAveragePooling1D()(sequence)))

    k_model, s_model = build(keras), build(scanfit)
    s_model.set_weights(k_model.get_weights())
    np.testing.assert_allclose(s_model.predict(tokens, verbose=0), k_model.predict(tokens, verbose=0), atol=1e-5)
    s_model.compile("adam", "mse")
    bad = tokens.copy()
    bad[0, 0] = 25
    with pytest.raises(ValueError, match="index 25, outside \\[0, 20\\)"):
        s_model.fit(bad, np.zeros(16), verbose=0)
    assert s_model.trainer is None


@pytest.mark.parametrize("activity", [False, True])
def test_evaluate_with_a_short_last_batch_matches_keras(activity):
    """70 samples at batch 16: the last batch of 6 is padded in the evaluation program (not with an activity
    regularizer); loss (with an l2 weight penalty), per-output losses and metrics are Keras's, zero weights too."""
    def build(K):
        wide = K.Input(shape=(5,), name="wide_input")
        deep = K.Input(shape=(6,), name="deep_input")
        hidden = K.layers.Dense(8, activation="relu", kernel_regularizer=K.regularizers.l2(0.01),
                                activity_regularizer=K.regularizers.l1(0.01) if activity else None, name="hidden")(deep)
        main = K.layers.Dense(1, name="main_output")(K.layers.concatenate([wide, hidden]))
        aux = K.layers.Dense(3, activation="softmax", name="aux_output")(hidden)
        model = K.Model(inputs=[wide, deep], outputs=[main, aux])
        model.compile(optimizer="sgd", loss=["mse", "sparse_categorical_crossentropy"], loss_weights=[0.7, 0.3],
                      metrics=[["mae"], ["accuracy"]])
        return model

    k_model, s_model = twins(build)
    weights = np.where(np.arange(70) % 7 == 0, 0.0, 1.0 + np.arange(70) / 70).astype("float32")
    kwargs = dict(batch_size=16, verbose=0, return_dict=True, sample_weight=weights)
    k_logs = k_model.evaluate([XA, XB], [Y_MAIN, Y_AUX], **kwargs)
    s_logs = s_model.evaluate([XA, XB], [Y_MAIN, Y_AUX], **kwargs)
    assert s_model.trainer.programs.pad_evaluation is not activity
    assert set(s_logs) == set(k_logs)
    for name, value in k_logs.items():
        assert s_logs[name] == pytest.approx(value, rel=1e-5), name
