"""scikit-learn wrappers: Keras 3's SKLearnClassifier/SKLearnRegressor and tf.keras 2's KerasClassifier/KerasRegressor."""
import subprocess
import sys
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV, cross_val_score
from sklearn.utils import estimator_checks

import scanfit as keras
from scanfit.wrappers.scikit_learn import KerasClassifier, KerasRegressor

RNG = np.random.default_rng(0)
X = RNG.normal(size=(96, 4)).astype("float32")
LABELS = np.array(["cat", "dog", "eel"])
Y_INDEX = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5).astype(int)
Y_TEXT = LABELS[Y_INDEX]
Y_REAL = X @ np.array([1.0, -2.0, 0.5, 0.0], "float32") + 0.3


def build_classifier(units=8, n_classes=3, loss="sparse_categorical_crossentropy"):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(units, activation="relu"),
                              keras.layers.Dense(n_classes, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss=loss, metrics=["accuracy"])
    return model


def build_regressor(units=8):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(units, activation="relu"), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
    return model


def keras3_classifier(X, y, units=8):
    """Keras 3's convention: called with X= and the one-hot y=."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input(X.shape[1:]), keras.layers.Dense(units, activation="relu"),
                              keras.layers.Dense(y.shape[1], activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="categorical_crossentropy")
    return model


def keras3_regressor(X, y, units=8):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input(X.shape[1:]), keras.layers.Dense(units, activation="relu"),
                              keras.layers.Dense(y.shape[1])])
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
    return model


def test_keras_classifier_with_string_labels_predicts_labels_and_probabilities():
    classifier = KerasClassifier(build_fn=build_classifier, units=16, epochs=20, batch_size=16, verbose=0)
    history = classifier.fit(X, Y_TEXT)
    assert len(history.history["loss"]) == 20 and history.history["loss"][-1] < history.history["loss"][0]
    assert classifier.classes_.tolist() == ["cat", "dog", "eel"] and classifier.n_classes_ == 3
    assert classifier.model.layers[0].units == 16
    predicted = classifier.predict(X)
    assert set(predicted) <= set(LABELS) and np.mean(predicted == Y_TEXT) > 0.8
    probabilities = classifier.predict_proba(X)
    assert probabilities.shape == (96, 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(LABELS[probabilities.argmax(axis=1)], predicted)
    assert classifier.score(X, Y_TEXT) == pytest.approx(np.mean(predicted == Y_TEXT))
    with pytest.raises(ValueError, match=r"labels the classifier was not fitted with: \['ant', 'zebra'\]"):
        classifier.score(X[:3], np.array(["ant", "cat", "zebra"]))


def test_keras_classifier_one_hot_encodes_for_categorical_crossentropy_and_binary_gets_two_columns():
    classifier = KerasClassifier(build_fn=build_classifier, loss="categorical_crossentropy", epochs=5, verbose=0)
    classifier.fit(X, Y_INDEX + 10)  # integer labels that are not 0..n-1
    assert classifier.classes_.tolist() == [10, 11, 12]
    assert set(classifier.predict(X)) <= {10, 11, 12}
    assert 0.0 <= classifier.score(X, Y_INDEX + 10) <= 1.0

    def binary(units=4):
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(units, activation="relu"),
                                  keras.layers.Dense(1, activation="sigmoid")])
        model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["acc"])
        return model

    binary_classifier = KerasClassifier(build_fn=binary, epochs=2, verbose=0)
    binary_classifier.fit(X, X[:, 0] > 0)
    probabilities = binary_classifier.predict_proba(X)
    assert probabilities.shape == (96, 2)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-6)
    assert binary_classifier.predict(X).dtype == bool


def test_keras_regressor_predicts_1d_and_scores_minus_the_loss():
    regressor = KerasRegressor(build_fn=build_regressor, epochs=30, batch_size=16, verbose=0)
    regressor.fit(X, Y_REAL)
    predicted = regressor.predict(X)
    assert predicted.shape == (96,)
    mse = float(np.mean((predicted - Y_REAL) ** 2))
    assert regressor.score(X, Y_REAL) == pytest.approx(-mse, rel=1e-4)
    assert mse < np.var(Y_REAL) / 2


def test_sk_params_are_estimator_params_and_illegal_ones_are_refused():
    classifier = KerasClassifier(build_fn=build_classifier, units=4, epochs=2, verbose=0)
    assert classifier.get_params() == {"build_fn": build_classifier, "units": 4, "epochs": 2, "verbose": 0}
    assert classifier.set_params(units=6) is classifier and classifier.get_params()["units"] == 6
    copy = clone(classifier)  # scikit-learn checks that get_params gives back what the constructor got
    assert copy is not classifier and copy.get_params() == classifier.get_params()
    with pytest.raises(ValueError, match="nodes is not a legal parameter"):
        KerasClassifier(build_fn=build_classifier, nodes=3)
    with pytest.raises(ValueError, match="nodes is not a legal parameter"):
        classifier.set_params(nodes=3)
    with pytest.raises(TypeError, match="needs build_fn="):
        KerasRegressor(epochs=2)
    with pytest.raises(NotFittedError, match="not fitted"):
        KerasRegressor(build_fn=build_regressor).predict(X)


def test_grid_search_over_a_build_fn_parameter_and_epochs_changes_the_model():
    built = []

    def build(units=2):
        built.append(units)
        return build_classifier(units)

    search = GridSearchCV(KerasClassifier(build_fn=build, epochs=1, batch_size=16, verbose=0),
                          {"units": [2, 12], "epochs": [1, 8]}, cv=2)
    search.fit(X, Y_TEXT)
    assert sorted(set(built)) == [2, 12] and len(built) == 2 * 2 * 2 + 1  # every candidate and split, then refit
    params = [tuple(sorted(p.items())) for p in search.cv_results_["params"]]
    assert len(set(params)) == 4
    best = search.best_estimator_
    assert best.model.layers[0].units == search.best_params_["units"]
    assert len(best.history_["loss"]) == search.best_params_["epochs"]
    scores = dict(zip(params, search.cv_results_["mean_test_score"]))
    assert scores[(("epochs", 8), ("units", 12))] > scores[(("epochs", 1), ("units", 2))]  # more training helps
    assert search.best_params_ == {"epochs": 8, "units": 12}


def test_cross_val_score_and_randomized_search_with_keras_3s_wrappers():
    classifier = keras.wrappers.SKLearnClassifier(keras3_classifier, model_kwargs={"units": 8},
                                                  fit_kwargs={"epochs": 10, "batch_size": 16, "verbose": 0})
    scores = cross_val_score(classifier, X, Y_TEXT, cv=3)
    assert scores.shape == (3,) and np.all((0 <= scores) & (scores <= 1)) and scores.mean() > 0.6

    regressor = keras.wrappers.SKLearnRegressor(keras3_regressor, fit_kwargs={"verbose": 0, "batch_size": 16})
    search = RandomizedSearchCV(regressor, {"model_kwargs": [{"units": 2}, {"units": 16}],
                                            "fit_kwargs": [{"epochs": 2, "verbose": 0}, {"epochs": 20, "verbose": 0}]},
                                n_iter=4, cv=2, random_state=0)
    search.fit(X, Y_REAL)
    best = search.best_estimator_
    assert best.model_.layers[0].units == search.best_params_["model_kwargs"]["units"]
    assert len(best.history_["loss"]) == search.best_params_["fit_kwargs"]["epochs"] == 20
    assert best.predict(X).shape == (96,)


def test_keras_3_classifier_labels_decision_function_clone_and_warm_start():
    classifier = keras.wrappers.SKLearnClassifier(keras3_classifier, warm_start=True,
                                                  fit_kwargs={"epochs": 3, "verbose": 0})
    assert clone(classifier).get_params() == classifier.get_params()
    classifier.fit(X, Y_TEXT)
    assert classifier.classes_.tolist() == ["cat", "dog", "eel"] and classifier.n_features_in_ == 4
    outputs = classifier.decision_function(X)
    assert outputs.shape == (96, 3)
    np.testing.assert_array_equal(classifier.predict(X), LABELS[outputs.argmax(axis=1)])
    first = classifier.model_
    weights = first.get_weights()
    classifier.fit(X, Y_TEXT, epochs=1)  # warm start: the same model trains on
    assert classifier.model_ is first and len(classifier.history_["loss"]) == 1
    assert not np.array_equal(first.get_weights()[0], weights[0])
    with pytest.raises(TypeError, match="needs a function that builds and compiles a new model"):
        keras.wrappers.SKLearnRegressor(keras3_regressor(X, Y_REAL[:, None])).fit(X, Y_REAL)
    with pytest.raises(ValueError, match="Only binary and multiclass"):
        keras.wrappers.SKLearnClassifier(keras3_classifier).fit(X, Y_REAL)


def test_importing_scanfit_never_imports_sklearn_and_a_missing_sklearn_names_the_install_command():
    script = (
        "import sys\n"
        "import scanfit\n"
        "assert 'sklearn' not in sys.modules\n"
        "sys.modules['sklearn'] = None  # as if scikit-learn were not installed\n"
        "for use in ('SKLearnClassifier', 'scikit_learn'):\n"
        "    try:\n"
        "        getattr(scanfit.wrappers, use)\n"
        "    except ImportError as error:\n"
        "        print(error)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "keras.wrappers.SKLearnClassifier and SKLearnRegressor need scikit-learn, which is not installed: "
        "pip install scikit-learn",
        "keras.wrappers.scikit_learn.KerasClassifier and KerasRegressor need scikit-learn, which is not installed: "
        "pip install scikit-learn",
    ]


@pytest.mark.parametrize("make", [
    lambda: KerasClassifier(build_fn=build_classifier, units=4, epochs=1, verbose=0),
    lambda: KerasRegressor(build_fn=build_regressor, epochs=1),
    lambda: keras.wrappers.SKLearnClassifier(keras3_classifier, fit_kwargs={"epochs": 1}),
    lambda: keras.wrappers.SKLearnRegressor(keras3_regressor, model_kwargs={"units": 3}),
])
def test_scikit_learns_own_checks_of_get_params_and_set_params(make):
    estimator = make()
    name = type(estimator).__name__
    with warnings.catch_warnings():
        # tf.keras 2 checks sk_params in set_params (scikit-learn only recommends waiting until fit), but a
        # set_params that fails must leave the parameters as they were
        warnings.filterwarnings("error", message="Estimator's parameters changed")
        estimator_checks.check_get_params_invariance(name, estimator)
        estimator_checks.check_set_params(name, estimator)
    assert clone(estimator).get_params() == estimator.get_params()
