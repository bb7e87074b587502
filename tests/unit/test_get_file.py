"""keras.utils.get_file against a local HTTP server: Keras 3's cache layout and returned paths (checked against
Keras's own get_file on the same server), hashes, re-downloads, archives, and bad input or bad files refused
with nothing left behind."""
import hashlib
import io
import os
import tarfile
import zipfile

import keras
import pytest

import scanfit
from local_server import serving

TEXT = b"To be, or not to be, that is the question.\n" * 50


def _tar_gz(members):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _tar_gz_with_link(target):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("flowers/link")
        info.type, info.linkname = tarfile.SYMTYPE, target
        tar.addfile(info)
    return buffer.getvalue()


def _zip(members):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for name, data in members.items():
            bundle.writestr(name, data)
    return buffer.getvalue()


@pytest.fixture
def site(tmp_path, monkeypatch):
    """(the served folder, its URL) with a text file and two archives holding a folder 'spa-eng'."""
    folder = tmp_path / "site"
    folder.mkdir()
    (folder / "shakespeare.txt").write_bytes(TEXT)
    (folder / "spa-eng.zip").write_bytes(_zip({"spa-eng/spa.txt": b"Go.\tVe.\n"}))
    (folder / "flowers.tgz").write_bytes(_tar_gz({"flowers/rose.txt": b"rose", "flowers/tulip.txt": b"tulip"}))
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    with serving(folder) as url:
        yield folder, url


def _relative(path, root):
    return os.path.relpath(path, root)


@pytest.mark.parametrize("arguments", [
    {"fname": "shakespeare.txt", "origin": "shakespeare.txt"},
    {"origin": "shakespeare.txt"},
    {"fname": "spa-eng.zip", "origin": "spa-eng.zip", "extract": True},
    {"origin": "spa-eng.zip", "extract": True},
    {"fname": "spa-eng", "origin": "spa-eng.zip", "extract": True},
    {"fname": "flowers", "origin": "flowers.tgz", "untar": True},
    {"origin": "flowers.tgz", "extract": True, "cache_subdir": "images"},
])
def test_paths_and_files_are_keras_3s(site, tmp_path, arguments):
    _, url = site
    arguments = {**arguments, "origin": url + arguments["origin"]}
    for folder in ("ours", "theirs"):  # (Keras goes to /tmp/.keras when cache_dir does not exist yet)
        (tmp_path / folder).mkdir()
    ours = scanfit.utils.get_file(**arguments, cache_dir=tmp_path / "ours")
    theirs = keras.utils.get_file(**arguments, cache_dir=str(tmp_path / "theirs"))
    assert _relative(ours, tmp_path / "ours") == _relative(theirs, tmp_path / "theirs")
    assert isinstance(ours, str)
    if os.path.isfile(theirs):
        assert open(ours, "rb").read() == open(theirs, "rb").read()
    else:
        files = sorted(_relative(os.path.join(d, f), theirs) for d, _, names in os.walk(theirs) for f in names)
        assert files and files == sorted(_relative(os.path.join(d, f), ours) for d, _, names in os.walk(ours)
                                         for f in names)
        for name in files:
            assert open(os.path.join(ours, name), "rb").read() == open(os.path.join(theirs, name), "rb").read()


def test_keras_home_is_the_default_cache_and_a_cached_file_is_not_fetched_again(site, tmp_path, monkeypatch, capsys):
    folder, url = site
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "home"))
    path = scanfit.utils.get_file("shakespeare.txt", url + "shakespeare.txt")
    assert path == str(tmp_path / "home" / "datasets" / "shakespeare.txt")
    assert "Downloading data from " + url + "shakespeare.txt" in capsys.readouterr().out
    (folder / "shakespeare.txt").unlink()  # the site no longer has it: the cached copy serves
    assert scanfit.utils.get_file("shakespeare.txt", url + "shakespeare.txt") == path
    assert "Downloading" not in capsys.readouterr().out
    with pytest.raises(OSError, match="fetching .*shakespeare.txt failed: HTTP Error 404"):
        scanfit.utils.get_file("shakespeare.txt", url + "shakespeare.txt", force_download=True)
    assert open(path, "rb").read() == TEXT  # the failed download left the cached copy as it was


