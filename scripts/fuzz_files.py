"""Fuzz `load_model` and `load_weights` with mutated copies of small valid model files.

Each attempt takes one of four seed files (``m.keras``, ``m.h5``,
``w.weights.h5``, ``w.h5``, saved from a small trained model), applies one
mutation of a named kind, writes the result and loads it. An attempt passes
when the load either raises a ValueError, OSError or TypeError whose message
names the file, or succeeds and the loaded model then predicts. It fails on
any other exception, on an unclear message, when it runs past the time bound
or its memory past the memory bound (a fixed amount plus a few times the
file's size), or when anything named in the file was imported or called (a
sentinel module on ``sys.path`` and a marker file record that).

    python scripts/fuzz_files.py --seconds 600

prints attempts and outcomes per mutation kind and writes
``bench/results/fuzz_files.json``; ``tests/unit/test_fuzz_files.py`` runs a
short fixed-seed round of the same attempts.
"""
import argparse
import base64
import contextlib
import copy
import faulthandler
import io
import json
import marshal
import math
import os
import platform
import random
import re
import resource
import signal
import struct
import sys
import tempfile
import time
import warnings
import zipfile
from collections import Counter, defaultdict
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's scanfit, not another install

import h5py  # noqa: E402
import numpy as np  # noqa: E402

import scanfit  # noqa: E402
from scanfit.layers import LAYER_CLASSES  # noqa: E402

RESULTS = Path(__file__).resolve().parent.parent / "bench" / "results" / "fuzz_files.json"
SEED_FILES = ("m.keras", "m.h5", "w.weights.h5", "w.h5")
MODEL_FILES = ("m.keras", "m.h5")
TIME_LIMIT_S = 10.0  # per attempt; an alarm interrupts Python code past it
HARD_TIME_LIMIT_S = 120  # per attempt; faulthandler ends the process past it (a hang inside C code)
# Per attempt: how far the process's resident memory (Python's, HDF5's and XLA's) may rise above where it
# started, plus MEMORY_PER_FILE_BYTE times the file's size: a loader may hold a few copies of a large part of
# the file while it decodes it (HDF5's buffer, Python's bytes, the text), but no more than the file holds.
MEMORY_LIMIT_BYTES = 256 * 2**20
MEMORY_PER_FILE_BYTE = 4
MAX_PREDICT_ELEMENTS = 2**16  # per sample: larger inputs are loaded but not predicted on
ACCEPTED = (ValueError, OSError, TypeError)
SENTINEL = "scanfit_fuzz_sentinel"
OUTCOMES = ("refused", "loaded", "unclear", "crash", "predict_crash", "slow", "memory", "code_ran")
FAILURES = OUTCOMES[2:]
X = np.linspace(-1.0, 1.0, 20, dtype="float32").reshape(5, 4)


class AttemptTimeout(BaseException):
    """Raised by the alarm inside an attempt that runs past TIME_LIMIT_S (a BaseException, so no loader catches it)."""


# --- the seed files ---------------------------------------------------------------------


def small_model():
    L = scanfit.layers
    return scanfit.Sequential([
        scanfit.Input((4,)), L.Dense(3, activation="relu"), L.BatchNormalization(), L.Dense(2, activation="softmax"),
    ])


def seed_files():
    """``{name: bytes}`` of the four seed files, saved from a small model trained for two steps."""
    model = small_model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(np.tile(X, (2, 1)), np.arange(10) % 2, batch_size=5, epochs=1, verbose=0)
    with tempfile.TemporaryDirectory() as folder:
        for name in SEED_FILES:
            (model.save_weights if name.startswith("w.") else model.save)(os.path.join(folder, name))
        return {name: Path(folder, name).read_bytes() for name in SEED_FILES}


# --- helpers for structured mutations -------------------------------------------------------


def h5_edit(data, edit, latest=False):
    """The bytes of HDF5 `data` after ``edit(h5py.File)``; `latest` rewrites it in the newest format first."""
    if latest:
        out = io.BytesIO()
        with h5py.File(io.BytesIO(data), "r") as src, h5py.File(out, "w", libver="latest") as dst:
            for name in src:
                src.copy(src[name], dst, name)
            for key, value in src.attrs.items():
                dst.attrs[key] = value
            edit(dst)
        return out.getvalue()
    buffer = io.BytesIO(data)
    with h5py.File(buffer, "r+") as h5:
        edit(h5)
    return buffer.getvalue()


def datasets(h5):
    names = []
    h5.visititems(lambda name, node: names.append(name) if isinstance(node, h5py.Dataset) else None)
    return names


