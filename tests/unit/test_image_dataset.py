"""image_dataset_from_directory on a small folder of images written by the test.

Pixels are checked against the files' own pixels (image_size equal to the file size), against
Keras 3's `keras.ops.image.resize` (what Keras's TF-free loader resizes with) when enlarging,
against hand-computed block means for 'area', and against Pillow's own 8-bit resize when shrinking.
"""
import os

import keras
import numpy as np
import pytest
from PIL import Image

import scanfit
from scanfit.utils import PyDataset, image_dataset_from_directory

CLASSES = ["a_cls", "b_cls", "c_cls"]
# (relative path, mode, (height, width)); listed in the order Keras walks them (root files of a
# folder before its subfolders, names sorted with upper case first).
FILES = [
    ("a_cls/a0.png", "RGB", (6, 8)), ("a_cls/a1.png", "L", (5, 9)), ("a_cls/a2.jpg", "RGB", (7, 7)),
    ("a_cls/a3.bmp", "RGB", (6, 8)), ("a_cls/sub/a4.png", "RGBA", (4, 6)),
    ("b_cls/B3.PNG", "RGB", (6, 8)), ("b_cls/b0.png", "L", (6, 8)), ("b_cls/b1.png", "RGB", (9, 5)),
    ("b_cls/b2.png", "RGB", (6, 8)), ("b_cls/b4.png", "L", (3, 3)),
    ("c_cls/c0.png", "RGB", (6, 8)), ("c_cls/c1.png", "RGB", (8, 6)), ("c_cls/c2.png", "L", (6, 8)),
    ("c_cls/c3.png", "RGB", (10, 12)), ("c_cls/c4.png", "RGB", (6, 8)),
]
LABELS = [0] * 5 + [1] * 5 + [2] * 5


def _write(path, mode, shape, rng):
    channels = {"L": (), "RGB": (3,), "RGBA": (4,)}[mode]
    Image.fromarray(rng.integers(0, 256, shape + channels, dtype=np.uint8)).save(path)
    with Image.open(path) as image:  # the decoded pixels (the JPEG's differ from what was written)
        return np.asarray(image)


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """A folder of 15 images in 3 classes (plus a root image and a text file); returns (folder, pixels by path)."""
    root = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    pixels = {}
    for rel, mode, shape in FILES:
        os.makedirs(os.path.dirname(root / rel), exist_ok=True)
        pixels[rel] = _write(root / rel, mode, shape, rng)
    pixels["root.png"] = _write(root / "root.png", "RGB", (6, 8), rng)
    (root / "a_cls" / "notes.txt").write_text("not an image")
    return str(root), pixels


@pytest.fixture(scope="module")
def same_size(tmp_path_factory):
    """Six lossless 6x8 images (RGB, grayscale, RGBA) in two classes; returns (folder, pixels in file order)."""
    root = tmp_path_factory.mktemp("same")
    rng = np.random.default_rng(1)
    pixels = []
    for rel, mode in [("x/0.png", "RGB"), ("x/1.png", "L"), ("x/2.bmp", "RGB"), ("y/0.png", "RGBA"),
                      ("y/1.png", "L"), ("y/2.png", "RGB")]:
        os.makedirs(os.path.dirname(root / rel), exist_ok=True)
        pixels.append(_write(root / rel, mode, (6, 8), rng))
    return str(root), pixels


def _load(folder, **kwargs):
    kwargs.setdefault("image_size", (6, 8))
    kwargs.setdefault("verbose", False)
    return image_dataset_from_directory(folder, **kwargs)


def _all(ds):
    batches = [ds[i] for i in range(len(ds))]
    if isinstance(batches[0], tuple):
        return np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches])
    return np.concatenate(batches)


def test_classes_counts_order_and_int_labels(photos, capsys):
    folder, _ = photos
    ds = image_dataset_from_directory(folder, image_size=(6, 8), batch_size=4, shuffle=False)
    assert capsys.readouterr().out == "Found 15 files belonging to 3 classes.\n"
    assert isinstance(ds, PyDataset)
    assert ds.class_names == CLASSES
    assert ds.file_paths == [os.path.join(folder, rel) for rel, _, _ in FILES]
    assert len(ds) == 4
    sizes = [ds[i][0].shape[0] for i in range(4)]
    assert sizes == [4, 4, 4, 3]
    images, labels = _all(ds)
    assert images.dtype == np.float32 and images.shape == (15, 6, 8, 3)
    assert labels.dtype == np.int32 and labels.shape == (15,)
    np.testing.assert_array_equal(labels, LABELS)
    assert ds[-1][0].shape[0] == 3
    with pytest.raises(IndexError):
        ds[4]


