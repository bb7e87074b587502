"""tf.keras 2's scikit-learn wrappers: `KerasClassifier` and `KerasRegressor` (``keras.wrappers.scikit_learn``).

    def build(units=16):
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(units, activation="relu"),
                                  keras.layers.Dense(3, activation="softmax")])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    classifier = KerasClassifier(build_fn=build, units=32, epochs=5, batch_size=16, verbose=0)
    GridSearchCV(classifier, {"units": [8, 32], "epochs": [5, 10]}).fit(X, y)

The keyword arguments (``sk_params``) mix `build_fn`'s parameters and those
of the model's ``fit``, ``predict`` and ``evaluate``; each goes to every one
of these that takes it, and a name none of them takes is a ValueError. All
of them are estimator parameters, so searches can vary any of them. Without
`build_fn`, a subclass's ``__call__`` builds the model.
"""
import inspect

from scanfit.wrappers import require_sklearn

require_sklearn("keras.wrappers.scikit_learn.KerasClassifier and KerasRegressor")

import numpy as np  # noqa: E402
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin  # noqa: E402
from sklearn.exceptions import NotFittedError  # noqa: E402

from scanfit import losses  # noqa: E402
from scanfit.data_utils import to_categorical  # noqa: E402
from scanfit.models import Sequential  # noqa: E402

__all__ = ["KerasClassifier", "KerasRegressor"]


def _parameter_names(function):
    """The names `function` takes by keyword (``**kwargs`` not counted)."""
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return [name for name, p in inspect.signature(function).parameters.items() if p.kind in kinds and name != "self"]


class BaseWrapper(BaseEstimator):
    """What both tf.keras 2 wrappers share: `build_fn`, the sk_params and their routing."""

    def __init__(self, build_fn=None, **sk_params):
        self._check_params(build_fn, sk_params)
        self.build_fn = build_fn
        self.sk_params = sk_params

    def _builder(self, build_fn):
        """The function that builds the model: `build_fn`, its ``__call__``, or this subclass's ``__call__``."""
        if build_fn is None:
            if type(self).__call__ is BaseWrapper.__call__:
                raise TypeError(
                    f"{type(self).__name__} needs build_fn=, a function that builds and compiles the model "
                    "(or a subclass that defines __call__)."
                )
            return self.__call__
        if inspect.isfunction(build_fn) or inspect.ismethod(build_fn) or inspect.isclass(build_fn):
            return build_fn
        if callable(build_fn):
            return build_fn.__call__
        raise TypeError(f"build_fn must be a function or a callable object, got {type(build_fn).__name__}.")

    def _check_params(self, build_fn, params):
        legal = {name for function in (Sequential.fit, Sequential.predict, Sequential.evaluate,
                                       self._builder(build_fn)) for name in _parameter_names(function)}
        for name in params:
            if name not in legal:
                raise ValueError(
                    f"{name} is not a legal parameter: {type(self).__name__}'s keyword arguments must be "
                    "parameters of build_fn or of the model's fit, predict or evaluate."
                )

    def __call__(self, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} without build_fn needs a subclass that defines __call__.")

    def get_params(self, deep=True):
        """`build_fn` and every sk_param."""
        return {**self.sk_params, "build_fn": self.build_fn}

    def set_params(self, **params):
        """Change sk_params (or `build_fn`); returns self."""
        build_fn = params.pop("build_fn", self.build_fn)
        self._check_params(build_fn, {**self.sk_params, **params})
        self.build_fn = build_fn
        self.sk_params.update(params)
        return self

    def _params_for(self, function, override=None):
        """The sk_params that `function` takes, updated with `override`."""
        names = _parameter_names(function)
        return {**{key: value for key, value in self.sk_params.items() if key in names}, **(override or {})}

    def fit(self, x, y, **kwargs):
        """Build a new model with build_fn and train it on `x`, `y`; `kwargs` go to ``fit`` over the sk_params.

        Returns:
            The History of the training (as tf.keras 2's wrappers return).
        """
        builder = self._builder(self.build_fn)
        self.model = builder(**self._params_for(builder))
        if not getattr(self.model, "compiled", False):
            raise RuntimeError("build_fn must return a compiled model (call model.compile(...) before returning it).")
        y = self._encode_target(np.asarray(y))
        history = self.model.fit(np.asarray(x), y, **self._params_for(Sequential.fit, kwargs))
        self.history_ = history.history
        return history

    def _fitted_model(self):
        model = getattr(self, "model", None)
        if model is None:
            raise NotFittedError(f"This {type(self).__name__} is not fitted yet: call fit(x, y) first.")
        return model

    def _raw_predict(self, x, **kwargs):
        return np.asarray(self._fitted_model().predict(np.asarray(x), **self._params_for(Sequential.predict, kwargs)))

    def _evaluate(self, x, y, **kwargs):
        model = self._fitted_model()
        return model.evaluate(np.asarray(x), y, return_dict=True, **self._params_for(Sequential.evaluate, kwargs))


