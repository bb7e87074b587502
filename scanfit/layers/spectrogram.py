"""Audio front ends: `STFTSpectrogram` (a short-time Fourier transform by strided convolution with trainable
kernels) and `MelSpectrogram` (a fixed mel-scaled power spectrogram), computed as Keras 3 computes them."""
import math

import jax
import jax.numpy as jnp
import numpy as np

from scanfit import checks, initializers
from scanfit.layers.base import Layer
from scanfit.layers.convolution import data_format_of
from scanfit.layers.input_spec import InputSpec

STFT_MODES = ("log", "magnitude", "psd", "real", "imag", "angle", "stft")
_EPSILON = 1e-7  # Keras's backend epsilon: the floor of the power and magnitude before a square root or log
_MEL_BREAK_FREQUENCY_HERTZ = 700.0
_MEL_HIGH_FREQUENCY_Q = 1127.0


def _check_window(window, name):
    if isinstance(window, str) and window not in initializers.WINDOWS:
        raise ValueError(f"{name} window must be one of {initializers.WINDOWS} (scanfit has no SciPy windows), an "
                         f"array of frame values, or None; got {window!r}.")


class STFTSpectrogram(Layer):
    """Spectrograms of each channel of a signal (batch, time, channels), by convolution with the kernels of the
    `STFT` initializer: ``real_kernel`` and ``imag_kernel`` (frame_length, 1, fft_length // 2 + 1), trainable.

    `mode`: 'real', 'imag', 'angle', 'stft' (real then imaginary bins), 'psd' (the power, its inner bins
    doubled), 'magnitude' or 'log' (of the magnitude); a frame every `frame_step` samples (default half a
    frame), `padding` 'valid' or 'same'. Outputs (batch, frames, channels * bins), or with `expand_dims`
    (batch, frames, bins, channels); channels first, (batch, channels * bins, frames) and (batch, channels,
    frames, bins), as in Keras.
    """

    def __init__(self, mode="log", frame_length=256, frame_step=None, fft_length=None, window="hann",
                 periodic=False, scaling="density", padding="valid", expand_dims=False, data_format=None, **kwargs):
        frame_length = checks.int_at_least("STFTSpectrogram frame_length", frame_length, 1, allow_none=False)
        frame_step = checks.int_at_least("STFTSpectrogram frame_step", frame_step, 1)
        fft_length = checks.int_at_least("STFTSpectrogram fft_length", fft_length, 1)
        if frame_step is not None and frame_step > frame_length:
            raise ValueError(f"STFTSpectrogram frame_step ({frame_step}) must not exceed frame_length "
                             f"({frame_length}).")
        if fft_length is not None and fft_length < frame_length:
            raise ValueError(f"STFTSpectrogram fft_length ({fft_length}) must be at least frame_length "
                             f"({frame_length}).")
        if mode not in STFT_MODES:
            raise ValueError(f"STFTSpectrogram mode must be one of {STFT_MODES}, got {mode!r}.")
        if scaling not in (None, "density", "spectrum"):
            raise ValueError(f"STFTSpectrogram scaling must be None, 'density' or 'spectrum', got {scaling!r}.")
        if padding not in ("valid", "same"):
            raise ValueError(f"STFTSpectrogram padding must be 'valid' or 'same', got {padding!r}.")
        _check_window(window, "STFTSpectrogram")
        super().__init__(**kwargs)
        self.mode, self.frame_length, self.frame_step, self.fft_length = mode, frame_length, frame_step, fft_length
        self.window, self.periodic, self.scaling, self.padding = window, periodic, scaling, padding
        self.expand_dims = bool(expand_dims)
        self.data_format = data_format_of(data_format)
        self.step = frame_step or frame_length // 2
        self.bins = (fft_length or 2 ** math.ceil(math.log2(frame_length))) // 2 + 1
        self.input_spec = InputSpec(ndim=3)

    def build(self, input_shape):
        for side, skipped_by in (("real", "imag"), ("imag", "real")):
            if self.mode != skipped_by:
                self.add_weight(name=f"{side}_kernel", shape=(self.frame_length, 1, self.bins),
                                initializer=initializers.STFT(side, self.window, self.scaling, self.periodic))

    def compute_output_shape(self, input_shape):
        batch = input_shape[0]
        time, channels = (input_shape[1], input_shape[2]) if self.data_format == "channels_last" else (
            input_shape[2], input_shape[1])
        bins = 2 * self.bins if self.mode == "stft" else self.bins
        if time is None:
            frames = None
        elif self.padding == "same":
            frames = -(-time // self.step)
        else:
            frames = (time - self.frame_length) // self.step + 1
        if self.data_format == "channels_last":
            return (batch, frames, bins, channels) if self.expand_dims else (
                batch, frames, None if channels is None else channels * bins)
        return (batch, channels, frames, bins) if self.expand_dims else (
            batch, None if channels is None else channels * bins, frames)

    def _convolved(self, x, kernel):
        """Each channel's frames against `kernel`: (batch, channels, frames, bins)."""
        signals = x if self.data_format == "channels_first" else jnp.swapaxes(x, 1, 2)
        batch, channels, time = signals.shape
        y = jax.lax.conv_general_dilated(signals.reshape(batch * channels, time, 1), kernel.astype(x.dtype),
                                         (self.step,), self.padding.upper(), dimension_numbers=("NWC", "WIO", "NWC"))
        return y.reshape(batch, channels, y.shape[1], y.shape[2])

    def pure_call(self, weights, x, *, training=False, rng=None):
        if x.dtype not in (jnp.float16, jnp.float32, jnp.float64):
            raise TypeError(f"STFTSpectrogram {self.name!r} takes float16, float32 or float64 signals, got {x.dtype}.")
        real = self._convolved(x, weights["real_kernel"]) if self.mode != "imag" else None
        imag = self._convolved(x, weights["imag_kernel"]) if self.mode != "real" else None
        if self.mode in ("real", "imag"):
            y = real if self.mode == "real" else imag
        elif self.mode == "angle":
            y = jnp.arctan2(imag, real)
        elif self.mode == "stft":
            y = jnp.concatenate([real, imag], axis=-1)
        else:
            power = jnp.square(real) + jnp.square(imag)
            if self.mode == "psd":
                y = power.at[..., 1:-1].multiply(2)
            else:
                y = jnp.sqrt(jnp.maximum(power, _EPSILON))
                if self.mode == "log":
                    y = jnp.log(jnp.maximum(y, _EPSILON))
        return self._arranged(y), {}

    def _arranged(self, y):
        """(batch, channels, frames, bins) in the output layout of the data format and `expand_dims`."""
        batch, channels, frames, bins = y.shape
        if self.data_format == "channels_last":
            if self.expand_dims:
                return jnp.transpose(y, (0, 2, 3, 1))
            return jnp.transpose(y, (0, 2, 1, 3)).reshape(batch, frames, channels * bins)
        if self.expand_dims:
            return y
        return jnp.swapaxes(y, 2, 3).reshape(batch, channels * bins, frames)

    def get_config(self):
        return {**super().get_config(), "mode": self.mode, "frame_length": self.frame_length,
                "frame_step": self.frame_step, "fft_length": self.fft_length, "window": self.window,
                "periodic": self.periodic, "scaling": self.scaling, "padding": self.padding,
                "data_format": self.data_format, "expand_dims": self.expand_dims}


class MelSpectrogram(Layer):
    """Mel spectrograms of signals (batch, samples) or (samples,): the `mag_exp` power of the magnitude of a
    centred, `window`ed short-time Fourier transform (a frame of `sequence_length` samples in `fft_length`, every
    `sequence_stride`), mapped to `num_mel_bins` HTK mel bands between `min_freq` and `max_freq` (default half
    the `sampling_rate`), then with `power_to_db` in decibels relative to `ref_power` (floored at `min_power`)
    and cut `top_db` below the largest value of the whole batch, as Keras does. Outputs (batch, num_mel_bins,
    frames), frames = samples // sequence_stride + 1. It has no weights."""

    def __init__(self, fft_length=2048, sequence_stride=512, sequence_length=None, window="hann",
                 sampling_rate=16000, num_mel_bins=128, min_freq=20.0, max_freq=None, power_to_db=True,
                 top_db=80.0, mag_exp=2.0, min_power=1e-10, ref_power=1.0, **kwargs):
        self.fft_length = checks.int_at_least("MelSpectrogram fft_length", fft_length, 1, allow_none=False)
        self.sequence_stride = checks.int_at_least("MelSpectrogram sequence_stride", sequence_stride, 1,
                                                   allow_none=False)
        self.sequence_length = (checks.int_at_least("MelSpectrogram sequence_length", sequence_length, 1)
                                or self.fft_length)
        if self.fft_length < self.sequence_length:
            raise ValueError(f"MelSpectrogram fft_length ({fft_length}) must be at least sequence_length "
                             f"({self.sequence_length}).")
        _check_window(window, "MelSpectrogram")
        self.num_mel_bins = checks.int_at_least("MelSpectrogram num_mel_bins", num_mel_bins, 1, allow_none=False)
        super().__init__(**kwargs)
        self.window, self.sampling_rate = window, sampling_rate
        self.min_freq, self.max_freq = min_freq, max_freq or int(sampling_rate / 2)
        self.power_to_db, self.top_db, self.mag_exp = power_to_db, top_db, mag_exp
        self.min_power, self.ref_power = min_power, ref_power

    def compute_output_shape(self, input_shape):
        """(batch, num_mel_bins, frames): the frames the computation gives (Keras 3.15's compute_output_shape
        counts one more when samples % sequence_stride == sequence_stride - 1)."""
        time = input_shape[-1]
        frames = None if time is None else time // self.sequence_stride + 1
        return tuple(input_shape[:-1]) + (self.num_mel_bins, frames)

    def pure_call(self, weights, x, *, training=False, rng=None):
        dtype = x.dtype if x.dtype in (jnp.float32, jnp.float64) else jnp.float32
        x = x.astype(dtype)
        spectrum = jnp.abs(self._stft(x))
        power = jnp.power(spectrum, self.mag_exp)
        mel = jnp.tensordot(power, self.mel_matrix(power.shape[-1], dtype), axes=1)
        if self.power_to_db:
            mel = self._decibels(mel)
        return jnp.swapaxes(mel, -1, -2).astype(self.compute_dtype), {}

    def _stft(self, x):
        """The centred (reflect-padded), windowed frames' one-sided FFT: (..., frames, fft_length // 2 + 1)."""
        n_fft, length = self.fft_length, self.sequence_length
        x = jnp.pad(x, [(0, 0)] * (x.ndim - 1) + [(n_fft // 2, n_fft // 2)], mode="reflect")
        starts = np.arange(0, x.shape[-1] - n_fft + 1, self.sequence_stride)
        frames = x[..., starts[:, None] + np.arange(n_fft)[None, :]]
        if self.window is not None:
            window = initializers.named_window(self.window, length, periodic=True) if isinstance(
                self.window, str) else np.asarray(self.window)
            if window.shape != (length,):
                raise ValueError(f"MelSpectrogram window must have shape (sequence_length,) = ({length},), got "
                                 f"{window.shape}.")
            before = (n_fft - length) // 2
            frames = frames * jnp.asarray(np.pad(window, (before, n_fft - length - before)), x.dtype)
        return jnp.fft.rfft(frames, n=n_fft)

    def mel_matrix(self, spectrogram_bins, dtype="float32"):
        """(spectrogram_bins, num_mel_bins) triangular HTK mel filters, each peaking at 1; the DC bin gets none."""
        def to_mel(hertz):
            return _MEL_HIGH_FREQUENCY_Q * jnp.log(1.0 + hertz / _MEL_BREAK_FREQUENCY_HERTZ)

        nyquist = jnp.asarray(self.sampling_rate, dtype) / 2.0
        bins_mel = to_mel(jnp.linspace(jnp.zeros((), dtype), nyquist, spectrogram_bins)[1:])[:, None]
        edges = jnp.linspace(to_mel(jnp.asarray(self.min_freq, dtype)), to_mel(jnp.asarray(self.max_freq, dtype)),
                             self.num_mel_bins + 2)
        lower, center, upper = edges[None, :-2], edges[None, 1:-1], edges[None, 2:]
        rising = (bins_mel - lower) / (center - lower)
        falling = (upper - bins_mel) / (upper - center)
        return jnp.pad(jnp.maximum(0.0, jnp.minimum(rising, falling)), [(1, 0), (0, 0)])

    def _decibels(self, power):
        decibels = 10.0 * jnp.log10(jnp.maximum(power, self.min_power))
        decibels = decibels - 10.0 * jnp.log10(jnp.maximum(abs(self.ref_power), self.min_power))
        return jnp.maximum(decibels, jnp.max(decibels) - self.top_db)

    def get_config(self):
        return {**super().get_config(), "fft_length": self.fft_length, "sequence_stride": self.sequence_stride,
                "sequence_length": self.sequence_length, "window": self.window, "sampling_rate": self.sampling_rate,
                "num_mel_bins": self.num_mel_bins, "min_freq": self.min_freq, "max_freq": self.max_freq,
                "power_to_db": self.power_to_db, "top_db": self.top_db, "mag_exp": self.mag_exp,
                "min_power": self.min_power, "ref_power": self.ref_power}