def groups(h5):
    names = []
    h5.visititems(lambda name, node: names.append(name) if isinstance(node, h5py.Group) else None)
    return names


def zip_entries(data):
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return [(info.filename, archive.read(info)) for info in archive.infolist()]


def zip_bytes(entries, compression=zipfile.ZIP_STORED):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return buffer.getvalue()


def replace_entry(data, name, new):
    return zip_bytes([(n, new if n == name else d) for n, d in zip_entries(data)])


def inner_weights(name, data, mutate):
    """Apply the HDF5 mutation ``mutate(bytes) -> (bytes, description)`` to a seed, or to a .keras seed's weights."""
    if not name.endswith(".keras"):
        return mutate(data)
    weights = dict(zip_entries(data))["model.weights.h5"]
    new, description = mutate(weights)
    return replace_entry(data, "model.weights.h5", new), f"model.weights.h5: {description}"


def json_docs(name, data):
    """``{where: json object}`` of the configs in a model seed (zip entries or HDF5 attributes)."""
    if name.endswith(".keras"):
        return {entry: json.loads(value) for entry, value in zip_entries(data) if entry.endswith(".json")}
    with h5py.File(io.BytesIO(data), "r") as h5:
        return {key: json.loads(h5.attrs[key]) for key in ("model_config", "training_config")}


def with_json(name, data, where, text):
    """The seed with the config at `where` replaced by `text` (a str)."""
    if name.endswith(".keras"):
        return replace_entry(data, where, text.encode("utf8", "surrogatepass"))

    def edit(h5):
        h5.attrs[where] = text

    try:
        return h5_edit(data, edit)
    except (ValueError, RuntimeError, OSError):  # too large for an attribute of the old format
        return h5_edit(data, edit, latest=True)


def json_paths(value, path=()):
    """Every path (tuple of keys and indices) to a node of a JSON value."""
    yield path
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in items:
        yield from json_paths(child, path + (key,))


def json_set(doc, path, value):
    if not path:
        return value
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return doc


def model_doc(docs):
    """The key of the model config among `docs` (config.json or model_config)."""
    return "config.json" if "config.json" in docs else "model_config"


def layer_list(doc):
    return doc["config"]["layers"]


def patch_zip_headers(data, name, **fields):
    """`data` with the local and central headers of zip entry `name` patched (method, flags, size, csize, crc)."""
    data = bytearray(data)
    offsets = {"flags": (6, 8, "<H"), "method": (8, 10, "<H"), "crc": (14, 18, "<I"), "csize": (18, 22, "<I"),
               "size": (22, 26, "<I")}
    encoded = name.encode()
    for signature, shift in ((b"PK\x03\x04", 0), (b"PK\x01\x02", 2)):
        start = 0
        while (start := data.find(signature, start)) >= 0:
            name_length = struct.unpack_from("<H", data, start + 26 + shift)[0]
            name_at = start + (46 if shift else 30)
            if bytes(data[name_at:name_at + name_length]) == encoded:
                for field, value in fields.items():
                    begin, end, fmt = offsets[field]
                    struct.pack_into(fmt, data, start + begin + shift, value)
            start += 4
    return bytes(data)


# --- mutations: each is (rng, seed name, seed bytes, fuzzer) -> (bytes, description) ------------


def bit_flip(rng, name, data, fuzzer):
    data = bytearray(data)
    flips = rng.choice([1, 1, 2, 4, 8, 32])
    for _ in range(flips):
        position = rng.randrange(len(data))
        data[position] ^= 1 << rng.randrange(8)
    return bytes(data), f"{flips} bit(s) flipped"


def truncate(rng, name, data, fuzzer):
    length = rng.choice([0, rng.randrange(1, 64), rng.randrange(len(data)), len(data) - rng.randrange(1, 512)])
    length = max(0, min(length, len(data) - 1))
    return data[:length], f"cut to {length} of {len(data)} bytes"


def garbage(rng, name, data, fuzzer):
    start = rng.randrange(len(data))
    length = rng.choice([1, 4, 16, 256, 4096])
    fill = rng.choice(["random", "zeros", "ones"])
    chunk = {"random": rng.randbytes(length), "zeros": bytes(length), "ones": b"\xff" * length}[fill]
    how = rng.choice(["overwrite", "insert", "delete", "repeat"])
    if how == "overwrite":
        return data[:start] + chunk + data[start + length:], f"{length} {fill} bytes written at {start}"
    if how == "insert":
        return data[:start] + chunk + data[start:], f"{length} {fill} bytes inserted at {start}"
    if how == "delete":
        return data[:start] + data[start + length:], f"{length} bytes deleted at {start}"
    return data[:start + length] + data[start:], f"{length} bytes repeated at {start}"


