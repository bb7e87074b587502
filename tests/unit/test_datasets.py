"""IDX files and dataset lookup, on small synthetic data sets (no network, no real data)."""
import functools
import gzip
import hashlib

import numpy as np
import pytest

from scanfit.datasets import _source, fashion_mnist, locate, mnist
from scanfit.datasets.idx import read_idx, write_idx
from local_server import serving

DTYPES = ["uint8", "int8", "int16", "int32", "float32", "float64"]
ROLES = ("x_train", "y_train", "x_test", "y_test")


# --- IDX ---------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_idx_round_trip(tmp_path, dtype, suffix):
    values = np.arange(60).reshape(3, 4, 5) - (0 if dtype == "uint8" else 30)
    array = (values * (0.37 if dtype.startswith("float") else 1)).astype(dtype)
    path = tmp_path / f"a.idx{suffix}"
    write_idx(path, array)
    loaded = read_idx(path)
    assert loaded.dtype == np.dtype(dtype) and loaded.dtype.isnative
    np.testing.assert_array_equal(loaded, array)
    assert loaded.flags.writeable
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temp file left


def test_idx_header_is_big_endian_and_standard(tmp_path):
    write_idx(tmp_path / "labels", np.array([1, 2, 3], dtype=np.int16))
    raw = (tmp_path / "labels").read_bytes()
    assert raw == bytes([0, 0, 0x0B, 1]) + (3).to_bytes(4, "big") + b"\x00\x01\x00\x02\x00\x03"


def test_idx_gzip_is_detected_by_content(tmp_path):
    write_idx(tmp_path / "a.gz", np.arange(6, dtype=np.uint8).reshape(2, 3))
    (tmp_path / "a.gz").rename(tmp_path / "plain-name")
    np.testing.assert_array_equal(read_idx(tmp_path / "plain-name"), np.arange(6).reshape(2, 3))


def test_idx_hasher_sees_the_decompressed_bytes(tmp_path):
    write_idx(tmp_path / "a", np.arange(10, dtype=np.uint8))
    write_idx(tmp_path / "a.gz", np.arange(10, dtype=np.uint8))
    hasher = hashlib.md5()
    read_idx(tmp_path / "a.gz", hasher=hasher)
    assert hasher.hexdigest() == hashlib.md5((tmp_path / "a").read_bytes()).hexdigest()


def test_write_idx_rejects_unsupported_arrays(tmp_path):
    with pytest.raises(TypeError, match="int64.*astype"):
        write_idx(tmp_path / "a", np.arange(3, dtype=np.int64))
    with pytest.raises(ValueError, match="dimensions"):
        write_idx(tmp_path / "a", np.uint8(3))
    assert list(tmp_path.iterdir()) == []


def test_write_idx_failure_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "a"
    write_idx(path, np.arange(3, dtype=np.uint8))
    monkeypatch.setattr("os.fsync", lambda fd: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError, match="disk full"):
        write_idx(path, np.arange(5, dtype=np.uint8))
    np.testing.assert_array_equal(read_idx(path), [0, 1, 2])
    assert [p.name for p in tmp_path.iterdir()] == ["a"]


def _header(code, *dims):
    return bytes([0, 0, code, len(dims)]) + b"".join(d.to_bytes(4, "big") for d in dims)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"\x01\x00\x08\x01" + (2).to_bytes(4, "big") + b"ab", "not an IDX file"),
        (_header(0x0A, 2) + b"ab", "unsupported IDX type code 0x0A"),
        (_header(0x08, 4) + b"abc", "truncated"),
        (_header(0x08, 2) + b"abc", "trailing bytes"),
        (_header(0x08, 65535, 65535, 65535), "above the limit"),
        (b"\x00\x00\x08", "truncated"),
        (_header(0x08, 2, 3)[:10], "truncated"),
        (b"\x00\x00\x08\x00", "0 dimensions"),
    ],
    ids=["magic", "type", "short", "trailing", "huge", "tiny", "header", "ndim0"],
)
@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gz"])
def test_corrupt_idx_raises_naming_the_file(tmp_path, content, message, compress):
    path = tmp_path / ("bad.gz" if compress else "bad")
    path.write_bytes(gzip.compress(content) if compress else content)
    with pytest.raises(ValueError, match=message) as caught:
        read_idx(path)
    assert str(path) in str(caught.value)


