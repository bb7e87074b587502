"""Property: any value given to an argument of fit, compile, a layer or an optimizer either works or raises a
ValueError/TypeError from scanfit's own code (not from inside JAX or NumPy) whose message names the argument."""
import traceback
import warnings

import numpy as np
from hypothesis import HealthCheck, given, settings, strategies as st

import scanfit

X = np.random.default_rng(0).normal(size=(24, 4)).astype("float32")
Y = np.arange(24) % 3

ODD_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 40), st.floats(allow_nan=True, allow_infinity=True, width=32),
    st.text(max_size=4), st.lists(st.integers(-2, 4), max_size=3), st.just({}), st.just({0: -1.0, 7: 2.0}),
    st.just(np.zeros((2, 2))), st.just(object()),
)
SETTINGS = settings(max_examples=60, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


def assert_clear_or_fine(call, argument):
    """Run `call`; an exception must be scanfit's own ValueError/TypeError naming `argument`."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            call()
    except (ValueError, TypeError, NotImplementedError) as error:
        frames = traceback.extract_tb(error.__traceback__)
        raiser = frames[-1].filename
        assert "/scanfit/" in raiser, f"{argument}: {type(error).__name__} from {raiser}: {error}"
        assert type(error) is not NotImplementedError or "not supported" in str(error)
        assert argument in str(error), f"the message does not name {argument!r}: {error}"
    except Exception as error:  # noqa: BLE001 - the property is about which exceptions may escape
        raise AssertionError(f"{argument}={call!r} raised {type(error).__name__}: {error}") from error


def model():
    model = scanfit.Sequential([scanfit.Input((4,)), scanfit.layers.Dense(3, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


FIT_ARGUMENTS = ["batch_size", "epochs", "verbose", "validation_split", "shuffle", "initial_epoch", "steps_per_epoch",
                 "validation_steps", "validation_freq", "validation_batch_size", "class_weight", "sample_weight",
                 "callbacks"]


@SETTINGS
@given(argument=st.sampled_from(FIT_ARGUMENTS), value=ODD_VALUES)
def test_fit_arguments(argument, value):
    extra = {"validation_data": (X, Y)} if argument.startswith("validation_") and argument != "validation_split" else {}
    fitting = model()
    kwargs = {"epochs": 1, "verbose": 0, **extra, argument: value}
    assert_clear_or_fine(lambda: fitting.fit(X, Y, **kwargs), argument)


COMPILE_ARGUMENTS = ["optimizer", "loss", "metrics", "loss_weights", "weighted_metrics", "steps_per_execution",
                     "jit_compile", "run_eagerly"]


@SETTINGS
@given(argument=st.sampled_from(COMPILE_ARGUMENTS), value=ODD_VALUES)
def test_compile_arguments(argument, value):
    compiling = scanfit.Sequential([scanfit.Input((4,)), scanfit.layers.Dense(3, activation="softmax")])
    kwargs = {"optimizer": "sgd", "loss": "sparse_categorical_crossentropy", argument: value}

    def compile_and_fit():
        compiling.compile(**kwargs)
        compiling.fit(X, Y, epochs=1, verbose=0)

    assert_clear_or_fine(compile_and_fit, argument)


CONSTRUCTORS = [
    ("units", lambda v: scanfit.layers.Dense(v)),
    ("activation", lambda v: scanfit.layers.Dense(2, activation=v)),
    ("rate", lambda v: scanfit.layers.Dropout(v)),
    ("filters", lambda v: scanfit.layers.Conv2D(v, 3)),
    ("kernel_size", lambda v: scanfit.layers.Conv2D(2, v)),
    ("strides", lambda v: scanfit.layers.Conv2D(2, 3, strides=v)),
    ("padding", lambda v: scanfit.layers.Conv2D(2, 3, padding=v)),
    ("pool_size", lambda v: scanfit.layers.MaxPooling2D(v)),
    ("momentum", lambda v: scanfit.layers.BatchNormalization(momentum=v)),
    ("epsilon", lambda v: scanfit.layers.BatchNormalization(epsilon=v)),
    ("learning_rate", lambda v: scanfit.optimizers.SGD(learning_rate=v)),
    ("momentum", lambda v: scanfit.optimizers.SGD(momentum=v)),
    ("beta_1", lambda v: scanfit.optimizers.Adam(beta_1=v)),
    ("beta_2", lambda v: scanfit.optimizers.Adam(beta_2=v)),
    ("epsilon", lambda v: scanfit.optimizers.Adam(epsilon=v)),
    ("rho", lambda v: scanfit.optimizers.RMSprop(rho=v)),
    ("clipnorm", lambda v: scanfit.optimizers.Adam(clipnorm=v)),
]


@SETTINGS
@given(choice=st.sampled_from(CONSTRUCTORS), value=ODD_VALUES)
def test_layer_and_optimizer_constructors(choice, value):
    argument, make = choice
    assert_clear_or_fine(lambda: make(value), argument)
