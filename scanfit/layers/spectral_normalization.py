"""`SpectralNormalization`: a wrapper that divides a layer's kernel by its largest singular value (Miyato et
al. 2018), estimated by power iteration, as Keras 3 does it."""
import jax
import jax.numpy as jnp

from scanfit import initializers
from scanfit.layers.input_spec import InputSpec
from scanfit.layers.wrappers import Wrapper

_EPSILON = 1e-7  # Keras's backend epsilon, the floor of a norm in its l2 normalization


class SpectralNormalization(Wrapper):
    """Wraps a layer with a ``kernel`` (Dense, convolutions...) or ``embeddings`` (Embedding).

    A training call runs `power_iterations` steps of power iteration from the
    non-trainable ``vector_u`` (1, units), divides the kernel by the singular
    value estimate and computes with that kernel. The new ``vector_u`` and the
    divided kernel are stored by an eager training call; inside `fit`, as in
    Keras on JAX, only ``vector_u`` is kept (the optimizer owns the kernel). An
    all-zero kernel is left as it is. Inference uses the stored kernel.
    Weights, as in Keras: the kernel, ``vector_u``, then the wrapped layer's others.
    """

    def __init__(self, layer, power_iterations=1, **kwargs):
        super().__init__(layer, **kwargs)
        if isinstance(power_iterations, bool) or not isinstance(power_iterations, int) or power_iterations <= 0:
            raise ValueError(f"SpectralNormalization power_iterations must be a positive integer, got "
                             f"{power_iterations!r}.")
        if layer.calls_keras_style:
            raise ValueError(f"SpectralNormalization wraps scanfit's built-in layers (Dense, Conv2D, Embedding...); "
                             f"{type(layer).__name__} is a user layer with its own call(), which it cannot wrap.")
        self.power_iterations = power_iterations
        self.vector_u_initializer = initializers.TruncatedNormal(stddev=0.02)
        self.kernel_name = None

    def build(self, input_shape):
        super().build(input_shape)
        self.input_spec = InputSpec(min_ndim=1, axes={-1: input_shape[-1]})
        names = [v.short_name for v in self.layer.weights]
        self.kernel_name = next((name for name in ("kernel", "embeddings") if name in names), None)
        if self.kernel_name is None:
            raise ValueError(f"SpectralNormalization needs a layer with a 'kernel' or 'embeddings' weight; "
                             f"{type(self.layer).__name__} {self.layer.name!r} has {names}.")
        kernel = self.layer.weights[names.index(self.kernel_name)]
        self._variables.extend(self.layer.weights)
        self.add_weight(name="vector_u", shape=(1, kernel.shape[-1]), dtype=kernel.dtype, trainable=False,
                        initializer=self.vector_u_initializer)

    @property
    def own_weights(self):
        """Keras's order: the kernel (which Keras's wrapper also holds itself), ``vector_u``, the layer's others."""
        if self.kernel_name is None:  # not built yet
            return list(self._variables)
        by_name = {v.short_name: v for v in self._variables}
        first = [by_name[self.kernel_name], by_name["vector_u"]]
        return first + [v for v in self.layer.weights if v is not first[0]]

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)

    def weights_in_file(self):
        """Keras 3's ``.weights.h5`` layout: the kernel and ``vector_u`` in the wrapper's own group, then the
        wrapped layer's groups under layer/ (so the kernel is written twice, as Keras writes it)."""
        return [("vars", self.name, self.own_weights[:2])] + [
            (f"layer/{group}", name, variables) for group, name, variables in self.layer.weights_in_file()]

    def normalized(self, kernel, vector_u):
        """``(new vector_u, kernel / sigma)`` after the power iterations."""
        matrix = kernel.reshape(-1, kernel.shape[-1])
        for _ in range(self.power_iterations):
            vector_v = _l2_normalize(vector_u @ matrix.T)
            vector_u = _l2_normalize(vector_v @ matrix)
        vector_u, vector_v = jax.lax.stop_gradient(vector_u), jax.lax.stop_gradient(vector_v)
        sigma = vector_v @ matrix @ vector_u.T
        return vector_u, (matrix / sigma).reshape(kernel.shape)

    def pure_call(self, weights, x, *, training=False, rng=None):
        inner = {name: value for name, value in weights.items() if name != "vector_u"}
        updates = {}
        if training:
            kernel, vector_u = inner[self.kernel_name], weights["vector_u"]
            vector_u, kernel = jax.lax.cond(jnp.all(kernel == 0), lambda: (vector_u, kernel),
                                            lambda: self.normalized(kernel, vector_u))
            inner[self.kernel_name] = kernel
            updates = {"vector_u": vector_u, self.kernel_name: kernel}
        y, inner_updates = self.layer.pure_call(inner, x, training=training, rng=rng)
        return y, {**inner_updates, **updates}

    def get_config(self):
        return {**super().get_config(), "power_iterations": self.power_iterations}


def _l2_normalize(x):
    """`x` divided by its L2 norm over all its entries (a norm under Keras's epsilon counts as epsilon)."""
    return x * jnp.minimum(jax.lax.rsqrt(jnp.sum(jnp.square(x))), 1.0 / _EPSILON)
