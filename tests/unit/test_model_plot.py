"""keras.utils.plot_model / model_to_dot: the DOT graph's nodes, labels and edges, and the files Graphviz writes."""
import os
import sys
import xml.etree.ElementTree as ElementTree

import pytest

import scanfit as keras
from scanfit.layers.core import InputLayer
from scanfit.utils import model_plot

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def seed_model():
    return keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(), keras.layers.Dense(100, activation="relu"),
                             keras.layers.Dropout(0.3), keras.layers.Dense(10, activation="softmax")])


def node_label(dot, layer):
    nodes = dot.get_node(str(id(layer)))
    assert len(nodes) == 1, f"one node for {layer.name}"
    return nodes[0].get("label")


def edges(dot):
    return sorted((e.get_source(), e.get_destination()) for e in dot.get_edges())


def ids(*layers):
    return [str(id(layer)) for layer in layers]


def test_sequential_nodes_labels_and_chain_edges():
    model = seed_model()
    flatten, dense, dropout, dense_1 = model.layers
    dot = keras.utils.model_to_dot(model)
    assert sorted(n.get_name() for n in dot.get_nodes() if n.get_name() not in ("node", "edge")) == sorted(
        ids(*model.layers))
    assert edges(dot) == sorted(zip(ids(flatten, dense, dropout), ids(dense, dropout, dense_1)))
    label = node_label(dot, dense)
    assert f"<b>{dense.name}</b> (Dense)" in label
    assert "shape" not in label and "dtype" not in label and "Activation" not in label
    assert dot.get("rankdir") == "TB" and dot.get("dpi") == 200


def test_shapes_dtypes_activations_trainable_in_labels():
    model = seed_model()
    model.layers[1].trainable = False
    dot = keras.utils.model_to_dot(model, show_shapes=True, show_dtype=True, show_layer_names=False,
                                   show_layer_activations=True, show_trainable=True, rankdir="LR", dpi=96)
    flatten, dense, dropout, dense_1 = [node_label(dot, layer) for layer in model.layers]
    assert "Input shape: <b>(None, 28, 28)</b>" in flatten and "Output shape: <b>(None, 784)</b>" in flatten
    assert "Input shape: <b>(None, 784)</b>" in dense and "Output shape: <b>(None, 100)</b>" in dense
    assert "Output shape: <b>(None, 10)</b>" in dense_1
    assert all("Output dtype: <b>float32</b>" in label for label in (flatten, dense, dropout, dense_1))
    assert "<b>Dense</b>" in dense and "dense" not in dense.replace("Dense", "")  # class only, no name
    assert "Activation: <b>relu</b>" in dense and "Activation: <b>softmax</b>" in dense_1
    assert "Activation" not in dropout
    assert "Non-trainable" in dense and ">Trainable<" in dense_1 and "rainable" not in flatten  # no weights
    assert dot.get("rankdir") == "LR" and dot.get("dpi") == 96


def test_layer_names_are_escaped():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="a<b>&c")])
    assert "<b>a&lt;b&gt;&amp;c</b> (Dense)" in node_label(keras.utils.model_to_dot(model), model.layers[0])


class GraphModel:
    """The layer_graph() contract that functional models provide: (layer, inbound layers) in topological order."""

    def __init__(self, pairs, name="functional"):
        self.pairs, self.name, self.built = pairs, name, True

    @property
    def layers(self):
        return [layer for layer, _ in self.pairs]

    def layer_graph(self):
        return self.pairs


def test_layer_graph_of_a_model_with_two_inputs_and_a_merge():
    a, b = InputLayer(shape=(4,), name="a"), InputLayer(shape=(3,), name="b")
    da, db = keras.layers.Dense(5, name="da"), keras.layers.Dense(5, name="db")
    da.build_for(a.batch_shape)
    db.build_for(b.batch_shape)
    head = keras.layers.Dense(1, name="head")
    head.build_for((None, 5))
    model = GraphModel([(a, []), (b, []), (da, [a]), (db, [b]), (head, [da, db])])
    assert model_plot.layer_graph(model) == model.pairs
    dot = keras.utils.model_to_dot(model, show_shapes=True)
    assert edges(dot) == sorted([(str(id(a)), str(id(da))), (str(id(b)), str(id(db))),
                                 (str(id(da)), str(id(head))), (str(id(db)), str(id(head)))])
    input_label = node_label(dot, a)
    assert "Output shape: <b>(None, 4)</b>" in input_label and "Input shape" not in input_label