def wrong_shape(rng, name, data, fuzzer):
    def mutate(h5_data):
        with h5py.File(io.BytesIO(h5_data), "r") as h5:
            target = rng.choice(datasets(h5))
            shape = h5[target].shape
        options = [shape + (1,), shape[:-1], shape[::-1], (0,), (), tuple(d + 1 for d in shape), (2,) + shape,
                   (int(np.prod(shape)),)]
        new_shape = rng.choice(options)

        def edit(h5):
            del h5[target]
            h5.create_dataset(target, data=np.ones(new_shape, "float32"))

        return h5_edit(h5_data, edit), f"{target} reshaped {shape} -> {new_shape}"

    return inner_weights(name, data, mutate)


DTYPES = {
    "bytes": lambda shape: np.full(shape, b"abc"),
    "str": lambda shape: np.full(shape, "é", dtype=object),
    "complex": lambda shape: np.ones(shape, "complex64"),
    "bool": lambda shape: np.ones(shape, bool),
    "int8": lambda shape: np.full(shape, -3, "int8"),
    "uint64": lambda shape: np.full(shape, 2**64 - 1, "uint64"),
    "float16": lambda shape: np.full(shape, 65504, "float16"),
    "float64": lambda shape: np.full(shape, 1e300, "float64"),
    "compound": lambda shape: np.zeros(shape, [("a", "f4"), ("b", "i4")]),
    "opaque": lambda shape: np.zeros(shape, "V8"),
    "array": lambda shape: np.zeros(shape, "(2,)f4"),
}
ATTRIBUTE_VALUES = [
    np.int64(7), np.float64(np.nan), np.array([1, 2, 3]), np.array([[b"a", b"b"]]), np.array([], "float32"),
    b"\xff\xfe not utf8", np.array([b"\xff\xfe", b"dense"]), "", np.zeros((2, 2), "complex64"),
]


def wrong_dtype(rng, name, data, fuzzer):
    def mutate(h5_data):
        with h5py.File(io.BytesIO(h5_data), "r") as h5:
            target = rng.choice(datasets(h5))
            attributes = [(node, key) for node in [""] + groups(h5) for key in h5[node or "/"].attrs]
            shape = h5[target].shape
        if rng.random() < 0.6 or not attributes:
            dtype = rng.choice(sorted(DTYPES))
            value = DTYPES[dtype](shape)

            def edit(h5):
                del h5[target]
                if value.dtype == object:
                    h5.create_dataset(target, data=value, dtype=h5py.string_dtype())
                else:
                    h5.create_dataset(target, data=value)

            return h5_edit(h5_data, edit), f"{target} stored as {dtype}"
        node, key = rng.choice(attributes)
        value = rng.choice(ATTRIBUTE_VALUES)

        def edit_attribute(h5):
            h5[node or "/"].attrs[key] = value

        return h5_edit(h5_data, edit_attribute), f"attribute {key!r} of /{node} set to {value!r:.40}"

    return inner_weights(name, data, mutate)


HUGE_SHAPES = [(2**40,), (2**31, 2**31), (2**20, 2**20, 2**20), (2**62,)]
HUGE_NUMBERS = [10**6, 10**9, 2**31, 2**40, 2**63, 10**30, -(2**63), 1e308]


