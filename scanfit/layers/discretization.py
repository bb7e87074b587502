"""`Discretization`: numbers to the index of their bin, or to one-hot, multi-hot or count vectors over the bins
(Hands-on ML's preprocessing chapter), as Keras 3 computes them on JAX.

Bins are given (`bin_boundaries`) or learnt by `adapt` (`num_bins` bins of
about equal counts). `adapt` follows Keras's quantile summaries: each batch is
summarized by its sorted values taken at steps of ``epsilon`` of its size,
summaries are merged and re-cut at cumulative-weight fractions ``epsilon, 2
epsilon, ..., 1``, and the final cut at fractions of ``1 / num_bins`` gives the
boundaries; so the boundaries equal Keras's for the same batches.
"""
import jax.numpy as jnp
import numpy as np

from scanfit import checks
from scanfit.layers.base import Layer
from scanfit.layers.category_encoding import encode, encoded_shape
from scanfit.utils.py_dataset import batches_of

MODES = ("int", "one_hot", "multi_hot", "count")


class Discretization(Layer):
    """Maps each value to the index ``i`` of its bin, ``bin_boundaries[i - 1] <= x < bin_boundaries[i]`` (0 below
    the first boundary), or encodes those indices ('one_hot', 'multi_hot', 'count').

    Args:
        bin_boundaries: the sorted boundaries (n boundaries make n + 1 bins); or give `num_bins` and `adapt`.
        num_bins: how many bins `adapt` makes.
        epsilon: the error tolerance of `adapt`'s quantile summaries (Keras's default 0.01).
        output_mode: 'int' (int32 indices), 'one_hot', 'multi_hot' or 'count'.
        sparse: must be False (scanfit has no sparse tensors).
    """

    def __init__(self, bin_boundaries=None, num_bins=None, epsilon=0.01, output_mode="int", sparse=False, **kwargs):
        super().__init__(**kwargs)
        if output_mode not in MODES:
            raise ValueError(f"Discretization output_mode must be one of {MODES}, got {output_mode!r}.")
        if sparse:
            raise ValueError("Discretization(sparse=True) is not supported: scanfit has no sparse tensors.")
        if (num_bins is None) == (bin_boundaries is None):
            raise ValueError("Discretization needs either bin_boundaries (the bins' edges) or num_bins (then call "
                             f"adapt), not {'both' if num_bins is not None else 'neither'}.")
        self.num_bins = checks.int_at_least("num_bins", num_bins, 0)
        self.epsilon = checks.in_range("epsilon", epsilon, 0, 1, low_open=True)
        if bin_boundaries is not None:
            bin_boundaries = [float(b) for b in bin_boundaries]
            if bin_boundaries != sorted(bin_boundaries):
                raise ValueError(f"Discretization bin_boundaries must be sorted, got {bin_boundaries}.")
        self.bin_boundaries = bin_boundaries
        self.output_mode, self.sparse = output_mode, False

    @property
    def output_dtype(self):
        return "int32" if self.output_mode == "int" else self.compute_dtype

    def adapt(self, data, steps=None):
        """Learn `num_bins` bins of about equal counts from `data`: an array, or an iterable (a list too, as in
        Keras) of batches, of which `steps` are read if given."""
        if self.num_bins is None:
            raise ValueError("Cannot adapt a Discretization given bin_boundaries; give num_bins instead.")
        steps = checks.int_at_least("steps", steps, 1)
        if isinstance(data, np.ndarray) or hasattr(data, "__jax_array__"):  # a list is batches, as in Keras
            if steps is not None:
                raise ValueError("adapt(steps=...) is for an iterable of batches; give arrays whole.")
            batches = [data]
        else:
            batches = batches_of(data, steps)
        summary = _EMPTY
        for batch in batches:
            summary = _merged(_summarized(np.asarray(batch, dtype=np.float32), self.epsilon), summary, self.epsilon)
        self.bin_boundaries = _compressed(summary, 1.0 / self.num_bins)[0, :-1].tolist()

    def compute_output_shape(self, input_shape):
        if self.output_mode == "int":
            return tuple(input_shape)
        return encoded_shape(input_shape, self._num_tokens(), self.output_mode)

    def _num_tokens(self):
        return len(self.bin_boundaries) + 1 if self.bin_boundaries is not None else self.num_bins

    def pure_call(self, weights, x, *, training=False, rng=None):
        if self.bin_boundaries is None:
            raise ValueError(f"Discretization {self.name!r} has no bins yet: give bin_boundaries or call adapt() "
                             "before using it.")
        indices = jnp.digitize(x, jnp.asarray(self.bin_boundaries, jnp.float32)).astype(jnp.int32)
        if self.output_mode == "int":
            return indices, {}
        return encode(indices, self._num_tokens(), self.output_mode, self.compute_dtype), {}

    def get_config(self):
        config = {**super().get_config(), "bin_boundaries": self.bin_boundaries, "num_bins": self.num_bins,
                  "epsilon": self.epsilon, "output_mode": self.output_mode, "sparse": False}
        del config["trainable"]  # Keras's Discretization takes no trainable argument, so its files carry none
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if config.get("bin_boundaries") is not None and config.get("num_bins") is not None:
            boundaries = config.pop("bin_boundaries")  # an adapted layer's config holds both, as Keras's does
            layer = cls(**config)
            layer.bin_boundaries = [float(b) for b in boundaries]
            return layer
        return cls(**config)


_EMPTY = np.zeros((2, 0), dtype=np.float32)


def _summarized(values, epsilon):
    """A batch's summary: its sorted values at steps of `epsilon` of its size (each weighing the step), or all of
    them (weight 1) when there are fewer than ``1 / epsilon``."""
    values = np.sort(values.ravel())
    step = max(values.size * epsilon, 1)
    picked = values[int(step - 1)::int(step)]
    return np.stack([picked, np.full(picked.shape, step, dtype=picked.dtype)])


def _merged(first, second, epsilon):
    both = np.concatenate([first, second], axis=1)
    return _compressed(both[:, np.argsort(both[0])], epsilon)


def _compressed(summary, epsilon):
    """`summary` re-cut at cumulative-weight fractions ``epsilon, 2 epsilon, ..., 1`` (unchanged when it has fewer
    than ``1 / epsilon`` entries)."""
    if summary.shape[1] * epsilon < 1:
        return summary
    fractions = epsilon + np.arange(0.0, 1.0, epsilon)
    cumulative = summary[1].cumsum()
    positions = cumulative / cumulative[-1]
    edges = np.interp(fractions, positions, summary[0])
    weights = np.diff(np.interp(fractions, positions, cumulative), prepend=0.0)
    return np.stack([edges, weights]).astype(np.float32)