def test_a_real_functional_model_with_two_inputs_a_merge_and_two_outputs():
    wide, deep = keras.Input((5,), name="wide"), keras.Input((6,), name="deep")
    hidden = keras.layers.Dense(30, activation="relu", name="hidden")
    concat = keras.layers.Concatenate(name="concat")
    main, aux = keras.layers.Dense(1, name="main"), keras.layers.Dense(1, name="aux")
    h = hidden(deep)
    model = keras.Model([wide, deep], [main(concat([wide, h])), aux(h)])
    inputs = {layer.name: layer for layer in model.layers}
    dot = keras.utils.model_to_dot(model, show_shapes=True)
    assert edges(dot) == sorted([
        (str(id(inputs["wide"])), str(id(concat))), (str(id(inputs["deep"])), str(id(hidden))),
        (str(id(hidden)), str(id(concat))), (str(id(concat)), str(id(main))), (str(id(hidden)), str(id(aux)))])
    assert "Input shape: <b>[(None, 5), (None, 30)]</b>" in node_label(dot, concat)


def test_layer_graph_of_sequential_is_the_chain():
    model = seed_model()
    layers = model.layers
    assert model_plot.layer_graph(model) == [(layers[0], []), (layers[1], [layers[0]]), (layers[2], [layers[1]]),
                                             (layers[3], [layers[2]])]


def test_expand_nested_draws_the_inner_layers_in_a_cluster():
    inner = keras.Sequential([keras.layers.Dense(8), keras.layers.Dense(4)], name="block")
    outer = keras.Sequential([keras.Input((6,)), keras.layers.Dense(16), inner, keras.layers.Dense(2)])
    first, _, last = outer.layers
    collapsed = keras.utils.model_to_dot(outer)
    assert edges(collapsed) == sorted([(str(id(first)), str(id(inner))), (str(id(inner)), str(id(last)))])
    expanded = keras.utils.model_to_dot(outer, expand_nested=True)
    (cluster,) = expanded.get_subgraphs()
    assert cluster.get("label") == "block"
    assert {n.get_name() for n in cluster.get_nodes()} == set(ids(*inner.layers))
    assert edges(cluster) == [(str(id(inner.layers[0])), str(id(inner.layers[1])))]
    assert edges(expanded) == sorted([(str(id(first)), str(id(inner.layers[0]))),
                                      (str(id(inner.layers[1])), str(id(last)))])


def test_png_and_svg_files(tmp_path):
    model = seed_model()
    image = keras.utils.plot_model(model, to_file=tmp_path / "model.png", show_shapes=True, dpi=72)
    data = (tmp_path / "model.png").read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 1000
    assert image.data == data  # an IPython Image a notebook shows inline
    keras.utils.plot_model(model, to_file=str(tmp_path / "model.svg"), show_shapes=True)
    root = ElementTree.parse(tmp_path / "model.svg").getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    texts = [text.strip() for text in root.itertext() if text.strip()]
    assert model.layers[-1].name in texts and "(Dense)" in texts and "(None, 784)" in texts
    keras.utils.plot_model(model, to_file=tmp_path / "noext", dpi=50)
    assert (tmp_path / "noext").read_bytes().startswith(PNG_SIGNATURE)


def test_without_graphviz_the_error_names_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH with no `dot` on it
    with pytest.raises(ImportError, match="apt-get install graphviz"):
        keras.utils.plot_model(seed_model(), to_file=tmp_path / "model.png")
    assert not os.path.exists(tmp_path / "model.png")
    assert keras.utils.model_to_dot(seed_model()) is not None  # DOT text needs pydot only


def test_without_pydot_the_error_names_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pydot", None)  # `import pydot` raises ImportError
    for call in (lambda: keras.utils.plot_model(seed_model(), to_file=tmp_path / "m.png"),
                 lambda: keras.utils.model_to_dot(seed_model())):
        with pytest.raises(ImportError, match="pip install pydot"):
            call()


def test_bad_arguments_are_refused(tmp_path):
    model = seed_model()
    with pytest.raises(ValueError, match="rankdir"):
        keras.utils.model_to_dot(model, rankdir="top")
    with pytest.raises(ValueError, match="dpi"):
        keras.utils.model_to_dot(model, dpi=0)
    with pytest.raises(ValueError, match="splines"):
        keras.utils.model_to_dot(model, splines="wavy")
    with pytest.raises(ValueError, match="to_file.*'bmpx'"):
        keras.utils.plot_model(model, to_file=tmp_path / "m.bmpx")
    with pytest.raises(ValueError, match="not built"):
        keras.utils.model_to_dot(keras.Sequential([keras.layers.Dense(2)]))