def huge_size(rng, name, data, fuzzer):
    choice = rng.random()
    if name in MODEL_FILES and choice < 0.45:
        docs = json_docs(name, data)
        where = model_doc(docs)
        doc = docs[where]
        layer = rng.choice(layer_list(doc))
        config = layer["config"]
        key = rng.choice([k for k in ("units", "batch_shape", "axis", "build_input_shape") if k in config]
                         or ["units"])
        number = rng.choice(HUGE_NUMBERS)
        if key == "batch_shape":
            config[key] = [None, number]
        elif key == "build_input_shape":
            config[key] = [None] + [number] * rng.randrange(1, 4)
        else:
            config[key] = number
        if rng.random() < 0.3:
            doc.setdefault("build_config", {})["input_shape"] = [None, rng.choice(HUGE_NUMBERS)]
        return with_json(name, data, where, json.dumps(doc)), f"{layer['class_name']}.{key} set to {number}"
    if name.endswith(".keras") and choice < 0.75:
        entry = rng.choice(["config.json", "model.weights.h5", "metadata.json"])
        size = rng.choice([0, 1, 2**31, 2**32 - 1, len(data) * 3])
        fields = {"size": size} if rng.random() < 0.7 else {"size": size, "csize": rng.choice([0, 2**32 - 1])}
        return patch_zip_headers(data, entry, **fields), f"{entry} declares {fields}"

    def mutate(h5_data):
        with h5py.File(io.BytesIO(h5_data), "r") as h5:
            target = rng.choice(datasets(h5))
        if rng.random() < 0.7:
            shape = rng.choice(HUGE_SHAPES)

            def edit(h5):
                del h5[target]
                h5.create_dataset(target, shape=shape, dtype="float32", chunks=(1,) * len(shape))

            return h5_edit(h5_data, edit), f"{target} declared with shape {shape}"
        count = rng.choice([10**4, 10**5, 10**6] if fuzzer.long_run else [10**4, 10**5])

        def edit_names(h5):  # in chunks, as Keras splits names that overflow one attribute
            node = h5[target].parent
            while node.name != "/" and not any(k in node.attrs for k in ("weight_names", "layer_names")):
                node = node.parent
            key = next((k for k in ("weight_names", "layer_names") if k in node.attrs), "name")
            if key in node.attrs:
                del node.attrs[key]
            names = np.array([b"w%d" % i for i in range(count)])
            for index, chunk in enumerate(np.array_split(names, -(-names.nbytes // 60000))):
                node.attrs[f"{key}{index}"] = chunk

        return h5_edit(h5_data, edit_names), f"names attribute above {target} holds {count} names"

    return inner_weights(name, data, mutate)


def structure(rng, name, data, fuzzer):
    def mutate(h5_data):
        with h5py.File(io.BytesIO(h5_data), "r") as h5:
            target = rng.choice(datasets(h5) + groups(h5))
        how = rng.choice(["soft_link", "loop", "external", "group_for_dataset", "dataset_for_group", "delete",
                          "extra_layer", "hard_link_cycle"])

        def edit(h5):
            if how == "soft_link":
                del h5[target]
                h5[target] = h5py.SoftLink("/nowhere")
            elif how == "loop":
                del h5[target]
                h5[target] = h5py.SoftLink("/" + target)
            elif how == "external":
                del h5[target]
                h5[target] = h5py.ExternalLink("/etc/passwd", "/")
            elif how == "group_for_dataset":
                del h5[target]
                h5.create_group(target)
            elif how == "dataset_for_group":
                del h5[target]
                h5.create_dataset(target, data=np.zeros(3, "float32"))
            elif how == "delete":
                del h5[target]
            elif how == "extra_layer":
                parent = h5[target].parent
                parent.create_group("extra").create_dataset("vars/0", data=np.ones(2, "float32"))
            else:
                parent = h5[target].parent
                if "cycle" not in parent:
                    parent["cycle"] = parent

        return h5_edit(h5_data, edit), f"{how} at {target}"

    return inner_weights(name, data, mutate)


def registry_names():
    return sorted(LAYER_CLASSES)


def random_json_value(rng, doc):
    options = [None, True, False, 0, -1, 1, 3, 2**31, 2**63, -(2**63), 10**30, 1.5, -0.0, 1e308, float("nan"),
               float("inf"), "", "x", "relu", "same", "Dense", [], [None], [1, 2, 3], [[1]], {},
               {"class_name": "Dense"},
               {"class_name": rng.choice(registry_names()), "config": {}}, {"class_name": None, "config": None},
               "\udcff", "a" * 1000]
    if rng.random() < 0.2:
        path = rng.choice(list(json_paths(doc)))
        node = doc
        for key in path:
            node = node[key]
        return copy.deepcopy(node)
    return rng.choice(options)


def config_values(rng, name, data, fuzzer):
    docs = json_docs(name, data)
    where = rng.choice(sorted(docs))
    doc = docs[where]
    changes = []
    for _ in range(rng.choice([1, 1, 2, 3])):
        path = rng.choice(list(json_paths(doc))[1:] or [()])
        how = rng.random()
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        if how < 0.2 and path:
            del parent[path[-1]]
            changes.append(f"deleted {list(path)}")
        elif how < 0.35 and path and path[-1] == "class_name":
            parent["class_name"] = rng.choice(registry_names() + ["Sequential", "Functional", "Model", "Layer"])
            changes.append(f"{list(path)} = {parent['class_name']!r}")
        else:
            value = random_json_value(rng, doc)
            doc = json_set(doc, path, value)
            changes.append(f"{list(path)} = {value!r:.60}")
    return with_json(name, data, where, json.dumps(doc)), f"{where}: " + "; ".join(changes)


def deep_json(rng, name, data, fuzzer):
    docs = json_docs(name, data)
    where = model_doc(docs) if rng.random() < 0.7 else rng.choice(sorted(docs))
    doc = docs[where]
    depth = rng.choice([50, 500, 990, 5000, 100000])
    opener, closer = rng.choice([("[", "]"), ('{"a":', "}"), ('{"class_name":"Dense","config":', "}")])
    nested = opener * depth + "1" + closer * depth
    path = rng.choice(list(json_paths(doc)))
    marker = "__DEEP__"
    text = json.dumps(json_set(doc, path, marker)).replace(f'"{marker}"', nested, 1)
    return with_json(name, data, where, text), f"{where}: {list(path)} nested {depth} deep with {opener!r}"


def huge_json(rng, name, data, fuzzer):
    docs = json_docs(name, data)
    where = model_doc(docs)
    doc = docs[where]
    how = rng.choice(["layers", "string", "numbers", "whitespace", "keys", "containers"])
    scale = rng.choice([10**4, 10**5, 10**6]) if fuzzer.long_run else rng.choice([10**4, 10**5])
    if how == "layers":
        layer = {"class_name": "Dropout", "config": {"rate": 0.1}}
        layer_list(doc).extend(copy.deepcopy(layer) for _ in range(scale // 10))
        text = json.dumps(doc)
    elif how == "string":
        layer_list(doc)[-1]["config"]["name"] = "n" * (scale * 20)
        text = json.dumps(doc)
    elif how == "numbers":
        layer_list(doc)[-1]["config"]["kernel_initializer"] = {
            "class_name": "__numpy__", "config": {"value": [0.5] * (scale * 3), "dtype": "float32"}}
        text = json.dumps(doc)
    elif how == "whitespace":
        text = json.dumps(doc) + " " * (scale * 100)
    elif how == "keys":
        layer_list(doc)[-1]["config"].update({f"k{i}": i for i in range(scale)})
        text = json.dumps(doc)
    else:
        layer_list(doc)[-1]["config"]["extra"] = [[] for _ in range(scale * 3)]
        text = json.dumps(doc)
    return with_json(name, data, where, text), f"{where}: {how} x{scale} ({len(text)} bytes)"


def dangerous_config(rng, name, data, fuzzer):
    docs = json_docs(name, data)
    where = rng.choice(sorted(d for d in docs if d != "metadata.json"))
    doc = docs[where]
    payloads = fuzzer.payloads()
    label = rng.choice(sorted(payloads))
    payload = copy.deepcopy(payloads[label])
    if where in ("config.json", "model_config"):
        spots = ["new_layer", "layer", "activation", "kernel_initializer", "kernel_regularizer", "kernel_constraint",
                 "dtype", "model"]
    else:
        spots = ["optimizer", "loss", "metric", "learning_rate"]
    spot = rng.choice(spots)
    if spot == "new_layer":
        layer_list(doc).insert(rng.randrange(1, len(layer_list(doc)) + 1), payload)
    elif spot == "layer":
        index = rng.randrange(1, len(layer_list(doc)))
        payload.setdefault("config", {})
        if isinstance(payload["config"], dict):
            payload["config"] = {**layer_list(doc)[index]["config"], **payload["config"]}
        layer_list(doc)[index] = payload
    elif spot == "model":
        doc["class_name"], doc["module"] = payload["class_name"], payload.get("module")
    elif spot in ("optimizer", "loss", "learning_rate", "metric"):
        compile_key = "optimizer" if "optimizer" in doc else "optimizer_config"
        if spot == "optimizer":
            doc[compile_key] = payload
        elif spot == "learning_rate":
            doc[compile_key]["config"]["learning_rate"] = payload
        elif spot == "loss":
            doc["loss"] = payload
        else:
            doc["metrics"] = [payload]
    else:
        dense = [layer for layer in layer_list(doc) if layer["class_name"] == "Dense"]
        rng.choice(dense)["config"][spot] = payload
    return with_json(name, data, where, json.dumps(doc)), f"{where}: {label} as {spot}"


UNSAFE_NAMES = ["../evil", "../../etc/passwd", "/etc/passwd", "a/../../b", "C:\\evil", "..\\..\\evil", "assets/../..",
                "x\x00y", "n" * 65000, "config.json/", "./config.json", "é/../config.json"]


def zip_paths(rng, name, data, fuzzer):
    entries = zip_entries(data)
    how = rng.choice(["add", "rename", "duplicate"])
    if how == "add":
        unsafe = rng.choice(UNSAFE_NAMES)
        entries.insert(rng.randrange(len(entries) + 1), (unsafe, b"payload"))
        description = f"entry {unsafe!r:.40} added"
    elif how == "rename":
        index = rng.randrange(len(entries))
        unsafe = rng.choice(UNSAFE_NAMES + ["../" + entries[index][0], "sub/" + entries[index][0]])
        description = f"{entries[index][0]} renamed {unsafe!r:.40}"
        entries[index] = (unsafe, entries[index][1])
    else:
        index = rng.randrange(len(entries))
        entries.append((entries[index][0], b"{}" if rng.random() < 0.5 else entries[index][1]))
        description = f"{entries[index][0]} stored twice"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about duplicate names
        return zip_bytes(entries), description


def zip_bomb(rng, name, data, fuzzer):
    how = rng.choice(["bomb", "bomb", "json_bomb", "size_lie", "method", "encrypted", "many_entries", "compressed"])
    entries = zip_entries(data)
    if how in ("bomb", "json_bomb"):
        target = "model.weights.h5" if how == "bomb" else "config.json"
        megabytes = rng.choice([24, 48, 96, 160] if not fuzzer.long_run else [24, 96, 400, 1100])
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for entry, value in entries:
                if entry != target:
                    archive.writestr(entry, value)
            with archive.open(target, "w", force_zip64=True) as out:
                chunk = bytes(2**20) if how == "bomb" else b" " * 2**20
                if how == "json_bomb":
                    out.write(dict(entries)[target])
                for _ in range(megabytes):
                    out.write(chunk)
        return buffer.getvalue(), f"{target} inflates to {megabytes} MiB"
    if how == "size_lie":
        entry = rng.choice([e for e, _ in entries])
        real = dict(entries)[entry]
        size = max(0, len(real) + rng.choice([-len(real), -1, 1, 1000]))
        return patch_zip_headers(data, entry, size=size), f"{entry} declares {size} bytes, holds {len(real)}"
    if how == "method":
        entry, method = rng.choice([e for e, _ in entries]), rng.choice([1, 6, 9, 14, 97, 99, 255])
        return patch_zip_headers(data, entry, method=method), f"{entry} compression method {method}"
    if how == "encrypted":
        entry = rng.choice([e for e, _ in entries])
        return patch_zip_headers(data, entry, flags=1), f"{entry} flagged encrypted"
    if how == "many_entries":
        count = rng.choice([10**3, 10**4, 5 * 10**4])
        return zip_bytes(entries + [(f"assets/{i}", b"") for i in range(count)]), f"{count} extra entries"
    compression = rng.choice([zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
    return zip_bytes(entries, compression), f"entries compressed with method {compression}"


MUTATIONS = {
    "bit_flip": (bit_flip, SEED_FILES),
    "truncate": (truncate, SEED_FILES),
    "garbage": (garbage, SEED_FILES),
    "wrong_shape": (wrong_shape, SEED_FILES),
    "wrong_dtype": (wrong_dtype, SEED_FILES),
    "huge_size": (huge_size, SEED_FILES),
    "structure": (structure, SEED_FILES),
    "config_values": (config_values, MODEL_FILES),
    "deep_json": (deep_json, MODEL_FILES),
    "huge_json": (huge_json, MODEL_FILES),
    "dangerous_config": (dangerous_config, MODEL_FILES),
    "zip_paths": (zip_paths, ("m.keras",)),
    "zip_bomb": (zip_bomb, ("m.keras",)),
}


# --- running attempts ---------------------------------------------------------------------


@contextlib.contextmanager
def time_limit(seconds):
    """Raise AttemptTimeout in this (main) thread after `seconds`; end the process after HARD_TIME_LIMIT_S."""

    def alarm(signum, frame):
        raise AttemptTimeout(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    faulthandler.dump_traceback_later(HARD_TIME_LIMIT_S, exit=True)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        faulthandler.cancel_dump_traceback_later()


def start_memory_peak():
    """Resident bytes now, after restarting Linux's peak count (VmHWM); without /proc, the peak so far."""
    try:
        with open("/proc/self/clear_refs", "w") as file:
            file.write("5")
        return _proc_status("VmRSS")
    except OSError:
        return memory_peak()


def memory_peak():
    """The process's peak resident bytes since `start_memory_peak` (or ever, where /proc cannot reset it)."""
    try:
        return _proc_status("VmHWM")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _proc_status(key):
    with open("/proc/self/status") as file:
        return int(re.search(rf"^{key}:\s+(\d+) kB", file.read(), re.M).group(1)) * 1024


class Fuzzer:
    """Mutates the seed files and loads each result, recording one outcome per attempt."""

    def __init__(self, folder, seed=0, long_run=False):
        self.folder = Path(folder)
        self.rng = random.Random(seed)
        self.long_run = long_run
        self.seeds = seed_files()
        self.marker = self.folder / "code-ran.marker"
        self.sentinel_dir = self.folder / "sentinel"
        self.sentinel_dir.mkdir()
        (self.sentinel_dir / f"{SENTINEL}.py").write_text(
            f"open({str(self.marker)!r}, 'a').write('imported\\n')\n"
            "class Boom:\n"
            "    def __init__(self, *args, **kwargs):\n"
            f"        open({str(self.marker)!r}, 'a').write('called\\n')\n"
            "    from_config = classmethod(lambda cls, *args, **kwargs: cls())\n"
            "    __call__ = __init__\n"
        )
        self.plain, self.compiled = small_model(), small_model()
        self.compiled.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        self.records = []

    def payloads(self):
        """Configs that would run code if a loader honoured them: Lambda code, os.system, the sentinel module."""
        code = compile(f"lambda x: open({str(self.marker)!r}, 'a').write('lambda ran') and x", "<fuzz>", "eval")
        lambda_code = base64.b64encode(marshal.dumps(code.co_consts[0])).decode("ascii")
        command = f"echo system ran >> {self.marker}"
        return {
            "lambda": {"module": "keras.layers", "class_name": "Lambda", "config": {
                "name": "lambda", "function": {"class_name": "__lambda__", "config": {
                    "code": lambda_code, "defaults": None, "closure": None}}}},
            "raw_lambda": {"class_name": "__lambda__", "config": {"code": lambda_code}},
            "os_system": {"module": "os", "class_name": "system", "config": command},
            "os_function": {"module": "os", "class_name": "function", "config": "system",
                            "registered_name": "function"},
            "sentinel_class": {"module": SENTINEL, "class_name": "Boom", "config": {}, "registered_name": None},
            "registered_sentinel": {"module": SENTINEL, "class_name": "Boom", "config": {},
                                    "registered_name": f"{SENTINEL}>Boom"},
            "builtins_eval": {"module": "builtins", "class_name": "eval", "config": "__import__('os')"},
            "dunder": {"class_name": "__class__", "config": {}},
        }

    def code_ran(self):
        return SENTINEL in sys.modules or self.marker.exists()

    def attempt(self, kind):
        mutate, seed_names = MUTATIONS[kind]
        name = self.rng.choice(seed_names)
        try:
            data, description = mutate(self.rng, name, self.seeds[name], self)
        except Exception as error:  # a mutation that does not apply to this seed: record it, try another kind
            return self.record(kind, name, f"mutation failed: {error!r:.200}", "skipped", 0.0, 0, None)
        path = self.folder / f"attempt-{len(self.records)}" / name
        path.parent.mkdir()
        path.write_bytes(data)
        target = "load_model" if name in MODEL_FILES and self.rng.random() < 0.75 else "load_weights"
        outcome, detail = "loaded", None
        memory_before = start_memory_peak()
        start = time.perf_counter()
        try:
            with time_limit(TIME_LIMIT_S), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                outcome, detail = self.load(path, target)
        except AttemptTimeout:
            outcome, detail = "slow", f"interrupted after {TIME_LIMIT_S} s"
        seconds = time.perf_counter() - start
        memory = memory_peak() - memory_before
        if outcome not in FAILURES:
            if self.code_ran():
                outcome, detail = "code_ran", self.marker.read_text() if self.marker.exists() else "sentinel imported"
            elif seconds > TIME_LIMIT_S:
                outcome, detail = "slow", f"took {seconds:.1f} s"
            elif memory > MEMORY_LIMIT_BYTES + MEMORY_PER_FILE_BYTE * len(data):
                outcome, detail = "memory", f"resident memory rose by {memory >> 20} MiB"
        self.marker.unlink(missing_ok=True)
        sys.modules.pop(SENTINEL, None)
        path.unlink()
        path.parent.rmdir()
        return self.record(kind, name, description, outcome, seconds, memory, detail, target)

    def load(self, path, target):
        """(outcome, detail) of loading `path` with `target` and predicting with the result."""
        try:
            if target == "load_model":
                model = scanfit.models.load_model(path, compile=self.rng.random() < 0.8)
            else:
                model = self.compiled if self.rng.random() < 0.5 else self.plain
                model.load_weights(path, skip_mismatch=self.rng.random() < 0.25, by_name=self.rng.random() < 0.25)
        except ACCEPTED as error:
            message = str(error)
            if str(path) not in message:
                return "unclear", f"{type(error).__name__}: {message:.300}"
            return "refused", f"{type(error).__name__}: {message[:200]}"
        except Exception as error:
            return "crash", f"{type(error).__name__}: {error!s:.300}"
        sample_shape = tuple(4 if d is None else d for d in model.input_shape[1:])
        if math.prod(sample_shape) > MAX_PREDICT_ELEMENTS:  # a legal but huge input: predicting is the caller's call
            return "loaded", f"not predicted: samples of shape {sample_shape}"
        try:
            model.predict(X if sample_shape == (4,) else np.zeros((2,) + sample_shape, "float32"), verbose=0)
        except Exception as error:
            return "predict_crash", f"{type(error).__name__}: {error!s:.300}"
        return "loaded", None

    def record(self, kind, name, description, outcome, seconds, memory, detail, target=None):
        entry = {"kind": kind, "file": name, "target": target, "mutation": description, "outcome": outcome,
                 "seconds": round(seconds, 4), "memory_mib": round(memory / 2**20, 2),
                 "detail": detail}
        self.records.append(entry)
        return entry

    def run(self, attempts=None, seconds=None, kinds=None, progress=None):
        """Attempts round-robin over `kinds` until `attempts` are done or `seconds` have passed."""
        kinds = list(kinds or MUTATIONS)
        deadline = None if seconds is None else time.monotonic() + seconds
        sys.path.insert(0, str(self.sentinel_dir))
        try:
            index = 0
            while (attempts is None or index < attempts) and (deadline is None or time.monotonic() < deadline):
                entry = self.attempt(kinds[index % len(kinds)])
                if progress and entry["outcome"] in FAILURES:
                    progress(entry)
                index += 1
        finally:
            sys.path.remove(str(self.sentinel_dir))
        return self.records


def summary(records):
    """``{kind: Counter(outcome)}`` plus a total row."""
    table = defaultdict(Counter)
    for entry in records:
        table[entry["kind"]][entry["outcome"]] += 1
        table["total"][entry["outcome"]] += 1
    return table


def print_table(records, stream=sys.stdout):
    table = summary(records)
    shown = [o for o in ("refused", "loaded", "skipped") + FAILURES if any(table[k][o] for k in table)]
    columns = ["kind", "attempts"] + shown + ["max_s", "max_memory_mib"]
    rows = []
    for kind in [k for k in MUTATIONS if k in table] + ["total"]:
        mine = [e for e in records if kind in ("total", e["kind"])]
        rows.append([kind, str(sum(table[kind].values()))] + [str(table[kind][o]) for o in shown]
                    + [f"{max(e['seconds'] for e in mine):.2f}", f"{max(e['memory_mib'] for e in mine):.1f}"])
    widths = [max(len(columns[i]), *(len(row[i]) for row in rows)) for i in range(len(columns))]
    for row in [columns, ["-" * w for w in widths]] + rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)), file=stream)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=600, help="how long to fuzz (default 600)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: from the clock)")
    parser.add_argument("--kinds", nargs="*", choices=sorted(MUTATIONS), help="only these mutation kinds")
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"JSON results (default {RESULTS})")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else int(time.time())
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="fuzz-files-") as folder:
        fuzzer = Fuzzer(folder, seed=seed, long_run=True)
        records = fuzzer.run(seconds=args.seconds, kinds=args.kinds,
                             progress=lambda e: print(f"FAIL {e['kind']} {e['file']} ({e['mutation']}): "
                                                      f"{e['outcome']}: {e['detail']}", flush=True))
    print_table(records)
    failures = [e for e in records if e["outcome"] in FAILURES]
    table = summary(records)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": "fuzz_files", "date": time.strftime("%Y-%m-%d %H:%M:%S"), "seed": seed,
        "seconds": round(time.time() - started, 1), "python": platform.python_version(), "cpus": os.cpu_count(),
        "limits": {"time_s": TIME_LIMIT_S, "memory_mib": MEMORY_LIMIT_BYTES >> 20,
                   "memory_per_file_byte": MEMORY_PER_FILE_BYTE},
        "attempts": len(records), "outcomes": {kind: dict(counts) for kind, counts in table.items()},
        "max_seconds": max(e["seconds"] for e in records), "max_memory_mib": max(e["memory_mib"] for e in records),
        "failures": failures,
    }
    temporary = args.output.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(payload, indent=2))
    os.replace(temporary, args.output)
    print(f"{len(records)} attempts, {len(failures)} failures; results in {args.output}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
