"""Keras 3's scikit-learn wrappers: `SKLearnClassifier` and `SKLearnRegressor`.

    def build(X, y, units=16):
        model = keras.Sequential([keras.Input(X.shape[1:]), keras.layers.Dense(units, activation="relu"),
                                  keras.layers.Dense(y.shape[1], activation="softmax")])
        model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
        return model

    classifier = keras.wrappers.SKLearnClassifier(build, model_kwargs={"units": 32}, fit_kwargs={"epochs": 5})

As in Keras, `model` is called with ``X=`` and ``y=`` (the classifier's
``y`` one-hot encoded) and `model_kwargs`, and must return a compiled model;
`fit_kwargs` go to ``model.fit`` (those given to `fit` itself win). Searches
vary whole `model_kwargs` / `fit_kwargs` dicts.
"""
from scanfit.wrappers import require_sklearn

require_sklearn("keras.wrappers.SKLearnClassifier and SKLearnRegressor")

import numpy as np  # noqa: E402
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin  # noqa: E402
from sklearn.preprocessing import OneHotEncoder  # noqa: E402
from sklearn.utils.multiclass import type_of_target  # noqa: E402
from sklearn.utils.validation import check_is_fitted, validate_data  # noqa: E402

from scanfit.layers.base import Layer  # noqa: E402

__all__ = ["SKLearnClassifier", "SKLearnRegressor"]


class SKLBase(BaseEstimator):
    """What both wrappers share.

    Args:
        model: a callable ``model(X=..., y=..., **model_kwargs)`` that returns
            a compiled scanfit model (a new one on each call).
        warm_start: when True, a second `fit` goes on training the fitted
            model instead of building a new one.
        model_kwargs: keyword arguments for `model`.
        fit_kwargs: keyword arguments for ``model.fit`` (``epochs``,
            ``batch_size``, ``verbose``, ...).

    Attributes (after `fit`): ``model_`` the fitted model, ``history_`` its
    History's dict, ``n_features_in_``.
    """

    def __init__(self, model, warm_start=False, model_kwargs=None, fit_kwargs=None):
        self.model = model
        self.warm_start = warm_start
        self.model_kwargs = model_kwargs
        self.fit_kwargs = fit_kwargs

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = True
        return tags

    def fit(self, X, y, **kwargs):
        """Fit the model on `X` and `y`; `kwargs` go to ``model.fit`` over `fit_kwargs`. Returns self."""
        continuing = self.warm_start and hasattr(self, "model_")
        X, y = validate_data(self, X, y, reset=not continuing)
        target = self._encode_target(y, reset=not continuing)
        model = self.model_ if continuing else self._build(X, target)
        self.history_ = model.fit(X, target, **{**(self.fit_kwargs or {}), **kwargs}).history
        self.model_ = model
        return self

    def predict(self, X):
        """The model's predictions for `X` (class labels for the classifier), computed without a progress bar."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        return self._decode_output(self.model_.predict(X, verbose=0))

    def _build(self, X, target):
        if isinstance(self.model, Layer) or not callable(self.model):
            raise TypeError(
                f"{type(self).__name__}(model=...) needs a function that builds and compiles a new model, "
                f"got {type(self.model).__name__}. Pass model=build with def build(X, y, **model_kwargs) "
                "returning a compiled model: cross-validation and searches fit a new model for every split."
            )
        model = self.model(X=X, y=target, **(self.model_kwargs or {}))
        if not getattr(model, "compiled", False):
            raise RuntimeError(
                f"The function given as {type(self).__name__}(model=...) must return a compiled model "
                "(call model.compile(optimizer=..., loss=...) before returning it)."
            )
        return model


class SKLearnClassifier(ClassifierMixin, SKLBase):
    """A scikit-learn classifier around a scanfit model (Keras 3's `keras.wrappers.SKLearnClassifier`).

    Labels may be any sortable values (strings, integers); ``classes_`` lists
    them. The model is trained on their one-hot encoding, so it needs as many
    outputs as there are classes and a loss such as categorical_crossentropy.
    `predict` returns labels, `decision_function` the model's raw outputs.
    """

    def decision_function(self, X):
        """The model's raw outputs for `X`."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        return self.model_.predict(X, verbose=0)

    def _encode_target(self, y, reset):
        target_type = type_of_target(y, raise_unknown=True)
        if target_type not in ("binary", "multiclass"):
            raise ValueError(f"Only binary and multiclass target types are supported. Target type: {target_type}")
        y = np.asarray(y).reshape(-1, 1)
        if reset:
            self._encoder = OneHotEncoder(sparse_output=False).fit(y)
            self.classes_ = self._encoder.categories_[0]
            if len(self.classes_) == 1:
                raise ValueError("Classifier can't train when only one class is present.")
        return self._encoder.transform(y).astype("float32")

    def _decode_output(self, output):
        return self.classes_[np.argmax(output, axis=-1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.poor_score = True
        return tags


class SKLearnRegressor(RegressorMixin, SKLBase):
    """A scikit-learn regressor around a scanfit model (Keras 3's `keras.wrappers.SKLearnRegressor`).

    A 1-D target is given to the model as a column (shape ``(n, 1)``) and
    `predict` returns 1-D values again.
    """

    def _encode_target(self, y, reset):
        y = np.asarray(y)
        if reset:
            self._target_ndim = y.ndim
        return y.reshape(-1, 1) if y.ndim == 1 else y

    def _decode_output(self, output):
        if self._target_ndim == 1 and output.ndim == 2 and output.shape[1] == 1:
            return output[:, 0]
        return output