@pytest.mark.parametrize("algorithm", ["sha256", "md5"])
def test_hashes_check_the_download_and_a_stale_copy_is_replaced(site, tmp_path, algorithm, capsys):
    folder, url = site
    digest = hashlib.new(algorithm, TEXT).hexdigest()
    stale = tmp_path / "datasets" / "shakespeare.txt"
    stale.parent.mkdir()
    stale.write_bytes(b"an older text")
    hash_argument = {"file_hash": digest} if algorithm == "sha256" else {"md5_hash": digest}
    path = scanfit.utils.get_file("shakespeare.txt", url + "shakespeare.txt", cache_dir=tmp_path, **hash_argument)
    assert open(path, "rb").read() == TEXT
    assert "does not match" in capsys.readouterr().out
    (folder / "shakespeare.txt").write_bytes(b"tampered")
    with pytest.raises(ValueError, match=f"Checksum mismatch .*the {algorithm} hash is"):
        scanfit.utils.get_file("shakespeare.txt", url + "shakespeare.txt", cache_dir=tmp_path, file_hash=digest,
                               hash_algorithm=algorithm, force_download=True)
    assert open(path, "rb").read() == TEXT
    assert sorted(os.listdir(stale.parent)) == ["shakespeare.txt"]  # no partial file left


def test_an_archive_is_unpacked_again_only_when_downloaded_again(site, tmp_path):
    _, url = site
    unpacked = scanfit.utils.get_file("flowers", url + "flowers.tgz", extract=True, cache_dir=tmp_path)
    rose = os.path.join(unpacked, "flowers", "rose.txt")
    assert open(rose).read() == "rose"
    os.remove(rose)
    assert scanfit.utils.get_file("flowers", url + "flowers.tgz", extract=True, cache_dir=tmp_path) == unpacked
    assert not os.path.exists(rose)
    scanfit.utils.get_file("flowers", url + "flowers.tgz", extract=True, cache_dir=tmp_path, force_download=True)
    assert open(rose).read() == "rose"


ESCAPING_ARCHIVES = {  # (made when a test runs: a gzip header holds the time, and test ids must not)
    "escape.tgz": lambda: _tar_gz({"../escape.txt": b"out"}),
    "link.tgz": lambda: _tar_gz_with_link("../../../escape.txt"),
    "escape.zip": lambda: _zip({"../escape.txt": b"out"}),
}


@pytest.mark.parametrize("name", sorted(ESCAPING_ARCHIVES))
def test_members_landing_outside_the_folder_are_refused(site, tmp_path, name):
    folder, url = site
    (folder / name).write_bytes(ESCAPING_ARCHIVES[name]())
    with pytest.raises(ValueError, match="refused to unpack"):
        scanfit.utils.get_file(name.split(".")[0], url + name, extract=True, cache_dir=tmp_path)
    assert not (tmp_path / "escape.txt").exists()
    assert sorted(os.listdir(tmp_path / "datasets")) == [f"{name.split('.')[0]}_archive"]


@pytest.mark.parametrize("archive", ["tgz", "zip"])
def test_absolute_member_paths_are_unpacked_inside_the_folder(site, tmp_path, archive):
    folder, url = site
    members = {"/scanfit-get-file-absolute/a.txt": b"in"}
    (folder / f"absolute.{archive}").write_bytes(_tar_gz(members) if archive == "tgz" else _zip(members))
    unpacked = scanfit.utils.get_file("absolute", url + f"absolute.{archive}", extract=True, cache_dir=tmp_path)
    assert open(os.path.join(unpacked, "scanfit-get-file-absolute", "a.txt"), "rb").read() == b"in"
    assert not os.path.exists("/scanfit-get-file-absolute")


def test_bad_arguments_and_files_that_are_not_archives(site, tmp_path):
    _, url = site
    with pytest.raises(ValueError, match="needs origin="):
        scanfit.utils.get_file("a.txt")
    with pytest.raises(ValueError, match="not a path"):
        scanfit.utils.get_file("sub/a.txt", url + "shakespeare.txt", cache_dir=tmp_path)
    with pytest.raises(ValueError, match="pass fname="):
        scanfit.utils.get_file(origin=url, cache_dir=tmp_path)
    with pytest.raises(ValueError, match="hash_algorithm must be"):
        scanfit.utils.get_file("a.txt", url + "shakespeare.txt", file_hash="0", hash_algorithm="sha1")
    with pytest.raises(ValueError, match="archive_format must be"):
        scanfit.utils.get_file("a", url + "flowers.tgz", extract=True, archive_format="rar", cache_dir=tmp_path)
    with pytest.raises(ValueError, match="not an archive of tar or zip"):
        scanfit.utils.get_file("shakespeare.txt", url + "shakespeare.txt", extract=True, cache_dir=tmp_path)
    with pytest.raises(ValueError, match="not an archive of zip"):
        scanfit.utils.get_file("flowers", url + "flowers.tgz", extract=True, archive_format="zip",
                               cache_dir=tmp_path)
