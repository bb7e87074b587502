"""`ops.stft`/`istft`, `fold`/`unfold`, `rearrange` and the `keras.ops.<namespace>` modules beyond test_ops.py's
CASES: their mathematical properties where Keras 3.15 is wrong, and their errors."""
import inspect

import keras
import numpy as np
import pytest

import scanfit
import scanfit.ops.numpy
from scanfit import image_ops, ops

RNG = np.random.default_rng(5)
SIGNAL = RNG.normal(size=(2, 40)).astype("float32")
IMAGES = RNG.normal(size=(2, 3, 7, 6)).astype("float32")  # (batch, channels, height, width)


@pytest.mark.parametrize("window, center", [("hann", True), ("hamming", False), (None, True), (None, False)])
def test_istft_inverts_stft(window, center):
    """With the rectangular window (window=None), Keras 3.15 on JAX gives fft_length / sequence_stride times the
    signal (its scaling divides by the stride instead of the window's sum); scanfit gives the signal, and
    Keras's result divided by that factor."""
    spectrum = ops.stft(SIGNAL, 8, 4, 8, window=window, center=center)
    signal = np.asarray(ops.istft(spectrum, 8, 4, 8, length=40 if center else None, window=window, center=center))
    covered = slice(4, 36) if not center else slice(None)  # (uncentred, the first and last samples lie in one frame)
    np.testing.assert_allclose(signal[:, covered], SIGNAL[:, covered], atol=2e-6)
    if window is None:
        keras_signal = keras.ops.istft(spectrum, 8, 4, 8, window=None, center=center)
        np.testing.assert_allclose(signal, np.asarray(keras_signal)[:, :signal.shape[1]] / (8 / 4), atol=2e-6)


def test_stft_refuses_what_keras_refuses():
    with pytest.raises(TypeError, match="float32 or float64"):
        ops.stft(SIGNAL.astype("int32"), 8, 4, 8)
    with pytest.raises(ValueError, match="fft_length \\(4\\) must be at least sequence_length \\(8\\)"):
        ops.stft(SIGNAL, 8, 4, 4)
    with pytest.raises(ValueError, match="'hann' or 'hamming'"):
        ops.stft(SIGNAL, 8, 4, 8, window="blackman")
    with pytest.raises(ValueError, match="shape \\(sequence_length,\\) = \\(8,\\)"):
        ops.istft(ops.stft(SIGNAL, 8, 4, 8), 8, 4, 8, window=np.ones(7))


def test_fold_is_the_transpose_of_unfold():
    """<unfold(x), y> = <x, fold(y)> for every x and y (col2im is im2col's adjoint), also where the blocks do not
    reach the images' last rows: there Keras 3.15 on JAX returns images smaller than output_size, the rows
    that it does return equal to scanfit's."""
    for kwargs in ({"kernel_size": 3}, {"kernel_size": 2, "stride": 2}, {"kernel_size": (2, 3), "dilation": (2, 1),
                                                                          "padding": 1, "stride": (1, 3)}):
        blocks = ops.unfold(IMAGES, **kwargs)
        other = RNG.normal(size=blocks.shape).astype("float32")
        folded = np.asarray(ops.fold(other, (7, 6), **kwargs))
        assert folded.shape == IMAGES.shape
        np.testing.assert_allclose(np.sum(np.asarray(blocks) * other), np.sum(IMAGES * folded), rtol=1e-5)
        keras_folded = np.asarray(keras.ops.fold(other, (7, 6), **kwargs))
        np.testing.assert_allclose(folded[:, :, :keras_folded.shape[2], :keras_folded.shape[3]], keras_folded,
                                   rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(ops.fold(ops.unfold(IMAGES, 2, stride=2), (7, 6), 2, stride=2)[:, :, 6], 0.0)
    with pytest.raises(ValueError, match="have 36 blocks of this kernel_size, dilation, padding and stride, but x "
                                         "has 20"):
        ops.fold(ops.unfold(IMAGES, 3), (8, 8), 3)
    with pytest.raises(ValueError, match="takes \\(batch, channels, height, width\\)"):
        ops.unfold(IMAGES[0], 3)


def test_rearrange_refuses_patterns_it_cannot_follow():
    for pattern, kwargs, message in (
        ("b h w c -> b c h", {}, "each axis must appear once on each side"),
        ("b h w c -> b h w c c", {}, "each axis must appear once on each side"),
        ("b h w -> b w h", {}, "names 3 axes, the tensor has shape"),
        ("b (h h1) (w w1) c -> b h w (c h1 w1)", {"h1": 2}, "give the lengths of all axes but one of \\(w w1\\)"),
        ("b (h h1) w c -> b h w (c h1)", {"h1": 4}, "an axis of size 6 cannot be \\(h h1\\)"),
        ("b h w c -> b h w c", {"k": 2}, "\\['k'\\] are not axes of"),
        ("b ... c -> b c ...", {}, "named axes and parenthesized groups"),
        ("b h w c", {}, "'input axes -> output axes'"),
    ):
        with pytest.raises(ValueError, match=message):
            ops.rearrange(RNG.normal(size=(2, 6, 8, 4)), pattern, **kwargs)


@pytest.mark.parametrize("name", ["nn", "numpy", "linalg", "image"])
def test_namespaces_hold_the_operations_keras_puts_there(name):
    """keras.ops.<name> and scanfit.ops.<name> hold the same names (those scanfit.ops has), each scanfit's one."""
    keras_names = {n for n in dir(getattr(keras.ops, name)) if not n.startswith("_")}
    namespace = getattr(ops, name)
    if name == "image":
        ours = {n for n, value in vars(image_ops).items()
                if not n.startswith("_") and getattr(value, "__module__", None) == image_ops.__name__}
        assert ours <= keras_names
        assert {n for n in keras_names if hasattr(ops.image, n)} == ours
        return
    ours = {n for n in dir(namespace) if not n.startswith("_")}
    assert ours <= keras_names, sorted(ours - keras_names)
    assert {n for n in keras_names if hasattr(ops, n)} == ours
    for n in ours:
        assert getattr(namespace, n) is getattr(ops, n), n
        assert list(inspect.signature(getattr(namespace, n)).parameters) == list(
            inspect.signature(getattr(getattr(keras.ops, name), n)).parameters), n
    assert scanfit.ops.numpy.add is ops.add


def test_signal_and_block_operations_on_keras_inputs_build_a_model_as_in_keras():
    outputs = []
    for library in (scanfit, keras):
        signal, images = library.Input((40,)), library.Input((3, 7, 6))
        spectrum = library.ops.stft(signal, 8, 4, 8)
        model = library.Model([signal, images], [library.ops.istft(spectrum, 8, 4, 8, length=40),
                                                 library.ops.fold(library.ops.unfold(images, 3), (7, 6), 3),
                                                 library.ops.view(images, "int32")])
        outputs.append(model.predict([SIGNAL, IMAGES], verbose=0))
    for got, want in zip(*outputs):
        assert got.dtype == want.dtype
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