class KerasClassifier(ClassifierMixin, BaseWrapper):
    """tf.keras 2's scikit-learn classifier: labels of any sortable type, ``classes_``, `predict_proba`.

    Labels are given to the model as class indices (one-hot when its loss is
    categorical_crossentropy). `predict` returns labels, `predict_proba` the
    probabilities (two columns for a one-unit sigmoid output), `score` the
    model's accuracy (so compile it with ``metrics=['accuracy']``).
    """

    def _encode_target(self, y):
        if y.ndim == 2 and y.shape[1] > 1:
            self.classes_ = np.arange(y.shape[1])
        elif y.ndim == 1 or (y.ndim == 2 and y.shape[1] == 1):
            y = y.reshape(-1)
            self.classes_ = np.unique(y)
            y = np.searchsorted(self.classes_, y)
        else:
            raise ValueError(f"Invalid shape for y: {y.shape}; give labels of shape (n,) or one-hot (n, classes).")
        self.n_classes_ = len(self.classes_)
        return self._as_model_target(y)

    def _as_model_target(self, indices):
        loss = self.model.loss
        name = getattr(loss, "name", None) or getattr(loss, "__name__", None) or loss
        if name == "categorical_crossentropy" or isinstance(loss, losses.CategoricalCrossentropy):
            if indices.ndim == 1:
                return to_categorical(indices, self.n_classes_)
        return indices

    def _indices(self, labels):
        """The index in ``classes_`` of each label, or a ValueError naming labels the classifier never saw."""
        indices = np.minimum(np.searchsorted(self.classes_, labels), len(self.classes_) - 1)
        unknown = self.classes_[indices] != labels
        if np.any(unknown):
            raise ValueError(
                f"y holds labels the classifier was not fitted with: {np.unique(labels[unknown])[:10].tolist()}; "
                f"its classes_ are {self.classes_.tolist()}."
            )
        return indices

    def predict(self, x, **kwargs):
        """The predicted labels for `x` (``kwargs``: predict's, such as batch_size)."""
        probabilities = self._raw_predict(x, **kwargs)
        if probabilities.shape[-1] > 1:
            indices = np.argmax(probabilities, axis=-1)
        else:
            indices = (probabilities[..., 0] > 0.5).astype("int32")
        return self.classes_[indices]

    def predict_proba(self, x, **kwargs):
        """Class probabilities for `x`, one column per class in ``classes_`` order."""
        probabilities = self._raw_predict(x, **kwargs)
        if probabilities.shape[-1] == 1:
            probabilities = np.hstack([1 - probabilities, probabilities])
        return probabilities

    def score(self, x, y, **kwargs):
        """The model's accuracy on `x`, `y` (the 'accuracy' or 'acc' metric it was compiled with)."""
        y = np.asarray(y)
        if y.ndim == 1 or (y.ndim == 2 and y.shape[1] == 1):
            y = self._as_model_target(self._indices(y.reshape(-1)))
        results = self._evaluate(x, y, **kwargs)
        for name in ("accuracy", "acc"):
            if name in results:
                return float(results[name])
        raise ValueError(
            "The model is not configured to compute accuracy. You should pass `metrics=['accuracy']` to the "
            "`model.compile()` method."
        )


class KerasRegressor(RegressorMixin, BaseWrapper):
    """tf.keras 2's scikit-learn regressor: `predict` drops a last axis of size 1, `score` is minus the loss."""

    def _encode_target(self, y):
        return y

    def predict(self, x, **kwargs):
        """The predictions for `x` (``kwargs``: predict's, such as batch_size)."""
        output = self._raw_predict(x, **kwargs)
        return output[..., 0] if output.ndim > 1 and output.shape[-1] == 1 else output

    def score(self, x, y, **kwargs):
        """Minus the model's loss on `x`, `y` (greater is better, as scikit-learn's searches expect)."""
        return -float(self._evaluate(x, np.asarray(y), **kwargs)["loss"])