def test_categorical_binary_and_no_labels(photos):
    folder, _ = photos
    _, onehot = _all(_load(folder, label_mode="categorical", shuffle=False))
    assert onehot.dtype == np.float32 and onehot.shape == (15, 3)
    np.testing.assert_array_equal(onehot, np.eye(3)[LABELS])

    ds = _load(folder, label_mode="binary", class_names=["c_cls", "a_cls"], shuffle=False)
    assert ds.class_names == ["c_cls", "a_cls"]
    assert [os.path.relpath(p, folder)[0] for p in ds.file_paths] == ["c"] * 5 + ["a"] * 5
    _, binary = _all(ds)
    assert binary.dtype == np.float32 and binary.shape == (10, 1)
    np.testing.assert_array_equal(binary[:, 0], [0] * 5 + [1] * 5)

    # Without labels Keras lists the whole tree, files at the top included, and has no classes.
    ds = _load(folder, label_mode=None, shuffle=False)
    assert ds.class_names is None
    assert ds.file_paths[0] == os.path.join(folder, "root.png") and len(ds.file_paths) == 16
    images = ds[0]
    assert isinstance(images, np.ndarray) and images.shape == (16, 6, 8, 3)
    assert _load(folder, labels=None, shuffle=False).file_paths == ds.file_paths


def test_labels_list_follows_sorted_file_order(photos):
    folder, _ = photos
    given = [1, 0, 0, 1, 1, 0, 1, 0, 1, 1, 0, 0, 1, 0, 1, 1]  # root.png first, then FILES
    ds = _load(folder, labels=given, label_mode="binary", shuffle=False)
    assert ds.class_names == ["0", "1"]
    assert ds.file_paths[0] == os.path.join(folder, "root.png")
    np.testing.assert_array_equal(_all(ds)[1][:, 0], given)


def test_pixels_equal_the_files_at_their_own_size(same_size):
    folder, pixels = same_size
    rgb, _ = _all(_load(folder, shuffle=False))
    gray, _ = _all(_load(folder, shuffle=False, color_mode="grayscale"))
    rgba, _ = _all(_load(folder, shuffle=False, color_mode="rgba"))
    assert rgb.shape == (6, 6, 8, 3) and gray.shape == (6, 6, 8, 1) and rgba.shape == (6, 6, 8, 4)
    for i, raw in enumerate(pixels):
        raw = raw.astype(np.float32)
        if raw.ndim == 2:  # a grayscale file: as it is in grayscale, copied to every colour channel otherwise
            np.testing.assert_array_equal(gray[i, :, :, 0], raw)
            np.testing.assert_array_equal(rgb[i], np.repeat(raw[:, :, None], 3, axis=2))
            np.testing.assert_array_equal(rgba[i, :, :, 3], 255)
            continue
        np.testing.assert_array_equal(rgb[i], raw[:, :, :3])  # RGBA to RGB drops the alpha channel
        expected_rgba = raw if raw.shape[2] == 4 else np.concatenate([raw, np.full((6, 8, 1), 255.0)], axis=2)
        np.testing.assert_array_equal(rgba[i], expected_rgba)
        luma = raw[:, :, 0] * 0.299 + raw[:, :, 1] * 0.587 + raw[:, :, 2] * 0.114  # ITU-R 601-2, rounded
        np.testing.assert_allclose(gray[i, :, :, 0], luma, atol=0.51)


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest", "bicubic", "lanczos3"])
@pytest.mark.parametrize("fit", [{}, {"crop_to_aspect_ratio": True}, {"pad_to_aspect_ratio": True}])
def test_enlarging_matches_keras_resize(same_size, interpolation, fit):
    folder, pixels = same_size
    # 6x8 files to 10x24: every case enlarges (the crop keeps 3x8, the pad makes 6x14), and no output
    # pixel centre falls exactly between two input pixels, where 'nearest' could pick either.
    images, _ = _all(_load(folder, shuffle=False, image_size=(10, 24), interpolation=interpolation.upper(), **fit))
    for i, raw in enumerate(pixels):
        raw = raw.astype(np.float32)
        raw = np.repeat(raw[:, :, None], 3, axis=2) if raw.ndim == 2 else raw[:, :, :3]
        expected = keras.ops.image.resize(raw, (10, 24), interpolation=interpolation, **fit)
        np.testing.assert_allclose(images[i], np.asarray(expected), atol=1e-3)


