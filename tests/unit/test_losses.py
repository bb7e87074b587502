"""scanfit.losses against Keras 3 (JAX backend) as the oracle."""
import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest

from scanfit import losses

RTOL = ATOL = 1e-6
N, C = 8, 3


def close(actual, expected):
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), rtol=RTOL, atol=ATOL)


def probabilities(rng, shape):
    """Rows of probabilities with entries at and near 0 and 1, some rows not summing to 1."""
    p = rng.random(shape).astype(np.float32)
    p /= p.sum(-1, keepdims=True)
    flat = p.reshape(-1, shape[-1])
    flat[0] = 0.0
    flat[0, 0] = 1.0
    flat[1] = 1e-9
    flat[1, 1] = 1.0 - 1e-8
    flat[2] *= 1.7
    return flat.reshape(shape)


def binary_probabilities(rng, shape):
    p = rng.random(shape).astype(np.float32)
    flat = p.reshape(-1)
    flat[:6] = [0.0, 1.0, 1e-9, 1.0 - 1e-8, 5e-8, 0.9999999]
    return flat.reshape(shape)


def make_data(kind, seed=0):
    """(y_true, y_pred) of one kind of problem."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, C, N)
    if kind == "sparse":
        return labels, probabilities(rng, (N, C))
    if kind == "sparse_column":
        return labels[:, None], probabilities(rng, (N, C))
    if kind == "sparse_logits":
        return labels, rng.normal(size=(N, C)).astype(np.float32) * 4
    if kind == "onehot":
        return np.eye(C, dtype=np.float32)[labels], probabilities(rng, (N, C))
    if kind == "onehot_logits":
        return np.eye(C, dtype=np.float32)[labels], rng.normal(size=(N, C)).astype(np.float32) * 4
    if kind == "soft":
        return probabilities(rng, (N, C))[::-1].copy(), probabilities(rng, (N, C))
    if kind == "sequence_onehot":
        seq_labels = rng.integers(0, C, (N, 3))
        return np.eye(C, dtype=np.float32)[seq_labels], probabilities(rng, (N, 3, C))
    if kind == "binary":
        return rng.integers(0, 2, (N, 1)).astype(np.float32), binary_probabilities(rng, (N, 1))
    if kind == "binary_flat":
        return rng.integers(0, 2, N).astype(np.float32), binary_probabilities(rng, (N, 1))
    if kind == "binary_logits":
        return rng.integers(0, 2, (N, 1)).astype(np.float32), rng.normal(size=(N, 1)).astype(np.float32) * 5
    if kind == "multilabel":
        return rng.integers(0, 2, (N, 3)).astype(np.float32), binary_probabilities(rng, (N, 3))
    if kind == "regression":
        y = rng.normal(size=(N, 3)).astype(np.float32)
        y[0, 0] = 0.0
        return y, rng.normal(size=(N, 3)).astype(np.float32) * 2
    if kind == "regression_flat":
        return rng.normal(size=N).astype(np.float32), rng.normal(size=(N, 1)).astype(np.float32)
    if kind == "positive":
        y = rng.random((N, 3)).astype(np.float32) * 3
        y[0, 0] = 0.0
        return y, rng.random((N, 3)).astype(np.float32) * 3 + 1e-3
    if kind == "hinge_01":
        return rng.integers(0, 2, (N, 3)).astype(np.float32), rng.normal(size=(N, 3)).astype(np.float32)
    if kind == "hinge_signed":
        return rng.choice([-1.0, 1.0], (N, 3)).astype(np.float32), rng.normal(size=(N, 3)).astype(np.float32)
    raise ValueError(kind)


FUNCTION_CASES = [
    ("sparse_categorical_crossentropy", {}, "sparse"),
    ("sparse_categorical_crossentropy", {}, "sparse_column"),
    ("sparse_categorical_crossentropy", {"from_logits": True}, "sparse_logits"),
    ("sparse_categorical_crossentropy", {"ignore_class": 2}, "sparse"),
    ("categorical_crossentropy", {}, "onehot"),
    ("categorical_crossentropy", {}, "soft"),
    ("categorical_crossentropy", {"label_smoothing": 0.1}, "onehot"),
    ("categorical_crossentropy", {"from_logits": True}, "onehot_logits"),
    ("categorical_crossentropy", {"from_logits": True, "label_smoothing": 0.2}, "onehot_logits"),
    ("categorical_crossentropy", {}, "sequence_onehot"),
    ("binary_crossentropy", {}, "binary"),
    ("binary_crossentropy", {"label_smoothing": 0.1}, "binary"),
    ("binary_crossentropy", {"from_logits": True}, "binary_logits"),
    ("binary_crossentropy", {"from_logits": True, "label_smoothing": 0.3}, "binary_logits"),
    ("binary_crossentropy", {}, "multilabel"),
    ("mean_squared_error", {}, "regression"),
    ("mean_squared_error", {}, "regression_flat"),
    ("mean_absolute_error", {}, "regression"),
    ("mean_absolute_percentage_error", {}, "regression"),
    ("mean_squared_logarithmic_error", {}, "positive"),
    ("mean_squared_logarithmic_error", {}, "regression"),
    ("huber", {}, "regression"),
    ("huber", {"delta": 0.3}, "regression"),
    ("log_cosh", {}, "regression"),
    ("hinge", {}, "hinge_01"),
    ("hinge", {}, "hinge_signed"),
    ("squared_hinge", {}, "hinge_01"),
    ("squared_hinge", {}, "hinge_signed"),
    ("categorical_hinge", {}, "onehot"),
    ("kl_divergence", {}, "soft"),
    ("poisson", {}, "positive"),
    ("cosine_similarity", {}, "regression"),
    ("binary_focal_crossentropy", {}, "binary"),
    ("binary_focal_crossentropy", {"apply_class_balancing": True, "alpha": 0.4, "gamma": 1.5}, "multilabel"),
    ("binary_focal_crossentropy", {"from_logits": True, "label_smoothing": 0.1}, "binary_logits"),
    ("categorical_focal_crossentropy", {}, "onehot"),
    ("categorical_focal_crossentropy", {"alpha": 0.5, "gamma": 3.0, "label_smoothing": 0.1}, "soft"),
    ("categorical_focal_crossentropy", {"from_logits": True}, "onehot_logits"),
    ("dice", {}, "multilabel"),
    ("dice", {"axis": -1}, "multilabel"),
    ("tversky", {}, "multilabel"),
    ("tversky", {"alpha": 0.8, "beta": 0.2, "axis": 1}, "multilabel"),
    ("categorical_generalized_cross_entropy", {"q": 0.5}, "sparse"),
    ("categorical_generalized_cross_entropy", {"q": 0.2}, "sparse"),
]


@pytest.mark.parametrize("name,kwargs,kind", FUNCTION_CASES)
def test_function_matches_keras(name, kwargs, kind):
    y_true, y_pred = make_data(kind)
    ours = getattr(losses, name)(y_true, y_pred, **kwargs)
    theirs = getattr(keras.losses, name)(y_true, y_pred, **kwargs)
    assert ours.shape == theirs.shape
    close(ours, theirs)


@pytest.mark.parametrize("alias,reduction", [("mean", "sum_over_batch_size"), ("none", None)])
def test_reduction_aliases(alias, reduction):
    y_true, y_pred = make_data("sequence_onehot")
    weights = sample_weights("per_sample", y_pred)[:, None]
    close(losses.CategoricalCrossentropy(reduction=alias)(y_true, y_pred, weights),
          losses.CategoricalCrossentropy(reduction=reduction)(y_true, y_pred, weights))


def test_aliases_are_the_functions():
    assert losses.mse is losses.MSE is losses.mean_squared_error
    assert losses.mae is losses.mean_absolute_error
    assert losses.mape is losses.mean_absolute_percentage_error
    assert losses.msle is losses.mean_squared_logarithmic_error
    assert losses.kld is losses.kl_divergence


def test_binary_labels_without_unit_axis_are_aligned_like_keras_classes():
    y_true, y_pred = make_data("binary_flat")
    expected = keras.losses.BinaryCrossentropy(reduction=None)(y_true, y_pred)
    close(losses.binary_crossentropy(y_true, y_pred), expected)
    close(losses.per_sample_fn("binary_crossentropy")(y_true, y_pred), expected)
    assert losses.binary_crossentropy(y_true, y_pred).shape == (N,)


CLASS_CASES = [
    ("SparseCategoricalCrossentropy", {}, "sparse"),
    ("SparseCategoricalCrossentropy", {}, "sparse_column"),
    ("SparseCategoricalCrossentropy", {"from_logits": True}, "sparse_logits"),
    ("SparseCategoricalCrossentropy", {"ignore_class": 2}, "sparse"),
    ("SparseCategoricalCrossentropy", {"ignore_class": 2, "from_logits": True}, "sparse_logits"),
    ("CategoricalCrossentropy", {}, "onehot"),
    ("CategoricalCrossentropy", {"label_smoothing": 0.1, "from_logits": True}, "onehot_logits"),
    ("CategoricalCrossentropy", {}, "sequence_onehot"),
    ("BinaryCrossentropy", {}, "binary"),
    ("BinaryCrossentropy", {}, "binary_flat"),
    ("BinaryCrossentropy", {"from_logits": True, "label_smoothing": 0.2}, "binary_logits"),
    ("BinaryCrossentropy", {}, "multilabel"),
    ("MeanSquaredError", {}, "regression"),
    ("MeanSquaredError", {}, "regression_flat"),
    ("MeanAbsoluteError", {}, "regression"),
    ("MeanAbsolutePercentageError", {}, "regression"),
    ("MeanSquaredLogarithmicError", {}, "positive"),
    ("Huber", {}, "regression"),
    ("Huber", {"delta": 0.5}, "regression_flat"),
    ("LogCosh", {}, "regression"),
    ("Hinge", {}, "hinge_01"),
    ("SquaredHinge", {}, "hinge_signed"),
    ("CategoricalHinge", {}, "onehot"),
    ("KLDivergence", {}, "soft"),
    ("Poisson", {}, "positive"),
    ("CosineSimilarity", {}, "regression"),
    ("BinaryFocalCrossentropy", {}, "binary_flat"),
    ("BinaryFocalCrossentropy", {"apply_class_balancing": True, "from_logits": True}, "binary_logits"),
    ("CategoricalFocalCrossentropy", {}, "onehot"),
    ("CategoricalFocalCrossentropy", {"gamma": 0.5, "from_logits": True}, "onehot_logits"),
    ("Dice", {}, "multilabel"),
    ("Dice", {"axis": -1}, "multilabel"),
    ("Tversky", {"alpha": 0.3, "beta": 0.7}, "multilabel"),
    ("CategoricalGeneralizedCrossEntropy", {}, "sparse"),
    ("CategoricalGeneralizedCrossEntropy", {"q": 0.8}, "sparse"),
]


def test_generalized_cross_entropy_takes_column_labels_as_documented():
    """Keras 3.15 documents labels of shape (batch,) or (batch, 1), but broadcasts the second against the
    predictions into a (batch, batch) matrix; scanfit reads them as the same labels."""
    y_true, y_pred = make_data("sparse_column")
    expected = keras.losses.categorical_generalized_cross_entropy(y_true[:, 0], y_pred, q=0.3)
    close(losses.categorical_generalized_cross_entropy(y_true, y_pred, q=0.3), expected)
    p = y_pred[np.arange(N), y_true[:, 0].astype(int)]
    close(losses.CategoricalGeneralizedCrossEntropy(q=0.3)(y_true, y_pred), np.mean((1 - p ** 0.3) / 0.3))
    with pytest.raises(ValueError, match=r"q in \(0, 1\)"):
        losses.CategoricalGeneralizedCrossEntropy(q=1.5)
REDUCTIONS = ["sum_over_batch_size", "sum", "mean_with_sample_weight", None]


def sample_weights(kind, y_pred, seed=1):
    rng = np.random.default_rng(seed)
    if kind is None:
        return None
    if kind == "per_sample":
        w = rng.random(N).astype(np.float32) * 2
        w[0] = 0.0
        return w
    if kind == "column":
        return rng.random((N, 1)).astype(np.float32)
    if kind == "timestep":
        return rng.random(y_pred.shape[:-1]).astype(np.float32)
    raise ValueError(kind)


@pytest.mark.parametrize("name,kwargs,kind", CLASS_CASES)
def test_class_matches_keras_for_every_reduction_and_weighting(name, kwargs, kind):
    y_true, y_pred = make_data(kind)
    weight_kinds = [None, "per_sample", "timestep" if kind.startswith("sequence") else "column"]
    for weight_kind in weight_kinds:
        weights = sample_weights(weight_kind, y_pred)
        for reduction in REDUCTIONS:
            ours = getattr(losses, name)(reduction=reduction, **kwargs)
            theirs = getattr(keras.losses, name)(reduction=reduction, **kwargs)
            try:
                expected = theirs(y_true, y_pred, sample_weight=weights)
            except ValueError:  # e.g. per-sample weights on per-timestep losses
                with pytest.raises(ValueError):
                    ours(y_true, y_pred, sample_weight=weights)
                continue
            actual = ours(y_true, y_pred, sample_weight=weights)
            assert actual.shape == expected.shape, (weight_kind, reduction)
            close(actual, expected)


@pytest.mark.parametrize("name,kwargs,kind", CLASS_CASES)
def test_fn_and_per_sample_match_keras_unreduced(name, kwargs, kind):
    y_true, y_pred = make_data(kind)
    # Unreduced values (under a mean reduction, per_sample weighs ignore_class's kept entries: test_masked_loss).
    loss = getattr(losses, name)(reduction=None, **kwargs)
    expected = getattr(keras.losses, name)(reduction=None, **kwargs)(y_true, y_pred)
    if kwargs.get("ignore_class") is None:
        close(loss.fn(*losses.match_ranks(jnp.asarray(y_true, jnp.float32), jnp.asarray(y_pred))), expected)
    close(loss.per_sample(y_true, y_pred), expected)


GRADIENT_CASES = [
    ("SparseCategoricalCrossentropy", {}, "sparse"),
    ("SparseCategoricalCrossentropy", {"from_logits": True}, "sparse_logits"),
    ("SparseCategoricalCrossentropy", {"from_logits": True, "ignore_class": 1}, "sparse_logits"),
    ("SparseCategoricalCrossentropy", {"ignore_class": 1}, "sparse"),
    ("CategoricalCrossentropy", {}, "onehot"),
    ("CategoricalCrossentropy", {"label_smoothing": 0.1}, "soft"),
    ("CategoricalCrossentropy", {"from_logits": True, "label_smoothing": 0.1}, "onehot_logits"),
    ("BinaryCrossentropy", {}, "binary"),
    ("BinaryCrossentropy", {"label_smoothing": 0.2}, "multilabel"),
    ("BinaryCrossentropy", {"from_logits": True}, "binary_logits"),
    ("BinaryFocalCrossentropy", {"apply_class_balancing": True}, "binary"),
    ("BinaryFocalCrossentropy", {"from_logits": True}, "binary_logits"),
    ("CategoricalFocalCrossentropy", {"label_smoothing": 0.1}, "onehot"),
    ("CategoricalFocalCrossentropy", {"from_logits": True}, "onehot_logits"),
]


@pytest.mark.parametrize("name,kwargs,kind", GRADIENT_CASES)
def test_crossentropy_gradients_match_keras(name, kwargs, kind):
    y_true, y_pred = make_data(kind)
    weights = sample_weights("per_sample", y_pred)
    ours, theirs = getattr(losses, name)(**kwargs), getattr(keras.losses, name)(**kwargs)
    grad_ours = jax.grad(lambda p: ours(y_true, p, sample_weight=weights))(jnp.asarray(y_pred))
    grad_theirs = jax.grad(lambda p: theirs(y_true, p, sample_weight=weights))(jnp.asarray(y_pred))
    close(grad_ours, grad_theirs)


@pytest.mark.parametrize("name,kind", [
    ("sparse_categorical_crossentropy", "sparse"),
    ("categorical_crossentropy", "onehot"),
    ("binary_crossentropy", "binary"),
])
def test_function_gradients_match_keras(name, kind):
    y_true, y_pred = make_data(kind)
    grad_ours = jax.grad(lambda p: jnp.sum(getattr(losses, name)(y_true, p)))(jnp.asarray(y_pred))
    grad_theirs = jax.grad(lambda p: jnp.sum(getattr(keras.losses, name)(y_true, p)))(jnp.asarray(y_pred))
    close(grad_ours, grad_theirs)


# --- look-up -----------------------------------------------------------------

@pytest.mark.parametrize("identifier", [
    "sparse_categorical_crossentropy", "categorical_crossentropy", "binary_crossentropy", "mse", "MSE", "mae",
    "mape", "msle", "kld", "huber", "log_cosh", "hinge", "poisson", "cosine_similarity",
])
def test_get_by_function_name_gives_the_function(identifier):
    ours = losses.get(identifier)
    assert callable(ours) and not isinstance(ours, losses.Loss)
    assert ours.__name__ == keras.losses.get(identifier).__name__


@pytest.mark.parametrize("identifier", ["CategoricalCrossentropy", "MeanSquaredError", "Huber", "LogCosh"])
def test_get_by_class_name_gives_an_instance_named_like_keras(identifier):
    ours, theirs = losses.get(identifier), keras.losses.get(identifier)
    assert type(ours).__name__ == type(theirs).__name__
    assert ours.name == theirs.name


def test_get_passes_objects_through_and_instantiates_classes():
    instance = losses.CategoricalCrossentropy(from_logits=True)
    assert losses.get(instance) is instance
    assert losses.get(losses.categorical_crossentropy) is losses.categorical_crossentropy
    assert isinstance(losses.get(losses.Huber), losses.Huber)
    assert losses.get(None) is None


def test_get_config_dict():
    loss = losses.get({"class_name": "CategoricalCrossentropy", "config": {"from_logits": True}})
    assert isinstance(loss, losses.CategoricalCrossentropy) and loss.from_logits


@pytest.mark.parametrize("bad", ["categorical_crossentropyy", "accuracy"])
def test_unknown_loss_name_is_a_value_error_naming_it(bad):
    with pytest.raises(ValueError, match=bad):
        losses.get(bad)
    with pytest.raises(ValueError, match=bad):
        losses.per_sample_fn(bad)


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="reduction"):
        losses.MeanSquaredError(reduction="average")
    with pytest.raises(TypeError, match="42"):
        losses.get(42)
    with pytest.raises(ValueError, match="same shape"):
        losses.categorical_crossentropy(np.zeros((4, 3)), np.ones((4, 2)))
    with pytest.raises(ValueError, match="class axis"):
        losses.sparse_categorical_crossentropy(np.zeros((4, 2)), np.ones((4, 3)))


@pytest.mark.parametrize("identifier", [
    "sparse_categorical_crossentropy", losses.sparse_categorical_crossentropy,
    losses.SparseCategoricalCrossentropy(), {"class_name": "SparseCategoricalCrossentropy", "config": {}},
])
def test_per_sample_fn_accepts_every_identifier_and_is_jittable(identifier):
    y_true, y_pred = make_data("sparse_column")
    fn = jax.jit(losses.per_sample_fn(identifier))
    close(fn(y_true, y_pred), keras.losses.SparseCategoricalCrossentropy(reduction=None)(y_true, y_pred))


def test_per_sample_fn_of_custom_function():
    def squared(y_true, y_pred):
        return jnp.mean((y_true - y_pred) ** 2, axis=-1)

    y_true, y_pred = make_data("regression_flat")
    close(losses.per_sample_fn(squared)(y_true, y_pred), keras.losses.mean_squared_error(y_true, y_pred))


@pytest.mark.parametrize("identifier,expected", [
    ("crossentropy", "binary_crossentropy"),
    ("ce", "binary_crossentropy"),
])
def test_resolve_loss_crossentropy_binary(identifier, expected):
    loss = losses.resolve_loss(identifier, (None, 1), (None, 1))
    assert loss.name == identifier and loss.fn is getattr(losses, expected)


def test_resolve_loss_matches_keras_compile_choice():
    from keras.src.trainers.compile_utils import get_loss

    for y_shape, p_shape in [((N,), (N, C)), ((N, C), (N, C)), ((N, 1), (N, 1)), ((N, 1), (N, C))]:
        theirs = get_loss("crossentropy", np.zeros(y_shape), np.zeros(p_shape))
        ours = losses.resolve_loss("crossentropy", y_shape, p_shape)
        assert ours.fn.__name__ == theirs.fn.__name__ and ours.name == theirs.name == "crossentropy"
    for identifier in ["mse", "categorical_crossentropy", losses.mean_absolute_error]:
        theirs_id = identifier if isinstance(identifier, str) else keras.losses.mean_absolute_error
        assert losses.resolve_loss(identifier, (N, 1), (N, 1)).name == get_loss(theirs_id, None, None).name


# --- serialization -------------------------------------------------------------

def test_function_serializes_like_keras():
    assert losses.serialize(losses.categorical_crossentropy) == keras.saving.serialize_keras_object(
        keras.losses.categorical_crossentropy)
    assert losses.deserialize(losses.serialize(losses.mse)) is losses.mean_squared_error


@pytest.mark.parametrize("name,kwargs", [
    ("CategoricalCrossentropy", {"from_logits": True, "label_smoothing": 0.1}),
    ("SparseCategoricalCrossentropy", {"ignore_class": 3}),
    ("BinaryCrossentropy", {"label_smoothing": 0.2, "reduction": "sum"}),
    ("MeanSquaredError", {"name": "my_mse"}),
    ("Huber", {"delta": 2.0}),
    ("CosineSimilarity", {"axis": 0}),
    ("BinaryFocalCrossentropy", {"apply_class_balancing": True, "alpha": 0.3, "gamma": 1.0}),
    ("CategoricalFocalCrossentropy", {"alpha": 0.5, "label_smoothing": 0.1}),
])
def test_instance_serializes_in_keras_format_and_round_trips(name, kwargs):
    ours = getattr(losses, name)(**kwargs)
    theirs = getattr(keras.losses, name)(**kwargs)
    ours_dict, theirs_dict = losses.serialize(ours), keras.losses.serialize(theirs)
    assert {k: v for k, v in ours_dict.items() if k != "config"} == {
        k: v for k, v in theirs_dict.items() if k != "config"}
    assert theirs_dict["config"].items() <= ours_dict["config"].items()
    rebuilt = losses.deserialize(ours_dict)
    assert type(rebuilt) is type(ours) and rebuilt.get_config() == ours.get_config()
    keras_rebuilt = keras.losses.deserialize(ours_dict)
    y_true, y_pred = make_data("onehot" if "Binary" not in name else "binary")
    if name.startswith("Sparse"):
        y_true = np.argmax(y_true, -1)
    close(rebuilt(y_true, y_pred), keras_rebuilt(y_true, y_pred))


def test_function_wrapper_round_trips():
    wrapper = losses.LossFunctionWrapper(losses.huber, name="h", delta=0.5)
    config = wrapper.get_config()
    assert config["fn"] == losses.serialize(losses.huber)
    rebuilt = losses.LossFunctionWrapper.from_config(config)
    y_true, y_pred = make_data("regression")
    close(rebuilt(y_true, y_pred), keras.losses.Huber(delta=0.5)(y_true, y_pred))


def test_custom_loss_subclass():
    class Doubled(losses.Loss):
        def call(self, y_true, y_pred):
            return 2.0 * losses.mean_squared_error(y_true, y_pred)

    y_true, y_pred = make_data("regression")
    loss = Doubled()
    assert loss.name == "doubled"
    close(loss(y_true, y_pred), 2.0 * keras.losses.MeanSquaredError()(y_true, y_pred))


@pytest.mark.parametrize("loss,units,activation", [("BinaryFocalCrossentropy", 1, "sigmoid"),
                                                   ("CategoricalFocalCrossentropy", 3, "softmax")])
def test_focal_losses_train_like_keras_with_accuracy_resolved_from_the_shapes(loss, units, activation):
    import scanfit

    rng = np.random.default_rng(0)
    x = rng.normal(size=(100, 4)).astype("float32")
    y = (x[:, :1] > 0).astype("float32") if units == 1 else np.eye(3, dtype="float32")[rng.integers(0, 3, 100)]
    histories, weights = [], None
    for K in (keras, scanfit):
        model = K.Sequential([K.Input((4,)), K.layers.Dense(units, activation=activation)])
        weights = weights or [rng.normal(size=v.shape).astype("float32") for v in model.get_weights()]
        model.set_weights(weights)
        model.compile(optimizer=K.optimizers.SGD(0.1), loss=getattr(K.losses, loss)(), metrics=["accuracy"])
        histories.append(model.fit(x, y, epochs=2, batch_size=32, shuffle=False, verbose=0).history)
    theirs, ours = histories
    assert theirs["loss"][1] < theirs["loss"][0]
    for key in ("loss", "accuracy"):
        np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-5, err_msg=key)


def _fit_and_evaluate_both(make_loss, sample_weight):
    """A one-unit sigmoid model trained 2 epochs (with a short last batch) and evaluated (batch 30 of 100, so
    the last batch is short too) by Keras and scanfit from the same weights: (Keras's, scanfit's) results."""
    import scanfit

    rng = np.random.default_rng(0)
    x = rng.normal(size=(100, 4)).astype("float32")
    y = (x[:, :1] > 0).astype("float32")
    weights = rng.uniform(0.5, 2, 100).astype("float32") if sample_weight else None
    start = [rng.normal(size=(4, 1)).astype("float32"), np.zeros(1, "float32")]
    results = []
    for K in (keras, scanfit):
        model = K.Sequential([K.Input((4,)), K.layers.Dense(1, activation="sigmoid")])
        model.set_weights(start)
        model.compile(optimizer=K.optimizers.SGD(0.1), loss=make_loss(K))
        history = model.fit(x, y, sample_weight=weights, epochs=2, batch_size=32, shuffle=False, verbose=0)
        results.append(history.history["loss"] + [model.evaluate(x, y, batch_size=30, verbose=0)])
    return results


@pytest.mark.parametrize("sample_weight", [False, True])
@pytest.mark.parametrize("make_loss", [
    lambda K: (lambda y_true, y_pred: K.ops.mean(K.ops.square(y_true - y_pred))),  # one number per batch
    lambda K: K.losses.Dice(),
    lambda K: K.losses.Tversky(alpha=0.7, beta=0.3),
], ids=["custom-scalar", "dice", "tversky"])
def test_losses_of_the_whole_batch_train_and_evaluate_like_keras(make_loss, sample_weight):
    """A loss that gives one number per batch is weighed by the batch's mean sample weight, as in Keras (it
    was multiplied by the batch size, a 32 times larger step); evaluation does not pad its short batch."""
    theirs, ours = _fit_and_evaluate_both(make_loss, sample_weight)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5)


@pytest.mark.parametrize("sample_weight", [False, True])
@pytest.mark.parametrize("reduction", ["sum", "mean_with_sample_weight", "sum_over_batch_size"])
def test_fit_reduces_each_batch_as_the_loss_says_like_keras(reduction, sample_weight):
    """A loss's `reduction` is honoured in fit and evaluate (scanfit used to average whatever it said)."""
    theirs, ours = _fit_and_evaluate_both(lambda K: K.losses.MeanSquaredError(reduction=reduction), sample_weight)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5)


