"""Variable paths against Keras 3: a layer's weights are made in its name scope, inside the scopes of the layers
and models that build it (``seq/dense/kernel``), and a layer keeps the place where it was first built. Models
are only built here (no training), so the file stays fast."""
import h5py
import keras
import numpy as np
import pytest

import scanfit
from scanfit.saving.optimizer_state import expected_variables


def paths(layer):
    return [(w.path, w.name) for w in layer.weights]


def sequential_with_input(lib):
    return lib.Sequential([lib.Input((3,)), lib.layers.Dense(2, name="dense")], name="seq")


def sequential_built_by_hand(lib):
    model = lib.Sequential([lib.layers.Dense(2, name="d")], name="s2")
    model.build((None, 3))
    return model


def sequential_grown_by_add(lib):
    model = lib.Sequential([lib.Input((3,)), lib.layers.Dense(2, name="a")], name="g")
    model.add(lib.layers.Dense(1, name="b"))  # built at once: in the model's scope too
    return model


def sequential_built_by_its_first_call(lib):
    model = lib.Sequential(name="h")
    model.add(lib.layers.Dense(2, name="c"))
    model(np.zeros((1, 3), "float32"))
    return model


def functional(lib):
    inputs = lib.Input((3,))
    return lib.Model(inputs, lib.layers.Dense(2, name="fd")(inputs), name="fn")