def test_shrinking_area_is_block_means_and_others_follow_pillow(same_size):
    folder, pixels = same_size
    area, _ = _all(_load(folder, shuffle=False, image_size=(3, 4), interpolation="area", color_mode="grayscale"))
    gray = [np.asarray(Image.fromarray(p).convert("L"), dtype=np.float64) for p in pixels]
    for i, raw in enumerate(gray):
        np.testing.assert_allclose(area[i, :, :, 0], raw.reshape(3, 2, 4, 2).mean(axis=(1, 3)), atol=1e-3)
    for name, pillow_filter in [("bilinear", Image.Resampling.BILINEAR), ("bicubic", Image.Resampling.BICUBIC)]:
        small, _ = _all(_load(folder, shuffle=False, image_size=(4, 5), interpolation=name, color_mode="grayscale"))
        for i, raw in enumerate(gray):  # Pillow's 8-bit result rounds after each of its two passes
            expected = np.asarray(Image.fromarray(raw.astype(np.uint8)).resize((5, 4), pillow_filter))
            np.testing.assert_allclose(small[i, :, :, 0], expected, atol=1.0)
            assert np.abs(small[i, :, :, 0] - expected).mean() < 0.5


def test_unbatched_items_and_shapes_per_color_mode(photos):
    folder, _ = photos
    ds = _load(folder, batch_size=None, shuffle=False, image_size=(5, 7), color_mode="grayscale",
               label_mode="categorical")
    assert len(ds) == 15
    image, label = ds[14]
    assert image.shape == (5, 7, 1) and label.shape == (3,)
    np.testing.assert_array_equal(label, [0, 0, 1])
    image, label = _load(folder, batch_size=None, shuffle=False, color_mode="rgba")[0]
    assert image.shape == (6, 8, 4) and label.shape == () and label == 0


def test_validation_split_subsets_are_disjoint_and_complete(photos, capsys):
    folder, _ = photos
    common = dict(validation_split=0.2, seed=7, verbose=True)
    train = _load(folder, subset="training", **common)
    assert capsys.readouterr().out == "Found 15 files belonging to 3 classes.\nUsing 12 files for training.\n"
    val = _load(folder, subset="validation", **common)
    assert capsys.readouterr().out.endswith("Using 3 files for validation.\n")
    assert len(train.file_paths) == 12 and len(val.file_paths) == 3
    assert not set(train.file_paths) & set(val.file_paths)
    assert set(train.file_paths) | set(val.file_paths) == {os.path.join(folder, rel) for rel, _, _ in FILES}
    assert train.file_paths != sorted(train.file_paths)  # shuffled before the split
    both = _load(folder, subset="both", **common)
    assert isinstance(both, tuple)
    assert both[0].file_paths == train.file_paths and both[1].file_paths == val.file_paths
    class_of = {os.path.join(folder, rel): LABELS[i] for i, (rel, _, _) in enumerate(FILES)}
    for ds in both:
        np.testing.assert_array_equal(_all(ds)[1], [class_of[p] for p in ds.file_paths])
    # Unshuffled, no seed is needed and the validation files are the last ones in sorted order.
    val = _load(folder, subset="validation", validation_split=0.2, shuffle=False)
    assert val.file_paths == [os.path.join(folder, rel) for rel, _, _ in FILES[-3:]]