def test_corrupt_gzip_raises_naming_the_file(tmp_path):
    packed = gzip.compress(_header(0x08, 1000) + bytes(range(250)) * 4)[:-8] + b"\x00" * 8
    for content in (packed, packed[:20], b"\x1f\x8bnot gzip at all"):
        (tmp_path / "bad.gz").write_bytes(content)
        with pytest.raises(ValueError, match="not valid gzip data") as caught:
            read_idx(tmp_path / "bad.gz")
        assert str(tmp_path / "bad.gz") in str(caught.value)


def test_huge_declared_size_is_refused_before_reading(tmp_path):
    (tmp_path / "big").write_bytes(_header(0x0E, 1 << 20, 1 << 20))
    with pytest.raises(ValueError, match="max_bytes"):
        read_idx(tmp_path / "big")
    write_idx(tmp_path / "small", np.zeros(11, np.uint8))
    with pytest.raises(ValueError, match="above the limit of 10 bytes"):
        read_idx(tmp_path / "small", max_bytes=10)


def test_missing_idx_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_idx(tmp_path / "nope")


# --- locating a dataset -------------------------------------------------------


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """No real cache, data dir, Debian folder or mirror; downloads off unless a test turns them on."""
    for variable in ("SCANFIT_DATA_DIR", "SCANFIT_CACHE_DIR"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("SCANFIT_OFFLINE", "1")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setitem(_source.DEBIAN_DIRS, "fashion_mnist", tmp_path / "debian")
    monkeypatch.setattr(_source, "MIRROR_URL", "http://127.0.0.1:9/unused/")


def make_dataset(folder, n_train, n_test=3, compress=True):
    """Write a tiny data set of IDX files to ``folder``; return its arrays."""
    rng = np.random.default_rng(n_train)
    arrays = {
        "x_train": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, n_train, dtype=np.uint8),
        "x_test": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for role, base in _source.IDX_NAMES.items():
        write_idx(folder / (base + (".gz" if compress else "")), arrays[role])
    return arrays


def idx_md5(arrays):
    """The MD5 table (of uncompressed IDX content) for a data set made by `make_dataset`."""
    return {
        base: hashlib.md5(_header(0x08, *arrays[role].shape) + arrays[role].tobytes()).hexdigest()
        for role, base in _source.IDX_NAMES.items()
    }


def trust(monkeypatch, arrays):
    """Make a fake Fashion-MNIST pass the checksum check, as the real files would."""
    monkeypatch.setitem(_source.IDX_MD5, "fashion_mnist", idx_md5(arrays))


def assert_loaded(result, arrays):
    (x_train, y_train), (x_test, y_test) = result
    for role, got in zip(ROLES, (x_train, y_train, x_test, y_test)):
        assert got.dtype == np.uint8
        np.testing.assert_array_equal(got, arrays[role])


def test_lookup_order(tmp_path, monkeypatch):
    explicit = make_dataset(tmp_path / "explicit", 2)
    env_sub = make_dataset(tmp_path / "data" / "fashion-mnist", 3)
    env_root = make_dataset(tmp_path / "data", 4, compress=False)
    cache = make_dataset(tmp_path / "xdg" / "scanfit" / "datasets" / "fashion-mnist", 5)
    debian = make_dataset(tmp_path / "debian", 6)
    monkeypatch.setitem(_source.IDX_MD5, "fashion_mnist", {})  # checksums are tested below
    monkeypatch.setenv("SCANFIT_DATA_DIR", str(tmp_path / "data"))

    assert_loaded(fashion_mnist.load_data(path=tmp_path / "explicit"), explicit)
    assert_loaded(fashion_mnist.load_data(), env_sub)
    assert locate("fashion_mnist") == (tmp_path / "data" / "fashion-mnist", "found in SCANFIT_DATA_DIR")
    (tmp_path / "data" / "fashion-mnist" / "train-images-idx3-ubyte.gz").unlink()
    assert_loaded(fashion_mnist.load_data(), env_root)
    monkeypatch.delenv("SCANFIT_DATA_DIR")
    assert_loaded(fashion_mnist.load_data(), cache)
    assert locate("fashion-mnist").how == "found in the cache"
    (tmp_path / "xdg" / "scanfit" / "datasets" / "fashion-mnist" / "t10k-labels-idx1-ubyte.gz").unlink()
    assert_loaded(fashion_mnist.load_data(), debian)
    assert locate("fashion_mnist") == (tmp_path / "debian", "found in Debian package dataset-fashion-mnist")


def test_cache_folder_follows_environment(tmp_path, monkeypatch):
    assert _source.cache_dir("fashion_mnist") == tmp_path / "xdg" / "scanfit" / "datasets" / "fashion-mnist"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert _source.cache_dir("mnist") == tmp_path / "home" / ".cache" / "scanfit" / "datasets" / "mnist"
    monkeypatch.setenv("SCANFIT_CACHE_DIR", str(tmp_path / "mine"))
    assert _source.cache_dir("mnist") == tmp_path / "mine" / "datasets" / "mnist"
    assert _source.cache_dir("cifar10") == tmp_path / "mine" / "datasets" / "cifar-10"
    with pytest.raises(ValueError, match="Unknown dataset 'svhn'.*fashion_mnist, mnist, imdb, cifar10, cifar100"):
        _source.cache_dir("svhn")


def test_explicit_path_does_not_fall_back(tmp_path, monkeypatch):
    trust(monkeypatch, make_dataset(tmp_path / "debian", 6))
    (tmp_path / "partial").mkdir()
    with pytest.raises(FileNotFoundError, match="does not hold Fashion-MNIST: missing train-images"):
        fashion_mnist.load_data(path=tmp_path / "partial")
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        fashion_mnist.load_data(path=tmp_path / "nowhere")
    with pytest.raises(TypeError, match="path= must be a folder path"):
        fashion_mnist.load_data(path=3)


def test_offline_and_missing_lists_every_place(tmp_path, monkeypatch):
    monkeypatch.setenv("SCANFIT_DATA_DIR", str(tmp_path / "data"))
    with pytest.raises(FileNotFoundError) as caught:
        fashion_mnist.load_data()
    message = str(caught.value)
    for place in (
        tmp_path / "data" / "fashion-mnist",
        tmp_path / "data",
        tmp_path / "xdg" / "scanfit" / "datasets" / "fashion-mnist",
        tmp_path / "debian",
    ):
        assert f"{place} (" in message
    assert "SCANFIT_OFFLINE" in message and "apt-get install dataset-fashion-mnist" in message
    assert "SCANFIT_DATA_DIR" in message
    where, how = locate("fashion_mnist")
    assert where is None and "apt-get install dataset-fashion-mnist" in how


def test_checksum_mismatch_names_file_and_digests(tmp_path):
    arrays = make_dataset(tmp_path / "debian", 6)
    with pytest.raises(ValueError) as caught:
        fashion_mnist.load_data()
    message = str(caught.value)
    assert "Checksum mismatch" in message and str(tmp_path / "debian") in message
    base = next(b for b in _source.IDX_NAMES.values() if b in message)
    assert _source.IDX_MD5["fashion_mnist"][base] in message
    assert idx_md5(arrays)[base] in message


def test_wrong_shapes_are_rejected(tmp_path):
    folder = tmp_path / "digits"
    make_dataset(folder, 4)
    write_idx(folder / "train-labels-idx1-ubyte.gz", np.zeros(5, np.uint8))
    with pytest.raises(ValueError, match="train split has 4 images but 5 labels"):
        mnist.load_data(path=folder)
    write_idx(folder / "train-labels-idx1-ubyte.gz", np.full(4, 10, np.uint8))
    with pytest.raises(ValueError, match="label 10"):
        mnist.load_data(path=folder)


def test_mnist_idx_folder_needs_no_checksum(tmp_path, monkeypatch):
    arrays = make_dataset(tmp_path / "digits", 7, compress=False)
    assert_loaded(mnist.load_data(path=str(tmp_path / "digits")), arrays)
    monkeypatch.setenv("SCANFIT_DATA_DIR", str(tmp_path))
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    (tmp_path / "digits").rename(tmp_path / "mnist")
    assert_loaded(mnist.load_data(), arrays)
    assert_loaded(mnist.load_data(path="mnist.npz"), arrays)  # Keras's default name: default search


def test_mnist_npz_is_verified(tmp_path, monkeypatch):
    arrays = make_dataset(tmp_path / "unused", 5)
    np.savez(tmp_path / "mnist.npz", **arrays)
    with pytest.raises(ValueError, match="SHA-256 is [0-9a-f]{64}, expected 731c5ac6"):
        mnist.load_data(path=tmp_path)
    digest = hashlib.sha256((tmp_path / "mnist.npz").read_bytes()).hexdigest()
    monkeypatch.setitem(_source.NPZ_SHA256, "mnist.npz", digest)
    assert_loaded(mnist.load_data(path=tmp_path), arrays)
    (tmp_path / "mnist.npz").rename(tmp_path / "subset.npz")  # other names carry no checksum
    assert_loaded(mnist.load_data(path=tmp_path / "subset.npz"), arrays)
    (tmp_path / "broken.npz").write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(ValueError, match="broken.npz' is not a readable .npz"):
        mnist.load_data(path=tmp_path / "broken.npz")


# --- downloading from a mirror --------------------------------------------------


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    """A local HTTP server standing in for the mirror; yields the folder it serves."""
    folder = tmp_path / "mirror"
    folder.mkdir()
    with serving(folder) as url:
        monkeypatch.setattr(_source, "MIRROR_URL", url)
        monkeypatch.setenv("no_proxy", "127.0.0.1")
        monkeypatch.delenv("SCANFIT_OFFLINE")
        yield folder


def cache_of(tmp_path, folder):
    return tmp_path / "xdg" / "scanfit" / "datasets" / folder


def test_download_into_cache(tmp_path, monkeypatch, mirror, capfd):
    arrays = make_dataset(mirror, 8)
    trust(monkeypatch, arrays)
    assert "downloads it from" in locate("fashion_mnist").how
    assert_loaded(fashion_mnist.load_data(), arrays)
    cache = cache_of(tmp_path, "fashion-mnist")
    assert sorted(p.name for p in cache.iterdir()) == sorted(f"{b}.gz" for b in _source.IDX_NAMES.values())
    assert "scanfit: downloading train-images-idx3-ubyte.gz" in capfd.readouterr().err
    assert locate("fashion_mnist") == (cache, "found in the cache")
    for file in mirror.iterdir():
        file.unlink()
    assert_loaded(fashion_mnist.load_data(), arrays)  # served from the cache now


def test_download_checksum_mismatch_leaves_nothing(tmp_path, monkeypatch, mirror):
    arrays = make_dataset(mirror, 8)
    trust(monkeypatch, arrays)
    wrong = "0" * 32
    monkeypatch.setitem(_source.IDX_MD5["fashion_mnist"], "t10k-images-idx3-ubyte", wrong)
    with pytest.raises(ValueError) as caught:
        fashion_mnist.load_data()
    message = str(caught.value)
    assert "t10k-images-idx3-ubyte.gz" in message and "nothing was saved" in message
    assert wrong in message and idx_md5(arrays)["t10k-images-idx3-ubyte"] in message
    names = [p.name for p in cache_of(tmp_path, "fashion-mnist").iterdir()]
    assert "t10k-images-idx3-ubyte.gz" not in names
    assert not [name for name in names if name.endswith(".part")]


def test_download_of_corrupt_file_leaves_nothing(tmp_path, monkeypatch, mirror):
    arrays = make_dataset(mirror, 8)
    trust(monkeypatch, arrays)
    (mirror / "train-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b garbage")
    with pytest.raises(ValueError, match="train-images-idx3-ubyte.gz is not valid, nothing was saved"):
        fashion_mnist.load_data()
    assert list(cache_of(tmp_path, "fashion-mnist").iterdir()) == []


def test_download_failure_lists_places(tmp_path, mirror):
    failure = r"(?s)Looked in:.*download: fetching http://127.0.0.1:.*/mnist.npz failed: HTTP Error 404"
    with pytest.raises(FileNotFoundError, match=failure):
        mnist.load_data()
    assert list(cache_of(tmp_path, "mnist").iterdir()) == []


def test_mnist_downloads_npz(tmp_path, monkeypatch, mirror):
    arrays = make_dataset(tmp_path / "unused", 9)
    np.savez(mirror / "mnist.npz", **arrays)
    monkeypatch.setitem(
        _source.NPZ_SHA256, "mnist.npz", hashlib.sha256((mirror / "mnist.npz").read_bytes()).hexdigest()
    )
    assert_loaded(mnist.load_data(), arrays)
    assert [p.name for p in cache_of(tmp_path, "mnist").iterdir()] == ["mnist.npz"]


# --- IMDB and CIFAR-10: Keras's own processing on small files in the real formats --------------------


def make_imdb(folder, seed=0):
    """An imdb.npz of ragged object arrays (as Keras's file holds them) and an imdb_word_index.json."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for split, n in (("train", 12), ("test", 9)):
        reviews = np.empty(n, dtype=object)
        reviews[:] = [list(map(int, rng.integers(1, 40, size=rng.integers(1, 15)))) for _ in range(n)]
        arrays[f"x_{split}"], arrays[f"y_{split}"] = reviews, rng.integers(0, 2, n)
    np.savez(folder / "imdb.npz", **arrays)
    (folder / "imdb_word_index.json").write_text('{"the": 1, "and": 2, "film": 3}')
    return folder / "imdb.npz"


def assert_same_splits(got, expected):
    """``((x, y), (x, y))`` equal to Keras's: dtypes, shapes and values (word lists compared as lists)."""
    for got_part, expected_part in zip(got, expected):
        for g, e in zip(got_part, expected_part):
            assert g.dtype == e.dtype and g.shape == e.shape
            assert [list(a) for a in g] == [list(a) for a in e] if g.dtype == object else np.array_equal(g, e)


def trust_files(monkeypatch, name, folder):
    """Make made files pass the checksum check, as the published ones would."""
    table = {file_name: (kind, _source._digest_of_file(kind, folder / file_name))
             for file_name, (kind, _) in _source.FILES[name].items() if (folder / file_name).is_file()}
    monkeypatch.setitem(_source.FILES, name, {**_source.FILES[name], **table})


IMDB_OPTIONS = [
    {},
    dict(num_words=20, skip_top=3),
    dict(maxlen=8, seed=7),
    dict(start_char=None, oov_char=None, index_from=0, num_words=30),
    dict(start_char=5, oov_char=9, index_from=1, skip_top=2, maxlen=12, num_words=25, seed=1),
]


@pytest.mark.parametrize("options", IMDB_OPTIONS)
def test_imdb_equals_keras_on_the_same_file(tmp_path, monkeypatch, options):
    import keras
    from keras.src.datasets import imdb as keras_imdb

    from scanfit.datasets import imdb

    file = make_imdb(tmp_path / "data")
    trust_files(monkeypatch, "imdb", file.parent)
    monkeypatch.setattr(keras_imdb, "get_file", lambda fname, **kwargs: fname)  # Keras reads the file given
    expected = keras.datasets.imdb.load_data(path=str(file), **options)
    got = imdb.load_data(path=str(file), **options)
    assert_same_splits(got, expected)
    monkeypatch.setenv("SCANFIT_DATA_DIR", str(file.parent))
    assert [list(a) for a in imdb.load_data(**options)[0][0]] == [list(a) for a in expected[0][0]]
    assert imdb.get_word_index() == keras.datasets.imdb.get_word_index(path=str(file.parent / "imdb_word_index.json"))


def test_imdb_checksum_offline_message_and_pickled_code(tmp_path, monkeypatch):
    from scanfit.datasets import imdb

    file = make_imdb(tmp_path / "data")
    with pytest.raises(ValueError, match="Checksum mismatch"):
        imdb.load_data(path=file)
    with pytest.raises(FileNotFoundError, match=r"(?s)IMDB reviews \(imdb.npz\) was not found.*put imdb.npz in a "
                                                r"folder and set SCANFIT_DATA_DIR.*unset SCANFIT_OFFLINE"):
        imdb.load_data()
    evil = tmp_path / "evil"
    evil.mkdir()
    bad = np.empty(1, dtype=object)
    bad[0] = functools.partial(print, "pwned")
    np.savez(evil / "imdb.npz", x_train=bad, y_train=[0], x_test=bad, y_test=[0])
    trust_files(monkeypatch, "imdb", evil)
    with pytest.raises(ValueError, match="refusing to load functools.partial"):
        imdb.load_data(path=evil)


def make_cifar(folder, per_batch=3, seed=0):
    """A cifar-10-python.tar.gz with the real layout (pickled dicts of bytes keys); returns its batches."""
    import io
    import pickle
    import tarfile

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    batches = {}
    with tarfile.open(folder / "cifar-10-python.tar.gz", "w:gz") as archive:
        for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            batch = {b"batch_label": name.encode(), b"labels": [int(v) for v in rng.integers(0, 10, per_batch)],
                     b"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
                     b"filenames": [b"x.png"] * per_batch}
            payload = pickle.dumps(batch, protocol=4)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(payload)
            archive.addfile(info, io.BytesIO(payload))
            batches[name] = batch
    return folder / "cifar-10-python.tar.gz"


def test_cifar10_equals_keras_batch_by_batch(tmp_path, monkeypatch):
    """Keras's own `load_batch` on the extracted batches, assembled as its load_data does (channels last)."""
    import tarfile

    from keras.src.datasets.cifar import load_batch

    from scanfit.datasets import cifar10

    file = make_cifar(tmp_path / "data")
    trust_files(monkeypatch, "cifar10", file.parent)
    (x_train, y_train), (x_test, y_test) = cifar10.load_data(path=file.parent)
    with tarfile.open(file) as archive:
        archive.extractall(tmp_path / "extracted", filter="data")
    batches = [load_batch(str(tmp_path / "extracted" / "cifar-10-batches-py" / f"data_batch_{i}")) for i in range(1, 6)]
    k_x_test, k_y_test = load_batch(str(tmp_path / "extracted" / "cifar-10-batches-py" / "test_batch"))
    np.testing.assert_array_equal(x_train, np.concatenate([x for x, _ in batches]).transpose(0, 2, 3, 1))
    np.testing.assert_array_equal(y_train, np.concatenate([y for _, y in batches]).reshape(-1, 1))
    np.testing.assert_array_equal(x_test, k_x_test.transpose(0, 2, 3, 1))
    np.testing.assert_array_equal(y_test, np.asarray(k_y_test).reshape(-1, 1))
    assert x_train.shape == (15, 32, 32, 3) and y_train.shape == (15, 1)
    assert x_train.dtype == y_train.dtype == x_test.dtype == y_test.dtype == np.uint8


def make_cifar100(folder, per_set=4, seed=1):
    """A cifar-100-python.tar.gz with the real layout: pickled 'train' and 'test' dicts with fine and coarse labels."""
    import io
    import pickle
    import tarfile

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    with tarfile.open(folder / "cifar-100-python.tar.gz", "w:gz") as archive:
        for name in ("train", "test", "meta"):
            batch = {b"fine_labels": [int(v) for v in rng.integers(0, 100, per_set)],
                     b"coarse_labels": [int(v) for v in rng.integers(0, 20, per_set)],
                     b"data": rng.integers(0, 256, (per_set, 3072), dtype=np.uint8), b"batch_label": name.encode()}
            payload = pickle.dumps(batch if name != "meta" else {b"fine_label_names": [b"apple"]}, protocol=4)
            info = tarfile.TarInfo(f"cifar-100-python/{name}")
            info.size = len(payload)
            archive.addfile(info, io.BytesIO(payload))
    return folder / "cifar-100-python.tar.gz"


@pytest.mark.parametrize("label_mode", ["fine", "coarse"])
def test_cifar100_equals_keras_on_the_same_files(tmp_path, monkeypatch, label_mode):
    import tarfile

    from keras.src.datasets.cifar import load_batch

    from scanfit.datasets import cifar100

    file = make_cifar100(tmp_path / "data")
    trust_files(monkeypatch, "cifar100", file.parent)
    (x_train, y_train), (x_test, y_test) = cifar100.load_data(label_mode, path=file)
    with tarfile.open(file) as archive:
        archive.extractall(tmp_path / "extracted", filter="data")
    for x, y, name in ((x_train, y_train, "train"), (x_test, y_test, "test")):
        k_x, k_y = load_batch(str(tmp_path / "extracted" / "cifar-100-python" / name), label_key=f"{label_mode}_labels")
        np.testing.assert_array_equal(x, k_x.transpose(0, 2, 3, 1))
        np.testing.assert_array_equal(y, np.reshape(k_y, (len(k_y), 1)))
        assert x.shape == (4, 32, 32, 3) and x.dtype == y.dtype == np.uint8 and x.flags.c_contiguous
    with pytest.raises(ValueError, match="label_mode must be 'fine' or 'coarse'"):
        cifar100.load_data("medium", path=file)


def test_imdb_and_cifar10_download_into_cache(tmp_path, monkeypatch, mirror, capfd):
    from scanfit.datasets import cifar10, imdb

    make_imdb(mirror)
    make_cifar(mirror)
    trust_files(monkeypatch, "imdb", mirror)
    trust_files(monkeypatch, "cifar10", mirror)
    monkeypatch.setitem(_source.FILE_URLS, "cifar-10-python.tar.gz",
                        _source.MIRROR_URL + "cifar-10-python.tar.gz")
    expected_imdb = imdb.load_data(path=mirror, num_words=10)
    expected_cifar = cifar10.load_data(path=mirror)
    got_imdb, got_cifar = imdb.load_data(num_words=10), cifar10.load_data()
    assert [list(a) for a in got_imdb[0][0]] == [list(a) for a in expected_imdb[0][0]]
    np.testing.assert_array_equal(got_cifar[0][0], expected_cifar[0][0])
    assert imdb.get_word_index() == {"the": 1, "and": 2, "film": 3}
    assert sorted(p.name for p in cache_of(tmp_path, "imdb").iterdir()) == ["imdb.npz", "imdb_word_index.json"]
    assert locate("cifar10") == (cache_of(tmp_path, "cifar-10"), "found in the cache")
    assert "scanfit: downloading imdb.npz" in capfd.readouterr().err


def test_imdb_download_checksum_mismatch_leaves_nothing(tmp_path, mirror):
    from scanfit.datasets import imdb

    make_imdb(mirror)
    with pytest.raises(ValueError, match="Checksum mismatch for the download of http://127.0.0.1"):
        imdb.load_data()
    assert not (cache_of(tmp_path, "imdb") / "imdb.npz").exists()


# --- Reuters and Boston housing (Chollet's multiclass and regression examples) ---------------------------


def make_reuters(folder, seed=0):
    """A reuters.npz of ragged object arrays (Keras's layout: x and y) and a reuters_word_index.json."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    wires = np.empty(23, dtype=object)
    wires[:] = [list(map(int, rng.integers(1, 40, size=rng.integers(1, 15)))) for _ in range(23)]
    np.savez(folder / "reuters.npz", x=wires, y=rng.integers(0, 46, 23))
    (folder / "reuters_word_index.json").write_text('{"said": 1, "the": 2, "oil": 3}')
    return folder / "reuters.npz"


@pytest.mark.parametrize("options", IMDB_OPTIONS + [dict(test_split=0.5), dict(test_split=0.0, maxlen=10)])
def test_reuters_equals_keras_on_the_same_file(tmp_path, monkeypatch, options):
    import keras
    from keras.src.datasets import reuters as keras_reuters

    from scanfit.datasets import reuters

    file = make_reuters(tmp_path / "data")
    trust_files(monkeypatch, "reuters", file.parent)
    monkeypatch.setattr(keras_reuters, "get_file", lambda *args, **kwargs: kwargs.get("fname", args[0] if args else None))
    expected = keras.datasets.reuters.load_data(path=str(file), **options)
    got = reuters.load_data(path=str(file), **options)
    assert_same_splits(got, expected)
    monkeypatch.setenv("SCANFIT_DATA_DIR", str(file.parent))
    assert reuters.get_word_index() == {"said": 1, "the": 2, "oil": 3}


@pytest.mark.parametrize("options", [{}, dict(test_split=0.3, seed=5)])
def test_boston_housing_equals_keras_on_the_same_file(tmp_path, monkeypatch, options):
    import keras
    from keras.src.datasets import boston_housing as keras_boston

    from scanfit.datasets import boston_housing

    folder = tmp_path / "data"
    folder.mkdir()
    rng = np.random.default_rng(1)
    np.savez(folder / "boston_housing.npz", x=rng.normal(size=(20, 13)), y=rng.uniform(5, 50, 20))
    trust_files(monkeypatch, "boston_housing", folder)
    monkeypatch.setattr(keras_boston, "get_file", lambda *args, **kwargs: args[0])
    expected = keras.datasets.boston_housing.load_data(path=str(folder / "boston_housing.npz"), **options)
    got = boston_housing.load_data(path=folder, **options)
    assert_same_splits(got, expected)


def test_reuters_and_boston_housing_check_files_and_arguments(tmp_path, monkeypatch):
    from scanfit.datasets import boston_housing, reuters

    file = make_reuters(tmp_path / "data")
    with pytest.raises(ValueError, match="Checksum mismatch"):
        reuters.load_data(path=file)
    monkeypatch.setenv("SCANFIT_OFFLINE", "1")
    monkeypatch.setenv("SCANFIT_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(FileNotFoundError, match=r"Boston housing \(boston_housing.npz\) was not found"):
        boston_housing.load_data()
    with pytest.raises(ValueError, match=r"test_split must be a number in \[0, 1\)"):
        boston_housing.load_data(test_split=1.0)
