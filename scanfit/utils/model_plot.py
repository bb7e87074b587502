"""`keras.utils.plot_model` and `keras.utils.model_to_dot`: a model's layers drawn with pydot and Graphviz.

Each layer is a box with its name and class, and optionally its input and
output shapes, output dtype, activation and trainability; arrows run from
each layer to the layers that read its output.
"""
import html
import os
import shutil

from scanfit.layers.core import InputLayer

INSTALL_PYDOT = "pip install pydot"
INSTALL_GRAPHVIZ = "apt-get install graphviz"
RANKDIRS = ("TB", "LR", "BT", "RL")
SPLINES = ("ortho", "curved", "polyline", "spline", "line", "true", "false", "none")

HEADER_COLOR = "#2f4858"
BODY_COLOR = "#f4f6f8"
TRAINABLE_COLOR = "#2e7d32"
FROZEN_COLOR = "#b71c1c"


def layer_graph(model):
    """The model's layers in order, each with the layers whose outputs it reads.

    Returns ``[(layer, [inbound layers]), ...]`` in topological order: the
    model's own ``layer_graph()`` when it has one (functional models), else
    the chain of ``model.layers`` (Sequential).
    """
    if callable(getattr(model, "layer_graph", None)):
        return [(layer, list(inbound)) for layer, inbound in model.layer_graph()]
    layers = model.layers
    return [(layer, layers[i - 1:i]) for i, layer in enumerate(layers)]


def _import_pydot():
    try:
        import pydot
    except ImportError as error:
        raise ImportError(f"plot_model and model_to_dot need pydot: `{INSTALL_PYDOT}` "
                          f"(plot_model also needs Graphviz: `{INSTALL_GRAPHVIZ}`).") from error
    return pydot


def _check_graphviz():
    if shutil.which("dot") is None:
        raise ImportError(f"plot_model needs Graphviz's `dot` program, which is not on the PATH. Install it with "
                          f"`{INSTALL_GRAPHVIZ}` (Debian/Ubuntu; `brew install graphviz` on macOS), and pydot "
                          f"with `{INSTALL_PYDOT}`.")


def _format_shape(shape):
    if shape is None:
        return "?"
    if isinstance(shape, list):
        return "[" + ", ".join(_format_shape(s) for s in shape) + "]"
    return str(tuple(shape))


def _activation_name(activation):
    return getattr(activation, "__name__", None) or type(activation).__name__


def _label(layer, show_shapes, show_dtype, show_layer_names, show_layer_activations, show_trainable):
    """An HTML-like Graphviz label: a dark header, then one row of details."""
    class_name = type(layer).__name__
    header = (f"<b>{html.escape(layer.name)}</b> ({class_name})" if show_layer_names else f"<b>{class_name}</b>")
    cells = []
    if show_shapes:
        if isinstance(layer, InputLayer):
            cells.append(f"Output shape: <b>{_format_shape(layer.batch_shape)}</b>")
        else:
            cells.append(f"Input shape: <b>{_format_shape(layer.input_shape)}</b>")
            cells.append(f"Output shape: <b>{_format_shape(layer.output_shape)}</b>")
    if show_dtype:
        cells.append(f"Output dtype: <b>{html.escape(str(layer.dtype))}</b>")
    body = "".join(f'<td bgcolor="{BODY_COLOR}"><font point-size="12">{c}</font></td>' for c in cells)
    if show_trainable and layer.weights:
        color, text = (TRAINABLE_COLOR, "Trainable") if layer.trainable else (FROZEN_COLOR, "Non-trainable")
        body += f'<td bgcolor="{color}"><font point-size="12" color="white"><b>{text}</b></font></td>'
    span = max(1, len(cells) + (1 if show_trainable and layer.weights else 0))
    rows = [f'<tr><td colspan="{span}" bgcolor="{HEADER_COLOR}">'
            f'<font point-size="14" color="white">{header}</font></td></tr>']
    if show_layer_activations and getattr(layer, "activation", None) is not None:
        rows.append(f'<tr><td colspan="{span}" bgcolor="{BODY_COLOR}"><font point-size="12">'
                    f'Activation: <b>{html.escape(_activation_name(layer.activation))}</b></font></td></tr>')
    if body:
        rows.append(f"<tr>{body}</tr>")
    return ('<<table border="0" cellborder="1" cellspacing="0" cellpadding="8" color="#90a4ae">'
            + "".join(rows) + "</table>>")


def _check_options(rankdir, dpi, splines):
    if rankdir not in RANKDIRS:
        raise ValueError(f"rankdir must be one of {RANKDIRS}, got {rankdir!r}.")
    if isinstance(dpi, bool) or not isinstance(dpi, (int, float)) or dpi <= 0:
        raise ValueError(f"dpi must be a positive number, got {dpi!r}.")
    if splines not in SPLINES:
        raise ValueError(f"splines must be one of {SPLINES}, got {splines!r}.")


