"""`keras.tree`: functions over nested structures of lists, tuples, namedtuples, dicts and deques.

As in Keras 3: every other object is a leaf, ``None`` included; a dict's values go in the order of its sorted
keys (an ``OrderedDict``'s in its own order), and a rebuilt dict keeps the key order of the one it copies.
"""
import collections
import warnings

_NOT_NESTED = (str, bytes)


class MAP_TO_NONE:
    """What a `traverse` function returns to put ``None`` in place of a sub-structure (returning ``None``
    itself means "go on into it")."""


def is_nested(structure):
    """True for a list, tuple (namedtuples too), dict or deque, even an empty one."""
    return isinstance(structure, (list, tuple, dict, collections.deque)) and not isinstance(structure, _NOT_NESTED)


def _keys(structure):
    """The keys (indices for sequences) of a nested `structure`'s children, in flattening order."""
    if isinstance(structure, dict):
        return list(structure) if isinstance(structure, collections.OrderedDict) else sorted(structure)
    return list(range(len(structure)))


def _rebuild(structure, children):
    """A container like `structure` holding `children` ({key: child})."""
    if isinstance(structure, dict):
        items = [(key, children[key]) for key in structure]
        if isinstance(structure, collections.defaultdict):
            return type(structure)(structure.default_factory, items)
        return type(structure)(items)
    values = [children[index] for index in range(len(structure))]
    if isinstance(structure, tuple) and hasattr(structure, "_fields"):
        return type(structure)(*values)
    return type(structure)(values)


def _is_leaf(structure, none_is_leaf=True, is_leaf=None):
    if is_leaf is not None and is_leaf(structure):
        return True
    if structure is None:
        return none_is_leaf
    return not is_nested(structure)


def flatten(structure):
    """The leaves of `structure`, in order (a leaf alone: ``[structure]``)."""
    return [leaf for _, leaf in flatten_with_path(structure)]


def flatten_with_path(structure):
    """``(path, leaf)`` pairs, a path being the tuple of keys and indices that leads to its leaf."""
    pairs = []

    def visit(path, node):
        if _is_leaf(node):
            pairs.append((path, node))
            return
        for key in _keys(node):
            visit(path + (key,), node[key])

    visit((), structure)
    return pairs


def _same_node(a, b):
    """Whether nodes `a` and `b` are the same kind of container with the same keys (dict kinds all match)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return set(a) == set(b)
    return type(a) is type(b) and len(a) == len(b)


def _map(func, structures, none_is_leaf=True, is_leaf=None, shallow=False):
    """`func` applied at the leaves of the first structure to the matching parts of all of them."""
    first = structures[0]
    if first is None and not none_is_leaf:
        return None
    if _is_leaf(first, none_is_leaf, is_leaf):
        others = structures[1:] if shallow else structures
        if not shallow and any(not _is_leaf(s, none_is_leaf, is_leaf) for s in structures[1:]):
            raise ValueError("Structures don't have the same nested structure.")
        return func(*others)
    for other in structures[1:]:
        if not is_nested(other) or not _same_node(first, other):
            raise ValueError(f"Structures don't have the same nested structure: {type(first).__name__} of "
                             f"{len(first)} against {other!r}.")
    children = {key: _map(func, [s[key] for s in structures], none_is_leaf, is_leaf, shallow) for key in _keys(first)}
    return _rebuild(first, children)


def map_structure(func, *structures, none_is_leaf=True):
    """`func` applied to the leaves of `structures` (all nested alike), in a structure like the first.
    With ``none_is_leaf=False`` a ``None`` stays ``None`` and `func` does not see it."""
    if not structures:
        raise ValueError("map_structure needs at least one structure.")
    return _map(func, structures, none_is_leaf)


def map_structure_up_to(shallow_structure, func, *structures):
    """`func` applied to the parts of `structures` found where `shallow_structure` has its leaves."""
    if not structures:
        raise ValueError("map_structure_up_to needs at least one structure.")
    return _map(func, (shallow_structure,) + structures, shallow=True)


def map_shape_structure(func, structure):
    """`map_structure` taking each list or tuple of ints and Nones (a shape) as a leaf."""
    def is_shape(x):
        return isinstance(x, (list, tuple)) and all(isinstance(d, (int, type(None))) for d in x)

    return _map(func, (structure,), is_leaf=is_shape)


def assert_same_structure(a, b, check_types=None):
    """Raise ValueError unless `a` and `b` are nested alike (same container types; dict kinds match by keys).
    `check_types` is deprecated in Keras 3 and changes nothing (a warning says so)."""
    if check_types is not None:
        warnings.warn("The `check_types` argument of assert_same_structure is deprecated and has no effect; "
                      "keras.tree.assert_same_paths is the looser check.", stacklevel=2)
    _map(lambda *_: None, (a, b))


def assert_same_paths(a, b):
    """Raise ValueError unless `a` and `b` have the same leaf paths (container types may differ)."""
    a_paths = {path for path, _ in flatten_with_path(a)}
    b_paths = {path for path, _ in flatten_with_path(b)}
    if a_paths != b_paths:
        message = "`a` and `b` don't have the same paths."
        if a_paths - b_paths:
            message += f"\nPaths in `a` missing in `b`:\n{a_paths - b_paths}"
        if b_paths - a_paths:
            message += f"\nPaths in `b` missing in `a`:\n{b_paths - a_paths}"
        raise ValueError(message)


def pack_sequence_as(structure, flat_sequence):
    """The leaves `flat_sequence` put in a structure like `structure` (the inverse of `flatten`)."""
    flat_sequence = list(flat_sequence)
    count = len(flatten(structure))
    if len(flat_sequence) != count:
        raise ValueError(f"pack_sequence_as: the structure has {count} leaves but {len(flat_sequence)} values "
                         "were given.")
    leaves = iter(flat_sequence)
    return _map(lambda _: next(leaves), (structure,))


def traverse(func, structure, top_down=True):
    """Apply `func` to every sub-structure, depth first. Top down, a result other than None replaces the
    sub-structure without going into it; bottom up, `func` sees the already traversed children. `MAP_TO_NONE`
    as a result puts None in place."""
    def children_traversed():
        if _is_leaf(structure):
            return structure
        return _rebuild(structure, {key: traverse(func, structure[key], top_down) for key in _keys(structure)})

    if top_down:
        result = func(structure)
        if result is None:
            return children_traversed()
    else:
        structure = children_traversed()
        result = func(structure)
        if result is None:
            return structure
    return None if result is MAP_TO_NONE else result


def lists_to_tuples(structure):
    """`structure` with every list made a tuple."""
    return traverse(lambda x: tuple(x) if isinstance(x, list) else None, structure, top_down=False)