def test_seed_repeats_runs_and_epochs_reshuffle(photos):
    folder, _ = photos

    def epochs(ds, count=3):
        out = []
        for _ in range(count):
            out.append(_all(ds))
            ds.on_epoch_end()
        return out

    first, again = epochs(_load(folder, seed=5, batch_size=4)), epochs(_load(folder, seed=5, batch_size=4))
    for (x1, y1), (x2, y2) in zip(first, again):
        np.testing.assert_array_equal(x1, x2)
        np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(first[0][1], first[1][1])  # a new order each epoch ...
    assert sorted(first[0][1]) == sorted(first[1][1]) == LABELS  # ... of the same files
    assert _load(folder, seed=5).file_paths != _load(folder, seed=6).file_paths
    fixed = epochs(_load(folder, shuffle=False, batch_size=4), 2)
    np.testing.assert_array_equal(fixed[0][1], fixed[1][1])
    _, val = _load(folder, subset="both", validation_split=0.4, seed=5)
    val_epochs = epochs(val, 2)
    np.testing.assert_array_equal(val_epochs[0][0], val_epochs[1][0])  # validation keeps its order


def test_batches_load_lazily(tmp_path):
    rng = np.random.default_rng(2)
    os.makedirs(tmp_path / "k")
    for i in range(4):
        _write(tmp_path / "k" / f"{i}.png", "RGB", (6, 8), rng)
    ds = _load(str(tmp_path), batch_size=2, shuffle=False)
    os.remove(tmp_path / "k" / "3.png")
    assert ds[0][0].shape == (2, 6, 8, 3)
    with pytest.raises(FileNotFoundError):
        ds[1]


def test_keras_2_alias():
    assert scanfit.preprocessing.image_dataset_from_directory is image_dataset_from_directory


@pytest.mark.parametrize("kwargs, match", [
    (dict(label_mode="sparse"), "label_mode"),
    (dict(label_mode="binary"), "label_mode='binary' needs exactly 2 classes"),
    (dict(labels=[0, 1, 1]), "labels has 3 entries but .* holds 16 image files"),
    (dict(labels=np.zeros(16, int)), "labels must be 'inferred', None, or a list"),
    (dict(labels=[0] * 16, class_names=["a_cls"]), "class_names"),
    (dict(class_names=["a_cls", "nope"]), "class_names"),
    (dict(interpolation="cubic"), "interpolation"),
    (dict(interpolation="lanczos5"), "interpolation.*Pillow has no such filter"),
    (dict(subset="training"), "validation_split and subset"),
    (dict(validation_split=0.2), "validation_split and subset"),
    (dict(validation_split=0.2, subset="training"), "give a seed"),
    (dict(validation_split=0.2, subset="train", seed=1), "subset"),
    (dict(validation_split=1.5, subset="training", seed=1), "validation_split"),
    (dict(validation_split=0.01, subset="training", seed=1), "validation_split=0.01 .* leaves no file"),
    (dict(color_mode="bgr"), "color_mode"),
    (dict(batch_size=0), "batch_size"),
    (dict(image_size=(6,)), "image_size"),
    (dict(crop_to_aspect_ratio=True, pad_to_aspect_ratio=True), "crop_to_aspect_ratio and pad_to_aspect_ratio"),
    (dict(data_format="channels_first"), "data_format"),
])
def test_bad_arguments_are_refused_by_name(photos, kwargs, match):
    folder, _ = photos
    with pytest.raises(ValueError, match=match):
        _load(folder, **kwargs)


def test_missing_folder_and_folder_without_images(tmp_path):
    with pytest.raises(ValueError, match="directory=.*not an existing folder"):
        image_dataset_from_directory(str(tmp_path / "absent"))
    os.makedirs(tmp_path / "only_text")
    (tmp_path / "only_text" / "a.txt").write_text("x")
    with pytest.raises(ValueError, match="no image files in directory="):
        image_dataset_from_directory(str(tmp_path), verbose=False)


def test_follow_links_and_hidden_folders(tmp_path):
    rng = np.random.default_rng(3)
    for rel in ["data/k/0.png", "data/.cache/1.png", "elsewhere/2.png"]:
        os.makedirs(os.path.dirname(tmp_path / rel), exist_ok=True)
        _write(tmp_path / rel, "L", (6, 8), rng)
    os.symlink(tmp_path / "elsewhere", tmp_path / "data" / "k" / "linked")
    folder = str(tmp_path / "data")
    plain = _load(folder, shuffle=False)
    assert plain.class_names == ["k"]  # folders starting with '.' are no class
    assert plain.file_paths == [os.path.join(folder, "k", "0.png")]
    linked = _load(folder, shuffle=False, follow_links=True)
    assert linked.file_paths == [os.path.join(folder, "k", "0.png"), os.path.join(folder, "k", "linked", "2.png")]
