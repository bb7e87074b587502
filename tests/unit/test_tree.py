"""`keras.tree` against Keras 3's (the oracle) on the structures models pass around."""
import collections

import keras
import numpy as np
import pytest

import scanfit

Point = collections.namedtuple("Point", ["x", "y"])
OtherPoint = collections.namedtuple("OtherPoint", ["x", "y"])

STRUCTURES = [
    1,
    None,
    "text",
    [],
    (),
    {},
    [1, [2, (3, None)], {"b": 4, "a": [5]}],
    {"z": 1, "y": {"k": 2, "c": None}, "a": (3, 4)},
    collections.OrderedDict([("z", 1), ("a", 2)]),
    collections.defaultdict(list, {"b": 1, "a": 2}),
    Point(1, [2, 3]),
    collections.deque([1, (2, 3)]),
    [np.zeros(2), "s", b"bytes", {1, 2}],
]


def _same(a, b):
    """Equal structures, same container types, same dict key order."""
    assert type(a) is type(b), (a, b)
    if isinstance(a, dict):
        assert list(a) == list(b)
        for key in a:
            _same(a[key], b[key])
    elif isinstance(a, (list, tuple, collections.deque)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _same(x, y)
    elif isinstance(a, np.ndarray):
        np.testing.assert_array_equal(a, b)
    else:
        assert a == b


@pytest.mark.parametrize("structure", STRUCTURES, ids=range(len(STRUCTURES)))
def test_flatten_pack_and_map_as_keras(structure):
    leaves = scanfit.tree.flatten(structure)
    _same(leaves, keras.tree.flatten(structure))
    assert [p for p, _ in scanfit.tree.flatten_with_path(structure)] == \
        [p for p, _ in keras.tree.flatten_with_path(structure)]
    assert scanfit.tree.is_nested(structure) == keras.tree.is_nested(structure)
    packed = list(range(len(leaves)))
    _same(scanfit.tree.pack_sequence_as(structure, packed), keras.tree.pack_sequence_as(structure, packed))
    _same(scanfit.tree.map_structure(repr, structure), keras.tree.map_structure(repr, structure))
    _same(scanfit.tree.map_structure(repr, structure, none_is_leaf=False),
          keras.tree.map_structure(repr, structure, none_is_leaf=False))
    _same(scanfit.tree.lists_to_tuples(structure), keras.tree.lists_to_tuples(structure))


def test_map_structure_over_several_structures_and_mismatches():
    a, b = {"x": [1, 2], "y": 3}, {"y": 30, "x": [10, 20]}
    _same(scanfit.tree.map_structure(lambda u, v: u + v, a, b), keras.tree.map_structure(lambda u, v: u + v, a, b))
    for lib in (keras, scanfit):
        with pytest.raises(ValueError):
            lib.tree.map_structure(lambda u, v: u, [1, 2], [1, [2]])
        with pytest.raises(ValueError):
            lib.tree.map_structure(lambda u, v: u, [1, 2], (1, 2))
        with pytest.raises(ValueError):
            lib.tree.pack_sequence_as([1, 2], [1])


def test_map_structure_up_to_and_shapes():
    structure = [[1, 1], [2, [2, 3]]]
    for shallow in ([0, 0], [0, [0, 0]]):
        _same(scanfit.tree.map_structure_up_to(shallow, str, structure),
              keras.tree.map_structure_up_to(shallow, str, structure))
    # Keras's docstring gives None leaves in the shallow structure, which Keras 3.15 itself refuses (optree
    # takes None for an empty node there); scanfit gives the documented results.
    assert scanfit.tree.map_structure_up_to([None, None], len, [[1, 1], [2, 2]]) == [2, 2]
    assert scanfit.tree.map_structure_up_to([None, [None, None]], str, [[1, 1], [2, 2]]) == ["[1, 1]", ["2", "2"]]
    shapes = {"a": (None, 3), "b": [(2, 2), [None]]}
    _same(scanfit.tree.map_shape_structure(lambda s: len(s), shapes),
          keras.tree.map_shape_structure(lambda s: len(s), shapes))


@pytest.mark.parametrize("top_down", [True, False])
def test_traverse_visits_in_keras_order(top_down):
    structure = [(1, 2), [3], {"a": 4}]
    seen = {}
    for lib in (keras, scanfit):
        seen[lib] = []
        result = lib.tree.traverse(seen[lib].append, structure, top_down=top_down)
        _same(result, structure)
    assert seen[keras] == seen[scanfit]
    # A top-down function that replaces sub-structures, MAP_TO_NONE putting None in place.
    def replace(lib):
        return lambda x: lib.tree.MAP_TO_NONE if x == [3] else ("pair" if isinstance(x, tuple) else None)
    _same(scanfit.tree.traverse(replace(scanfit), structure), keras.tree.traverse(replace(keras), structure))


def test_structure_and_path_assertions():
    for lib in (keras, scanfit):
        lib.tree.assert_same_structure([(0, 1)], [(2, 3)])
        lib.tree.assert_same_structure({"a": 1}, collections.OrderedDict(a=2))
        lib.tree.assert_same_paths(Point(0, 1), OtherPoint(2, 3))
        lib.tree.assert_same_paths([0, 1], (2, 3))
        for a, b in (([0, 1], (0, 1)), (Point(0, 1), OtherPoint(0, 1)), ({"a": 1}, {"b": 1}), ([1], [[1]])):
            with pytest.raises(ValueError):
                lib.tree.assert_same_structure(a, b)
        with pytest.raises(ValueError, match="same paths"):
            lib.tree.assert_same_paths({"a": 1}, {"b": 1})
