"""`model.summary()`: the layer table in tf.keras 2's format, as the seeds show it."""
import re

from scanfit.interactive_logging import print_msg


def _format_shape(shape):
    if shape is None:
        return "?"
    inner = ", ".join("None" if d is None else str(d) for d in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


def _wrap(text, width):
    """Split `text` into pieces of at most `width` characters."""
    return [text[i:i + width] for i in range(0, len(text), width)] or [""]


def _format_shapes(shape):
    if isinstance(shape, list):
        return "[" + ", ".join(_format_shape(s) for s in shape) + "]"
    return _format_shape(shape)


def _connections(sources, width):
    """The ``Connected to`` cell as lines: the whole list when it fits, else one source a line (as tf.keras 2)."""
    text = "[" + ", ".join(repr(name) for name in sources) + "]"
    if len(text) <= width or len(sources) < 2:
        return [text]
    items = [repr(name) for name in sources]
    return ["[" + items[0] + ","] + [" " + item + "," for item in items[1:-1]] + [" " + items[-1] + "]"]


def summary_lines(model, line_length=None, positions=None, show_trainable=False, layer_range=None):
    """The summary as a list of lines: 65 characters wide by default, or 98 with a functional model's
    ``Connected to`` column (tf.keras 2's layouts); `show_trainable` adds tf.keras 2's ``Trainable`` column
    (Y or N); `layer_range` (two names or regular expressions) lists only the layers from the first match of
    one to the first match of the other after it."""
    functional = getattr(model, "is_functional", False)
    connected = functional and not _sequential_like(model)
    line_length = line_length or (98 if connected else 65)
    positions = positions or ([0.33, 0.55, 0.67, 1.0] if connected else [0.45, 0.85, 1.0])
    if positions[-1] <= 1:
        positions = [int(line_length * p) for p in positions]
    if show_trainable:
        line_length += 11
        positions = list(positions) + [line_length]
    widths = [positions[0] - 1] + [b - a for a, b in zip(positions, positions[1:])]

    def row(fields):
        columns = [field if isinstance(field, list) else _wrap(str(field), width - (2 if i < len(widths) - 1 else 0))
                   for i, (field, width) in enumerate(zip(fields, widths))]
        lines = []
        for k in range(max(len(c) for c in columns)):
            parts = [(c[k] if k < len(c) else "").ljust(w) for c, w in zip(columns, widths)]
            lines.append((" " + "".join(parts))[:line_length].ljust(line_length))
        return lines

    lines = [f'Model: "{model.name}"', "_" * line_length]
    lines += row(["Layer (type)", "Output Shape", "Param #"] + (["Connected to"] if connected else [])
                 + (["Trainable"] if show_trainable else []))
    lines.append("=" * line_length)
    layers = model.graph_layers if functional else model.layers  # a graph's operations too, as Keras
    for layer in _in_range(layers, layer_range):
        kind = layer.keras_class()[1] if getattr(layer, "is_operation", False) else type(layer).__name__
        fields = [f"{layer.name} ({kind})", _format_shapes(layer.output_shape), layer.count_params()]
        if connected:
            sources = [f"{t.history.layer.name}[{t.history.node_index}][{t.history.tensor_index}]"
                       for t in model.layer_inputs(layer)]
            fields.append(_connections(sources, widths[-2 if show_trainable else -1]))
        if show_trainable:
            fields.append("Y" if layer.trainable else "N")
        lines += row(fields)
        lines.append(" " * line_length)
    total = sum(int(_size(v.shape)) for v in model.weights)
    trainable = sum(int(_size(v.shape)) for v in model.trainable_weights)
    lines.append("=" * line_length)
    lines.append(f"Total params: {total:,}")
    lines.append(f"Trainable params: {trainable:,}")
    lines.append(f"Non-trainable params: {total - trainable:,}")
    lines.append("_" * line_length)
    return lines


def _sequential_like(model):
    """Whether a functional model is a plain chain (one input, each call reading one tensor that no other call
    reads, no layer called twice), which Keras (3 and tf.keras 2) summarizes without a ``Connected to``
    column."""
    nodes = model.graph_nodes
    reads = [id(t) for node in nodes if not node.is_input for t in node.input_tensors]
    calls = [node for node in nodes if not node.is_input]
    return (sum(node.is_input for node in nodes) == 1 and len(reads) == len(calls) == len(set(reads))
            and len({id(node.layer) for node in calls}) == len(calls))


def _in_range(layers, layer_range):
    """`layers` from the first whose name matches ``layer_range[0]`` to the first after it matching
    ``layer_range[1]`` (both kept); all of them without a range."""
    if layer_range is None:
        return list(layers)
    if not isinstance(layer_range, (list, tuple)) or len(layer_range) != 2 or not all(
            isinstance(p, str) for p in layer_range):
        raise ValueError(f"layer_range must be two layer names (or regular expressions), got {layer_range!r}.")
    names = [layer.name for layer in layers]
    first = next((i for i, name in enumerate(names) if re.match(layer_range[0], name)), None)
    last = next((i for i, name in enumerate(names) if first is not None and i >= first
                 and re.match(layer_range[1], name)), None)
    if first is None or last is None:
        raise ValueError(f"layer_range {list(layer_range)} matches no range of the model's layers {names}.")
    return list(layers)[first:last + 1]


def _size(shape):
    size = 1
    for d in shape:
        size *= d
    return size


def print_summary(model, line_length=None, positions=None, print_fn=None, show_trainable=False, layer_range=None):
    print_fn = print_fn or print_msg
    for line in summary_lines(model, line_length, positions, show_trainable, layer_range):
        print_fn(line)
