"""`model.summary()`: the layer table in tf.keras 2's format, as the seeds show it."""


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


def summary_lines(model, line_length=None, positions=None):
    """The summary as a list of lines: 65 characters wide by default, or 98 with a functional model's
    ``Connected to`` column (tf.keras 2's layouts)."""
    functional = getattr(model, "is_functional", False)
    line_length = line_length or (98 if functional else 65)
    positions = positions or ([0.33, 0.55, 0.67, 1.0] if functional else [0.45, 0.85, 1.0])
    if positions[-1] <= 1:
        positions = [int(line_length * p) for p in positions]
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
    lines += row(["Layer (type)", "Output Shape", "Param #"] + (["Connected to"] if functional else []))
    lines.append("=" * line_length)
    for layer in (model.graph_layers if functional else model.layers):  # a graph's operations too, as Keras
        kind = layer.keras_class()[1] if getattr(layer, "is_operation", False) else type(layer).__name__
        fields = [f"{layer.name} ({kind})", _format_shapes(layer.output_shape), layer.count_params()]
        if functional:
            sources = [f"{t.history.layer.name}[{t.history.node_index}][{t.history.tensor_index}]"
                       for t in model.layer_inputs(layer)]
            fields.append(_connections(sources, widths[-1]))
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


def _size(shape):
    size = 1
    for d in shape:
        size *= d
    return size


def print_summary(model, line_length=None, positions=None, print_fn=None):
    print_fn = print_fn or print
    for line in summary_lines(model, line_length, positions):
        print_fn(line)
