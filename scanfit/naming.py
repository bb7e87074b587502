"""Keras's automatic layer and model names: ``dense``, ``dense_1``, ... from a class name in snake case."""
import re

_name_counts = {}


def unique_name(base):
    """Keras-style automatic names: dense, dense_1, dense_2, ..."""
    count = _name_counts.get(base, 0)
    _name_counts[base] = count + 1
    return base if count == 0 else f"{base}_{count}"


def next_uid(prefix=""):
    """Keras's ``backend.get_uid``: 1, 2, ... per prefix, counted with the automatic names (after two
    ``get_uid("dense")`` the next Dense is ``dense_2``)."""
    _name_counts[prefix] = _name_counts.get(prefix, 0) + 1
    return _name_counts[prefix]


def reset_names():
    """Restart the automatic names (the next Dense is ``dense`` again), as `keras.backend.clear_session` does."""
    _name_counts.clear()


def snake_case(class_name):
    """'BatchNormalization' -> 'batch_normalization', 'Conv2D' -> 'conv2d'."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", class_name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()