def subclassed(lib):
    class Sub(lib.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.d = lib.layers.Dense(2, name="sd")

        def call(self, x):
            return self.d(x)

    model = Sub(name="sub")
    model(np.zeros((1, 3), "float32"))
    return model


def composite_layer(lib):
    class Composite(lib.layers.Layer):
        def build(self, input_shape):
            self.inner = lib.layers.Dense(2, name="inner")
            self.inner.build(input_shape)
            self.w = self.add_weight(shape=(2,), name="w")

        def call(self, x):
            return self.inner(x) * self.w

    layer = Composite(name="comp")
    layer.build((None, 3))
    return layer


def lazy_sublayer_in_sequential(lib):
    class Lazy(lib.layers.Layer):  # its Dense is made in __init__ and built by the first call
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.inner = lib.layers.Dense(2, name="lin")

        def call(self, x):
            return self.inner(x)

    return lib.Sequential([lib.Input((3,)), Lazy(name="lazy")], name="sl")


def weights_made_in_init(lib):
    class Scale(lib.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.w = self.add_weight(shape=(2,), name="w")  # made outside any scope: "iw/w"
            self.v = lib.Variable(np.ones(2, "float32"), name="v")  # a standalone variable: "v"

        def call(self, x):
            return x * self.w * self.v

    return lib.Sequential([lib.Input((2,)), Scale(name="iw")], name="si")


def built_sequential_inside_another(lib):
    inner = lib.Sequential([lib.Input((3,)), lib.layers.Dense(2, name="dd")], name="seqq")
    return lib.Sequential([lib.Input((3,)), inner], name="outer")


def unbuilt_sequential_inside_another(lib):
    inner = lib.Sequential([lib.layers.Dense(2, name="id")], name="innerseq")
    return lib.Sequential([lib.Input((3,)), inner], name="outerseq")


def sequential_in_functional(lib):
    inner = lib.Sequential([lib.layers.Dense(2, name="in1")], name="innerseq")
    inputs = lib.Input((3,))
    return lib.Model(inputs, inner(inputs), name="fn")


def functional_in_sequential(lib):
    inputs = lib.Input((3,))
    base = lib.Model(inputs, lib.layers.Dense(2, name="bd")(inputs), name="base")
    return lib.Sequential([lib.Input((3,)), base, lib.layers.Dense(1, name="head")], name="s4")


def subclassed_in_sequential(lib):
    return lib.Sequential([lib.Input((3,)), subclassed(lib)], name="sws")


def sequential_in_subclassed(lib):
    class Outer(lib.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.seq = lib.Sequential([lib.layers.Dense(2, name="od")], name="oseq")

        def call(self, x):
            return self.seq(x)

    model = Outer(name="om")
    model(np.zeros((1, 3), "float32"))
    return model


def layer_built_before_its_model(lib):
    first = lib.layers.Dense(2, name="pre")
    first.build((None, 3))
    return lib.Sequential([lib.Input((3,)), first, lib.layers.Dense(1, name="post")], name="s3")


def dense_built_alone(lib):
    layer = lib.layers.Dense(2, name="solo")
    layer.build((None, 3))
    return layer


def dense_called_on_arrays(lib):
    layer = lib.layers.Dense(2, name="eager")
    layer(np.zeros((1, 3), "float32"))
    return layer


def dense_in_name_scope(lib):
    with lib.name_scope("ns"):
        layer = lib.layers.Dense(2, name="nsd")
        layer.build((None, 3))
    return layer


def recurrent_layers(lib):
    L = lib.layers
    return lib.Sequential([lib.Input((4, 3)), L.SimpleRNN(2, return_sequences=True, name="srnn"),
                           L.LSTM(2, return_sequences=True, name="lstm"), L.GRU(2, name="gru")], name="r")


def cells_in_rnn(lib):
    L = lib.layers
    return lib.Sequential([lib.Input((4, 3)), L.RNN(L.LSTMCell(2, name="lc"), return_sequences=True, name="rnn"),
                           L.RNN([L.GRUCell(2, name="c1"), L.GRUCell(2, name="c2")], name="stacked")], name="r3")


def bidirectional_and_time_distributed(lib):
    L = lib.layers
    return lib.Sequential([lib.Input((4, 3)), L.Bidirectional(L.LSTM(2, return_sequences=True, name="bl"), name="bi"),
                           L.TimeDistributed(L.Dense(2, name="tdd"), name="td")], name="r5")


def bidirectional_of_a_built_layer(lib):
    L = lib.layers
    recurrent = L.GRU(2, name="bg")
    recurrent.build((None, 4, 3))
    return lib.Sequential([lib.Input((4, 3)), L.Bidirectional(recurrent, name="bi")], name="r6")


def attention_layers(lib):
    L = lib.layers
    query = lib.Input((4, 8))
    mha = L.MultiHeadAttention(2, 2, name="mha")(query, query)
    gqa = L.GroupQueryAttention(2, 2, 1, name="gqa")(mha, mha)
    return lib.Model(query, gqa, name="att")


def normalization_and_embedding(lib):
    L = lib.layers
    return lib.Sequential([lib.Input((4,), dtype="int32"), L.Embedding(5, 3, name="emb"),
                           L.BatchNormalization(name="bn"), L.LayerNormalization(name="ln")], name="b")


def wrapped_and_convolutional(lib):
    L = lib.layers
    return lib.Sequential([lib.Input((2, 5, 5, 1)), L.ConvLSTM2D(2, 3, name="cl"), L.Flatten(name="f"),
                           L.SpectralNormalization(L.Dense(2, name="snd"), name="sn")], name="w")


BUILDERS = [sequential_with_input, sequential_built_by_hand, sequential_grown_by_add,
            sequential_built_by_its_first_call, functional, subclassed, composite_layer,
            lazy_sublayer_in_sequential, weights_made_in_init, built_sequential_inside_another,
            unbuilt_sequential_inside_another, sequential_in_functional, functional_in_sequential,
            subclassed_in_sequential, sequential_in_subclassed, layer_built_before_its_model, dense_built_alone,
            dense_called_on_arrays, dense_in_name_scope, recurrent_layers, cells_in_rnn,
            bidirectional_and_time_distributed, bidirectional_of_a_built_layer, attention_layers,
            normalization_and_embedding, wrapped_and_convolutional]


@pytest.mark.parametrize("build", BUILDERS, ids=[b.__name__ for b in BUILDERS])
def test_paths_and_names_equal_keras(build):
    for lib in (scanfit, keras):
        lib.utils.clear_session(free_memory=False)  # (automatic names, StackedRNNCells', from zero in both)
    assert paths(build(scanfit)) == paths(build(keras))


def test_a_stateful_layers_states_have_keras_paths():
    def states(lib):
        model = lib.Sequential([lib.Input(batch_shape=(2, 4, 3)), lib.layers.LSTM(2, stateful=True, name="sl")],
                               name="st")
        model.predict(np.ones((2, 4, 3), "float32"), batch_size=2, verbose=0)
        return [(v.path, v.name) for v in model.layers[0].states]

    assert states(scanfit) == states(keras) == [("st/sl/rnn_state", "rnn_state")] * 2


def test_the_paths_of_the_common_cases():
    """A few of the above spelled out (as Keras 3.15 gives them)."""
    assert [w.path for w in sequential_with_input(scanfit).weights] == ["seq/dense/kernel", "seq/dense/bias"]
    assert paths(sequential_built_by_hand(scanfit))[0] == ("s2/d/kernel", "kernel")
    assert paths(functional(scanfit))[0] == ("fd/kernel", "kernel")
    assert paths(subclassed(scanfit))[0] == ("sub/sd/kernel", "kernel")
    assert [w.path for w in composite_layer(scanfit).weights] == ["comp/w", "comp/inner/kernel", "comp/inner/bias"]
    assert paths(built_sequential_inside_another(scanfit))[0] == ("seqq/dd/kernel", "kernel")
    assert paths(dense_built_alone(scanfit))[0] == ("solo/kernel", "kernel")
    attention = attention_layers(scanfit)
    assert attention.weights[0].path == "mha/query/kernel" and attention.weights[0].short_name == "query_kernel"


FILE_BUILDERS = [sequential_with_input, functional, unbuilt_sequential_inside_another, sequential_in_functional,
                 recurrent_layers, cells_in_rnn, bidirectional_and_time_distributed, attention_layers,
                 normalization_and_embedding]


@pytest.mark.parametrize("build", FILE_BUILDERS, ids=[b.__name__ for b in FILE_BUILDERS])
def test_loaded_models_have_keras_paths(tmp_path, build):
    """Keras builds a loaded model's layers as it reads them, outside the model's scope (``dense/kernel``, not
    ``seq/dense/kernel``): a Keras file loads with Keras's paths, and a scanfit file with those Keras gives its
    own file."""
    keras_file, scanfit_file = tmp_path / "k.keras", tmp_path / "s.keras"
    build(keras).save(keras_file)
    build(scanfit).save(scanfit_file)
    expected = paths(keras.models.load_model(keras_file))
    assert paths(scanfit.models.load_model(keras_file)) == expected
    assert paths(scanfit.models.load_model(scanfit_file)) == expected


CLONE_BUILDERS = [sequential_with_input, functional, unbuilt_sequential_inside_another,
                  bidirectional_and_time_distributed, cells_in_rnn]


@pytest.mark.parametrize("build", CLONE_BUILDERS, ids=[b.__name__ for b in CLONE_BUILDERS])
def test_cloned_models_have_keras_paths(build):
    assert paths(scanfit.models.clone_model(build(scanfit))) == paths(keras.models.clone_model(build(keras)))


def test_h5_files_keep_tf_keras_2_weight_names(tmp_path):
    """Keras 3 writes each weight's path into a whole-model .h5 file; tf.keras 2 wrote it from the model's layer
    on (no Sequential prefix) with ":0", which scanfit keeps."""
    keras_model, ours = bidirectional_and_time_distributed(keras), bidirectional_and_time_distributed(scanfit)
    keras_model.save(tmp_path / "k.h5")
    ours.save(tmp_path / "s.h5")
    for layer in ["bi", "td"]:
        with h5py.File(tmp_path / "k.h5") as k_file, h5py.File(tmp_path / "s.h5") as s_file:
            theirs, names = ([n.decode() if isinstance(n, bytes) else n for n in h5["model_weights"][layer].attrs[
                "weight_names"]] for h5 in (k_file, s_file))
        assert theirs[0].startswith(f"r5/{layer}/")
        assert names == [f"{name.removeprefix('r5/')}:0" for name in theirs]


def test_muon_picks_the_adamw_weights_of_a_sequential_as_keras():
    """Muon's exclude_layers searches the paths, which hold the Sequential's name as Keras's do."""
    keyword = {"exclude_layers": ["^r/lstm/"]}
    ours, theirs = recurrent_layers(scanfit), recurrent_layers(keras)
    ours_muon, keras_muon = scanfit.optimizers.Muon(**keyword), keras.optimizers.Muon(**keyword)
    chosen = [ours_muon.uses_adamw(w.path, w.shape) for w in ours.trainable_weights]
    assert chosen == [keras_muon._should_use_adamw(w) for w in theirs.trainable_weights]
    assert chosen.count(True) > 3  # the LSTM's kernels and every bias


def test_optimizer_slot_names_follow_the_paths():
    ours, theirs = sequential_with_input(scanfit), sequential_with_input(keras)
    ours.compile(optimizer=scanfit.optimizers.Adam(name="adam"), loss="mse")
    optimizer = keras.optimizers.Adam(name="adam")
    optimizer.build(theirs.trainable_variables)
    assert [entry.name for entry in expected_variables(ours, None)] == [v.path for v in optimizer.variables]
