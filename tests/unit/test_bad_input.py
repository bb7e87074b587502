"""Bad arguments get a clear ValueError/TypeError before anything is compiled."""
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import scanfit

RNG = np.random.default_rng(3)
X = RNG.normal(size=(40, 6)).astype("float32")
Y = RNG.integers(0, 3, size=40)


def _model(loss="sparse_categorical_crossentropy", units=3, activation="softmax"):
    model = scanfit.Sequential([scanfit.layers.Dense(8, activation="relu", input_shape=(6,)),
                                scanfit.layers.Dense(units, activation=activation)])
    model.compile(optimizer="adam", loss=loss, metrics=["accuracy"])
    return model


def _no_program_compiled(model):
    trainer = model.trainer
    return trainer is None or trainer.programs.train_epoch._cache_size() == 0


@pytest.mark.parametrize("call, error, message", [
    (lambda m: m.fit(X, Y[:10]), ValueError, "same number of samples"),
    (lambda m: m.fit(X[:, :4], Y), ValueError, r"expects samples of shape \(6,\)"),
    (lambda m: m.fit(X[:, :, None], Y), ValueError, "expects samples of shape"),
    (lambda m: m.fit(np.where(X > 2, np.nan, X), Y), ValueError, "NaN or infinite"),
    (lambda m: m.fit(X, Y, validation_data=(np.full_like(X, np.inf), Y)), ValueError, "NaN or infinite"),
    (lambda m: m.fit(X, Y + 2), ValueError, r"class indices in \[0, 2\]"),
    (lambda m: m.fit(X, Y - 1), ValueError, "from -1 to 1"),
    (lambda m: m.fit(X, np.eye(3)[Y]), ValueError, "like one-hot vectors"),
    (lambda m: m.fit(X, Y + 0.5), ValueError, "fractional"),
    (lambda m: m.fit(X.astype(str), Y), TypeError, "must hold numbers"),
    (lambda m: m.fit(X[:0], Y[:0]), ValueError, "is empty"),
    (lambda m: m.fit(X, Y, batch_size=0), ValueError, "batch_size must be a positive int"),
    (lambda m: m.fit(X, Y, batch_size=2.5), TypeError, "batch_size must be a positive int"),
    (lambda m: m.fit(X, Y, validation_split=1.0), ValueError, r"validation_split must be a float in \[0, 1\)"),
    (lambda m: m.fit(X, Y, validation_split=-0.2), ValueError, "validation_split"),
    (lambda m: m.fit(X, Y, validation_data=(X,)), ValueError, "validation_data must be a tuple"),
    (lambda m: m.fit(X, Y, epochs=-1), ValueError, "epochs must be a non-negative int"),
    (lambda m: m.fit(X, Y, sample_weight=np.ones(3)), ValueError, "one weight per sample"),
    (lambda m: m.fit(X, Y, verbose=5), ValueError, "verbose must be"),
    (lambda m: m.evaluate(X, Y + 3), ValueError, "class indices"),
    (lambda m: m.predict(np.full_like(X, np.nan)), ValueError, "NaN or infinite"),
    (lambda m: m.predict(X, batch_size=-3), ValueError, "batch_size"),
])
def test_bad_fit_evaluate_predict_arguments_raise_before_any_compile(call, error, message):
    model = _model()
    with pytest.raises(error, match=message):
        call(model)
    assert _no_program_compiled(model)


def test_targets_that_do_not_suit_categorical_or_binary_losses():
    with pytest.raises(ValueError, match="like integer labels"):
        _model(loss="categorical_crossentropy").fit(X, Y, verbose=0)
    with pytest.raises(ValueError, match="between 0 and 1"):
        _model(loss="binary_crossentropy", units=1, activation="sigmoid").fit(X, Y, verbose=0)


def test_nonfinite_inputs_can_be_allowed_explicitly():
    model = _model()
    x = X.copy()
    x[0, 0] = np.nan
    history = model.fit(x, Y, epochs=1, verbose=0, allow_nonfinite=True)
    assert len(history.history["loss"]) == 1


@pytest.mark.parametrize("make, error, message", [
    (lambda: _model().compile(optimizer="adamz", loss="mse"), ValueError, "adamz"),
    (lambda: _model().compile(optimizer="adam", loss="msee"), ValueError, "msee"),
    (lambda: _model().compile(optimizer="adam", loss="mse", metrics=["acuracy"]), ValueError, "acuracy"),
    (lambda: scanfit.layers.Dense(3, activation="rellu"), ValueError, "rellu"),
    (lambda: scanfit.layers.Dense(3, kernel_initializer="glorot"), ValueError, "glorot"),
    (lambda: scanfit.layers.Dense(0), ValueError, "Dense units"),
    (lambda: scanfit.layers.Dense("ten"), TypeError, "Dense units"),
    (lambda: scanfit.layers.Dropout(-0.1), ValueError, "Dropout rate"),
    (lambda: scanfit.optimizers.SGD(lr=0.1, learning_rate=0.2), TypeError, "lr"),
])
def test_unknown_names_and_bad_constructor_arguments(make, error, message):
    with pytest.raises(error, match=message):
        make()


FIT_ERRORS = (ValueError, TypeError)


@st.composite
def fit_arguments(draw):
    """fit() arguments, a mix of valid and invalid ones."""
    n = draw(st.integers(min_value=0, max_value=24))
    features = draw(st.sampled_from([6, 6, 6, 5]))
    dtype = draw(st.sampled_from(["float32", "float64", "int32", "bool", "U2"]))
    x = RNG.normal(size=(n, features)).astype(dtype) if dtype != "U2" else np.full((n, features), "a")
    if n and dtype.startswith("float") and draw(st.booleans()):
        x[draw(st.integers(0, n - 1)), 0] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    label_kind = draw(st.sampled_from(["ok", "ok", "range", "onehot", "short"]))
    y = RNG.integers(0, 3, size=n)
    if label_kind == "range" and n:
        y[0] = draw(st.sampled_from([-1, 3, 99]))
    elif label_kind == "onehot":
        y = np.eye(3)[y]
    elif label_kind == "short":
        y = y[: max(0, n - 1)]
    batch_size = draw(st.sampled_from([None, 1, 7, 32, 0, -2]))
    validation_split = draw(st.sampled_from([0.0, 0.0, 0.25, 0.999, 1.0, -0.5]))
    return x, y, batch_size, validation_split


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fit_arguments())
def test_fit_either_succeeds_with_finite_results_or_raises_a_clear_error(arguments):
    x, y, batch_size, validation_split = arguments
    model = _model()
    try:
        history = model.fit(x, y, batch_size=batch_size, validation_split=validation_split, epochs=1, verbose=0)
    except FIT_ERRORS as error:
        assert str(error) and "Traceback" not in str(error)
        assert _no_program_compiled(model)
        return
    assert all(math.isfinite(v) for values in history.history.values() for v in values)
