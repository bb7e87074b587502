"""Hostile model files: a fixed-seed fuzz round over mutated .keras/.h5/.weights.h5 files, the bugs it found, and
configs that name code to run (refused without importing or calling anything; custom_objects is the only way in).

The fuzzer is ``scripts/fuzz_files.py`` (``python scripts/fuzz_files.py --seconds 600`` runs it for longer).
"""
import importlib.util
import io
import json
import sys
import time
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest

import scanfit
from scanfit.saving import keras_format, legacy_h5

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "fuzz_files.py"
_spec = importlib.util.spec_from_file_location("fuzz_files", SCRIPT)
fuzz = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fuzz)


@pytest.fixture(scope="module")
def seeds():
    """The fuzzer's seed files: {'m.keras', 'm.h5', 'w.weights.h5', 'w.h5': bytes}, from one small trained model."""
    return fuzz.seed_files()


def written(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def with_config(name, data, where, change):
    """A model seed whose config `where` (config.json, model_config or training_config) went through `change(doc)`."""
    doc = fuzz.json_docs(name, data)[where]
    change(doc)
    return fuzz.with_json(name, data, where, json.dumps(doc))


def load(path):
    """Load `path` as the fuzzer does: a whole model for .keras/.h5 seeds, weights into a fresh model otherwise."""
    if path.name.startswith("w."):
        fuzz.small_model().load_weights(path)
    else:
        scanfit.models.load_model(path)


# --- the fuzz round ---------------------------------------------------------------------------


def test_fixed_seed_fuzz_round_ends_every_attempt_in_a_clear_error_or_a_working_model(tmp_path):
    """195 mutated files (15 per kind): each is refused naming the file, or loads and predicts, in bounded time and
    memory, and nothing named in a file runs."""
    fuzzer = fuzz.Fuzzer(tmp_path, seed=20261123)
    started = time.monotonic()
    records = fuzzer.run(attempts=15 * len(fuzz.MUTATIONS))
    failures = [entry for entry in records if entry["outcome"] in fuzz.FAILURES]
    assert not failures, "\n".join(f"{e['kind']} {e['file']} ({e['mutation']}): {e['outcome']}: {e['detail']}"
                                   for e in failures)
    table = fuzz.summary(records)
    assert set(table) == set(fuzz.MUTATIONS) | {"total"}
    for kind in fuzz.MUTATIONS:
        assert table[kind]["refused"] + table[kind]["loaded"] >= 12, (kind, dict(table[kind]))
    assert table["total"]["refused"] > 50 and table["total"]["loaded"] > 30
    assert max(e["seconds"] for e in records) < fuzz.TIME_LIMIT_S
    assert time.monotonic() - started < 300


def test_an_attempt_that_runs_too_long_or_runs_code_is_a_failure(tmp_path, monkeypatch):
    """The fuzzer's own checks: the time bound interrupts a hang, and the sentinel sees code that ran."""
    fuzzer = fuzz.Fuzzer(tmp_path, seed=1)
    monkeypatch.setattr(fuzz, "TIME_LIMIT_S", 0.2)
    monkeypatch.setattr(fuzzer, "load", lambda path, target: time.sleep(5))
    assert fuzzer.run(attempts=1, kinds=["truncate"])[-1]["outcome"] == "slow"

    def runs_code(path, target):
        fuzzer.marker.write_text("ran")
        return "loaded", None

    monkeypatch.setattr(fuzzer, "load", runs_code)
    assert fuzzer.run(attempts=1, kinds=["truncate"])[-1]["outcome"] == "code_ran"


# --- regressions: each crash the fuzzer found -------------------------------------------------


def test_hdf5_errors_inside_a_corrupt_file_name_the_file(tmp_path, seeds):
    """Was: KeyError 'bad object header version number' escaped from h5py while walking the groups."""
    buffer = io.BytesIO()
    with h5py.File(buffer, "w", libver="latest") as h5:  # every object header starts with 'OHDR'
        legacy_h5.write_weights(h5, fuzz.small_model())
    data = bytearray(buffer.getvalue())
    header = data.rfind(b"OHDR")
    data[header + 4] = 9  # the version byte of the last object header
    with pytest.raises(ValueError, match=r"Could not read .*w\.h5: the file is corrupt.*object header"):
        load(written(tmp_path, "w.h5", bytes(data)))


def test_a_dataset_where_a_group_belongs_is_named(tmp_path, seeds):
    """Was: AttributeError "'Dataset' object has no attribute 'get'"."""
    with h5py.File(io.BytesIO(seeds["w.h5"]), "r") as h5:
        group = next(name for name in fuzz.groups(h5) if name.count("/") == 1)

    def edit(h5):
        del h5[group]
        h5.create_dataset(group, data=np.zeros(3, "float32"))

    with pytest.raises(ValueError, match=rf"w\.h5: '/{group}' should be a group"):
        load(written(tmp_path, "w.h5", fuzz.h5_edit(seeds["w.h5"], edit)))


def test_a_bad_optimizer_setting_is_refused_at_load(tmp_path, seeds):
    """Was: TypeError "'>' not supported between 'str' and 'int'" (clipnorm='a'), without the file's name."""
    def change(doc):
        doc["optimizer_config"]["config"]["clipnorm"] = "a"

    path = written(tmp_path, "m.h5", with_config("m.h5", seeds["m.h5"], "training_config", change))
    with pytest.raises(ValueError, match=r"compile settings stored in .*m\.h5"):
        scanfit.models.load_model(path)
    assert not scanfit.models.load_model(path, compile=False).compiled


def test_an_iteration_count_beyond_int32_is_refused(tmp_path, seeds):
    """Was: OverflowError 'Python int too large to convert to C long' from an iteration count of 2**64 - 1."""
    def mutate(weights):
        def edit(h5):
            del h5["optimizer/vars/0"]
            h5["optimizer/vars/0"] = np.uint64(2**64 - 1)

        return fuzz.h5_edit(weights, edit), "iteration 2**64 - 1"

    data, _ = fuzz.inner_weights("m.keras", seeds["m.keras"], mutate)
    with pytest.raises(ValueError, match=r"m\.keras.*iteration count 1844\d+ is not an integer from 0 to 2147483647"):
        scanfit.models.load_model(written(tmp_path, "m.keras", data))


def test_zip_bombs_under_the_old_1_gib_floor_are_refused_before_reading(tmp_path, seeds):
    """Was: a model.weights.h5 entry inflating to 96 MiB was read into memory (twice: 192 MiB)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in fuzz.zip_entries(seeds["m.keras"]):
            if name != "model.weights.h5":
                archive.writestr(name, data)
        with archive.open("model.weights.h5", "w") as out:
            for _ in range(24):
                out.write(bytes(2**20))
    path = written(tmp_path, "m.keras", buffer.getvalue())
    with pytest.raises(ValueError, match=r"'model\.weights\.h5' of .*m\.keras declares 25165824 bytes \(\d+ compr"):
        scanfit.models.load_model(path)


def test_an_archive_listing_many_entries_is_refused_before_it_is_parsed(tmp_path, seeds):
    """Was: 50,000 empty entries took zipfile over 10 s to list (and memory in proportion)."""
    entries = fuzz.zip_entries(seeds["m.keras"]) + [(f"assets/{i}", b"") for i in range(25000)]
    path = written(tmp_path, "m.keras", fuzz.zip_bytes(entries))
    started = time.perf_counter()
    with pytest.raises(ValueError, match=r"m\.keras declares a list of entries of \d+ bytes"):
        scanfit.models.load_model(path)
    assert time.perf_counter() - started < 2


@pytest.mark.parametrize("name", ["m.keras", "m.h5"])
@pytest.mark.parametrize("change", [
    lambda doc: fuzz.layer_list(doc)[1]["config"].update(units=10**9),
    lambda doc: fuzz.layer_list(doc)[0]["config"].update(batch_shape=[None, 2**40]),
    lambda doc: (fuzz.layer_list(doc).pop(0),
                 fuzz.layer_list(doc)[0]["config"].update(batch_input_shape=[None, 10**12])),
], ids=["units", "input", "first_layer_input"])
def test_configs_asking_for_more_weights_than_the_file_holds_are_refused_before_allocating(tmp_path, seeds, name,
                                                                                             change):
    """Was: Dense(units=10**9) from a file allocated 12 GB of weights before anything checked the file."""
    path = written(tmp_path, name, with_config(name, seeds[name], fuzz.model_doc(fuzz.json_docs(name, seeds[name])),
                                               change))
    started = time.perf_counter()
    with pytest.raises(ValueError, match=rf"Cannot rebuild the model stored in .*{name}: The model config describes "
                                         r"weights of \d+ bytes, over the limit"):
        scanfit.models.load_model(path)
    assert time.perf_counter() - started < 5


def test_layers_that_do_not_fit_together_are_refused_at_load_not_at_predict(tmp_path, seeds):
    """Was: a batch_shape of rank 1 loaded, then predict raised jax's TypeError from dot_general."""
    def change(doc):
        fuzz.layer_list(doc)[0]["config"]["batch_shape"] = [4]

    path = written(tmp_path, "m.h5", with_config("m.h5", seeds["m.h5"], "model_config", change))
    with pytest.raises(ValueError, match=r"Cannot rebuild the model stored in .*m\.h5: .*dot_general"):
        scanfit.models.load_model(path)


def test_configs_with_too_many_layers_or_millions_of_items_are_refused_before_any_layer_is_made(
        tmp_path, seeds, monkeypatch):
    """Was: 10,000 layers took over 10 s to build (Sequential.add rebuilt the model at every layer). Building is
    linear now, and a config over MAX_LAYERS, or too large a one, is refused before any layer is made."""
    assert keras_format.MAX_LAYERS == 10_000
    made, make_layer = [], scanfit.layers.Layer.__new__

    def recording(cls, *args, **kwargs):
        made.append(cls)
        return make_layer(cls, *args, **kwargs)

    monkeypatch.setattr(scanfit.layers.Layer, "__new__", recording)

    def many_layers(doc):
        fuzz.layer_list(doc).extend({"class_name": "Dropout", "config": {"rate": 0.1}} for _ in range(10_000))

    def many_items(doc):
        fuzz.layer_list(doc)[-1]["config"]["extra"] = [[] for _ in range(600_000)]

    path = written(tmp_path, "a.keras", with_config("m.keras", seeds["m.keras"], "config.json", many_layers))
    with pytest.raises(ValueError, match=r"a\.keras: The model config lists 10004 layers, more than the 10000 allowed"):
        scanfit.models.load_model(path)
    path = written(tmp_path, "b.keras", with_config("m.keras", seeds["m.keras"], "config.json", many_items))
    with pytest.raises(ValueError, match=r"config\.json in .*b\.keras is too large \(\d+ characters, \d+ items"):
        scanfit.models.load_model(path)
    assert made == []


def test_a_million_weight_names_are_refused_unread_and_long_lists_are_cut_in_messages(tmp_path, seeds):
    """Was: 10**6 chunked names took 9 s and 115 MiB, and the error message quoted every one of them."""
    def names(count):
        def edit(h5):
            layer = h5.attrs["layer_names"][0].decode()
            del h5[layer].attrs["weight_names"]
            chunks = np.array_split(np.array([b"w%d" % i for i in range(count)]), max(1, count // 5000))
            for index, chunk in enumerate(chunks):
                h5[layer].attrs[f"weight_names{index}"] = chunk

        return written(tmp_path, f"w{count}.h5", fuzz.h5_edit(seeds["w.h5"], edit))

    started = time.perf_counter()
    with pytest.raises(ValueError, match=r"w1000000\.h5: the 'weight_names' attribute of '/\w+' lists 1000000 names"):
        fuzz.small_model().load_weights(names(10**6))
    assert time.perf_counter() - started < 5
    with pytest.raises(ValueError) as error:
        fuzz.small_model().load_weights(names(50000))
    assert str(error.value).endswith("holds 50000 for it (w0, w1, w2, w3, w4, w5, w6, w7, w8, w9, ... (50000 in all)).")


def test_an_lzma_error_from_a_patched_compression_method_names_the_file(tmp_path, seeds):
    """Was: lzma.LZMAError 'Invalid or unsupported options' when a stored entry claimed LZMA compression."""
    data = fuzz.patch_zip_headers(seeds["m.keras"], "model.weights.h5", method=zipfile.ZIP_LZMA)
    with pytest.raises(ValueError, match=r"Could not read .*m\.keras: .*LZMAError"):
        scanfit.models.load_model(written(tmp_path, "m.keras", data))


def test_layer_names_that_are_not_utf8_are_named_as_missing(tmp_path, seeds):
    """Was: UnicodeEncodeError 'surrogates not allowed' when h5py looked up a name read from non-UTF-8 bytes."""
    def edit(h5):
        h5.attrs["layer_names"] = b"\xff\xfe not utf8"

    with pytest.raises(ValueError, match=r"w\.h5 is missing '/\ufffd\ufffd not utf8'"):
        load(written(tmp_path, "w.h5", fuzz.h5_edit(seeds["w.h5"], edit)))


def test_configs_nested_deeper_than_keras_ever_writes_are_refused_before_they_are_read(tmp_path, seeds):
    """Was: RecursionError from NumPy, given a dtype name nested 500 lists deep (JSON itself parses that)."""
    text = json.dumps(fuzz.json_docs("m.keras", seeds["m.keras"])["config.json"])
    text = text.replace('"name": "float32"', '"name": ' + "[" * 500 + '"float32"' + "]" * 500, 1)
    path = written(tmp_path, "m.keras", fuzz.replace_entry(seeds["m.keras"], "config.json", text.encode()))
    with pytest.raises(ValueError, match=r"config\.json in .*m\.keras nests arrays and objects over 64 levels deep"):
        scanfit.models.load_model(path)


def test_attributes_declaring_more_than_16_mib_are_refused_unread(tmp_path, seeds):
    def edit(h5):
        h5.attrs["model_config"] = np.zeros((), dtype=f"S{17 * 2**20}")

    path = written(tmp_path, "m.h5", fuzz.h5_edit(seeds["m.h5"], edit, latest=True))
    with pytest.raises(ValueError, match=r"m\.h5: the 'model_config' attribute of '/' declares 17825792 bytes"):
        scanfit.models.load_model(path)


# --- configs that name code: refused, nothing imported or called ---------------------------------


@pytest.fixture
def sentinel(tmp_path, monkeypatch):
    """A module on sys.path whose import, or any use of its class Boom, writes a marker file."""
    marker = tmp_path / "ran.marker"
    folder = tmp_path / "modules"
    folder.mkdir()
    (folder / "scanfit_test_sentinel.py").write_text(
        f"open({str(marker)!r}, 'a').write('imported')\n"
        "class Boom:\n"
        f"    def __init__(self, *args, **kwargs):\n        open({str(marker)!r}, 'a').write('called')\n"
    )
    monkeypatch.syspath_prepend(str(folder))
    yield marker
    assert "scanfit_test_sentinel" not in sys.modules and not marker.exists(), "code named in the file ran"


def payloads(marker):
    import base64
    import marshal

    code = compile(f"lambda x: open({str(marker)!r}, 'a').write('lambda ran') and x", "<file>", "eval").co_consts[0]
    return {
        "lambda": {"module": "keras.layers", "class_name": "Lambda", "config": {"name": "lam", "function": {
            "class_name": "__lambda__", "config": {"code": base64.b64encode(marshal.dumps(code)).decode()}}}},
        "os_system": {"module": "os", "class_name": "system", "config": f"echo ran > {marker}"},
        "os_function": {"module": "os", "class_name": "function", "config": "system", "registered_name": "function"},
        "foreign_class": {"module": "scanfit_test_sentinel", "class_name": "Boom", "config": {},
                          "registered_name": "scanfit_test_sentinel>Boom"},
    }


def place(doc, spot, payload):
    if spot == "layer":
        fuzz.layer_list(doc).insert(1, payload)
    elif spot == "model":
        doc.update(module=payload.get("module"), class_name=payload["class_name"])
    else:
        next(layer for layer in fuzz.layer_list(doc) if layer["class_name"] == "Dense")["config"][spot] = payload


@pytest.mark.parametrize("name", ["m.keras", "m.h5"])
@pytest.mark.parametrize("spot", ["layer", "model", "activation", "kernel_initializer", "kernel_regularizer",
                                  "kernel_constraint"])
@pytest.mark.parametrize("payload", ["lambda", "os_system", "os_function", "foreign_class"])
def test_model_configs_naming_code_are_refused_without_running_it(tmp_path, seeds, sentinel, name, spot, payload):
    where = fuzz.model_doc(fuzz.json_docs(name, seeds[name]))
    path = written(tmp_path, name, with_config(name, seeds[name], where,
                                               lambda doc: place(doc, spot, payloads(sentinel)[payload])))
    with pytest.raises(ValueError, match=rf"Cannot rebuild the model stored in .*{name}: .*"
                                         r"(Unknown|Lambda layer|Sequential models only)"):
        scanfit.models.load_model(path)


@pytest.mark.parametrize("name", ["m.keras", "m.h5"])
@pytest.mark.parametrize("spot", ["optimizer", "loss", "metrics", "learning_rate"])
@pytest.mark.parametrize("payload", ["lambda", "os_system", "os_function", "foreign_class"])
def test_compile_configs_naming_code_are_refused_without_running_it(tmp_path, seeds, sentinel, name, spot, payload):
    def change(doc):
        optimizer = doc["optimizer"] if "optimizer" in doc else doc["optimizer_config"]
        value = payloads(sentinel)[payload]
        if spot == "optimizer":
            optimizer.update(value)
        elif spot == "learning_rate":
            optimizer["config"]["learning_rate"] = value
        else:
            doc[spot] = [value] if spot == "metrics" else value

    where = "config.json" if name.endswith(".keras") else "training_config"
    if where == "config.json":
        path = written(tmp_path, name, with_config(name, seeds[name], where, lambda doc: change(doc["compile_config"])))
    else:
        path = written(tmp_path, name, with_config(name, seeds[name], where, change))
    with pytest.raises(ValueError, match=rf"Cannot restore the compile settings stored in .*{name}: .*Unknown"):
        scanfit.models.load_model(path)


def test_custom_objects_are_the_only_way_in(tmp_path, seeds, sentinel):
    """The names a file uses resolve to what the caller passes in custom_objects, never to the file's module."""
    def system(y_true, y_pred):  # the caller's own loss, under the name the file gives
        return ((y_true - y_pred) ** 2).mean(axis=-1)

    class Lambda(scanfit.layers.Layer):  # the caller's own layer class for the file's Lambda
        def __init__(self, function=None, **kwargs):
            super().__init__(**kwargs)

        def pure_call(self, weights, x, *, training=False, rng=None):
            return x, {}

    def change(doc):
        place(doc, "layer", payloads(sentinel)["lambda"])
        doc["compile_config"]["loss"] = payloads(sentinel)["os_function"]

    path = written(tmp_path, "m.keras", with_config("m.keras", seeds["m.keras"], "config.json", change))
    with pytest.raises(ValueError, match="Lambda layer"):
        scanfit.models.load_model(path)
    model = scanfit.models.load_model(path, custom_objects={"Lambda": Lambda, "system": system})
    assert type(model.layers[0]) is Lambda and model.loss is system
    assert model.predict(fuzz.X, verbose=0).shape == (5, 2)
