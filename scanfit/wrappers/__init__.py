"""`keras.wrappers`: scanfit models as scikit-learn estimators.

Keras 3's `SKLearnClassifier` and `SKLearnRegressor` (``keras.wrappers``) and
tf.keras 2's `KerasClassifier` and `KerasRegressor`
(``keras.wrappers.scikit_learn``) work in `cross_val_score`, `GridSearchCV`,
`RandomizedSearchCV` and pipelines. scikit-learn is optional: it is imported
only when a wrapper is first used, and without it that use raises an
ImportError that says ``pip install scikit-learn``.
"""
import importlib
import importlib.util

_KERAS_3 = ("SKLearnClassifier", "SKLearnRegressor")

__all__ = [*_KERAS_3, "scikit_learn"]


def require_sklearn(what="scanfit's scikit-learn wrappers"):
    """Raise an ImportError naming the install command when scikit-learn is missing."""
    if importlib.util.find_spec("sklearn") is None:
        raise ImportError(f"{what} need scikit-learn, which is not installed: pip install scikit-learn")


def __getattr__(name):
    if name in _KERAS_3:
        return getattr(importlib.import_module("scanfit.wrappers.sklearn_wrapper"), name)
    if name == "scikit_learn":
        return importlib.import_module("scanfit.wrappers.scikit_learn")
    raise AttributeError(f"module 'scanfit.wrappers' has no attribute {name!r}")