@pytest.mark.parametrize("reduction", ["sum", "mean_with_sample_weight"])
def test_a_masked_sequence_loss_reduces_like_keras(reduction):
    import scanfit

    rng = np.random.default_rng(1)
    x = rng.integers(1, 9, size=(40, 6))
    x[:, 4:], x[::3, 2:] = 0, 0
    y = rng.integers(0, 3, size=(40, 6))
    results, start = [], None
    for K in (keras, scanfit):
        model = K.Sequential([K.Input((6,), dtype="int32"), K.layers.Embedding(9, 4, mask_zero=True),
                              K.layers.SimpleRNN(5, return_sequences=True), K.layers.Dense(3, activation="softmax")])
        start = start or [rng.normal(scale=0.5, size=v.shape).astype("float32") for v in model.get_weights()]
        model.set_weights(start)
        model.compile(optimizer=K.optimizers.SGD(0.01), loss=K.losses.SparseCategoricalCrossentropy(reduction=reduction))
        history = model.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
        results.append(history.history["loss"] + [model.evaluate(x, y, batch_size=16, verbose=0)])
    np.testing.assert_allclose(results[1], results[0], rtol=1e-5)


@pytest.mark.parametrize("reduction", [None, "none"])
def test_a_loss_without_reduction_is_refused_before_training(reduction):
    import scanfit

    model = scanfit.Sequential([scanfit.Input((4,)), scanfit.layers.Dense(1)])
    model.compile(optimizer="sgd", loss=scanfit.losses.MeanSquaredError(reduction=reduction))
    with pytest.raises(ValueError, match="one value per sample, and training needs one number per batch"):
        model.fit(np.ones((8, 4), "float32"), np.ones((8, 1), "float32"), verbose=0)
    assert model.trainer is None


def test_mean_with_sample_weight_gives_0_for_a_batch_weighted_0_as_keras_does():
    import scanfit

    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(64, 4)).astype("float32"), rng.normal(size=(64, 1)).astype("float32")
    weights = np.ones(64, "float32")
    weights[:32] = 0.0  # the first batch counts for nothing
    results, start = [], None
    for K in (keras, scanfit):
        model = K.Sequential([K.Input((4,)), K.layers.Dense(1)])
        start = start or [rng.normal(size=v.shape).astype("float32") for v in model.get_weights()]
        model.set_weights(start)
        model.compile(optimizer=K.optimizers.SGD(0.01), loss=K.losses.MeanSquaredError(
            reduction="mean_with_sample_weight"))
        history = model.fit(x, y, sample_weight=weights, epochs=2, batch_size=32, shuffle=False, verbose=0)
        results.append(history.history["loss"] + [w for w in model.get_weights()[0].ravel()])
    assert np.all(np.isfinite(results[1]))
    np.testing.assert_allclose(results[1], results[0], rtol=1e-5)