def _check_built(model):
    if not getattr(model, "built", False):
        raise ValueError(f"Model {model.name!r} is not built yet, so its layers have no shapes: give it an input "
                         "shape (keras.Input or input_shape=), call build(input_shape), or fit it first.")


def _add_layers(pydot, graph, model, options, expand_nested):
    """Add `model`'s layers (nested models as clusters when `expand_nested`) and their edges to `graph`.

    Returns the node ids where arrows into the model start (its entries) and
    where arrows out of it leave (its exits).
    """
    pairs = layer_graph(model)
    entries, exits = {}, {}  # id(layer) -> node ids where arrows into / out of that layer attach
    for layer, _ in pairs:
        if expand_nested and layer.is_model:
            _check_built(layer)
            cluster = pydot.Cluster(f"cluster_{id(layer)}", label=html.escape(layer.name), style="dashed",
                                    labeljust="l", fontname="Helvetica")
            entries[id(layer)], exits[id(layer)] = _add_layers(pydot, cluster, layer, options, expand_nested)
            graph.add_subgraph(cluster)
        else:
            node_id = str(id(layer))
            graph.add_node(pydot.Node(node_id, label=_label(layer, **options)))
            entries[id(layer)] = exits[id(layer)] = [node_id]
    read = set()
    for layer, inbound in pairs:
        targets = entries[id(layer)]
        for position, source in enumerate(inbound):
            read.add(id(source))
            ends = [targets[position]] if len(targets) == len(inbound) > 1 else targets
            for start in exits[id(source)]:
                for end in ends:
                    graph.add_edge(pydot.Edge(start, end))
    model_entries = [node for layer, inbound in pairs if not inbound for node in entries[id(layer)]]
    model_exits = [node for layer, _ in pairs if id(layer) not in read for node in exits[id(layer)]]
    return model_entries, model_exits


def model_to_dot(model, show_shapes=False, show_dtype=False, show_layer_names=True, rankdir="TB",
                 expand_nested=False, dpi=200, show_layer_activations=False, show_trainable=False, splines="ortho"):
    """The model's layer graph as a ``pydot.Dot`` (needs pydot, not Graphviz).

    Args:
        show_shapes: input and output shapes in each box.
        show_dtype: each layer's output dtype.
        show_layer_names: the layer's name before its class name.
        rankdir: ``"TB"`` (top to bottom), ``"LR"``, ``"BT"`` or ``"RL"``.
        expand_nested: draw the layers of nested models inside a dashed frame.
        dpi: resolution of raster images.
        show_layer_activations: the activation of layers that have one.
        show_trainable: "Trainable" / "Non-trainable" on layers with weights.
        splines: Graphviz's edge style (``"ortho"``: right angles).
    """
    _check_options(rankdir, dpi, splines)
    _check_built(model)
    pydot = _import_pydot()
    graph = pydot.Dot(graph_type="digraph", rankdir=rankdir, dpi=dpi, splines=splines, concentrate=True,
                      nodesep=0.3, ranksep=0.35, fontname="Helvetica")
    graph.set_node_defaults(shape="plain", fontname="Helvetica")
    graph.set_edge_defaults(penwidth=1.5, color="#455a64", arrowsize=0.8)
    options = {"show_shapes": show_shapes, "show_dtype": show_dtype, "show_layer_names": show_layer_names,
               "show_layer_activations": show_layer_activations, "show_trainable": show_trainable}
    _add_layers(pydot, graph, model, options, expand_nested)
    return graph


def plot_model(model, to_file="model.png", show_shapes=False, show_dtype=False, show_layer_names=True, rankdir="TB",
               expand_nested=False, dpi=200, show_layer_activations=False, show_trainable=False, splines="ortho"):
    """Draw the model's layer graph into `to_file`, in the format its extension names (PNG without one).

    Takes `model_to_dot`'s options. Needs pydot and Graphviz's ``dot``
    program (``pip install pydot``, ``apt-get install graphviz``).

    Returns:
        An ``IPython.display.Image`` (``SVG`` for ``.svg``) that a notebook
        shows inline, when IPython is installed and the format is one it shows; else None.
    """
    to_file = os.fspath(to_file)
    extension = os.path.splitext(to_file)[1][1:].lower() or "png"
    pydot = _import_pydot()
    formats = pydot.OUTPUT_FORMATS
    if extension not in formats:
        raise ValueError(f"to_file {to_file!r}: Graphviz cannot write {extension!r} files; use .png, .svg, "
                         f".pdf or another of {sorted(formats)}.")
    _check_graphviz()
    graph = model_to_dot(model, show_shapes=show_shapes, show_dtype=show_dtype, show_layer_names=show_layer_names,
                         rankdir=rankdir, expand_nested=expand_nested, dpi=dpi,
                         show_layer_activations=show_layer_activations, show_trainable=show_trainable,
                         splines=splines)
    graph.write(to_file, format=extension)
    try:
        from IPython import display
    except ImportError:
        return None
    if extension == "svg":
        return display.SVG(filename=to_file)
    if extension in ("png", "jpg", "jpeg", "gif"):
        return display.Image(filename=to_file, format=extension)
    return None
