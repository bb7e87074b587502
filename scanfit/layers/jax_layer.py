"""`JaxLayer`: a layer computed by JAX functions of your own, as Keras 3 has it.

    def init_fn(rng, inputs):                       # the parameters, a pytree of arrays
        return {"w": jax.random.normal(rng, (inputs.shape[-1], 10)) * 0.1, "b": jnp.zeros(10)}

    def call_fn(params, inputs):
        return inputs @ params["w"] + params["b"]

    layer = keras.layers.JaxLayer(call_fn, init_fn)   # or JaxLayer(call_fn, params=params)

`call_fn` takes some of ``params``, ``state``, ``rng``, ``inputs`` (required) and ``training``, by those names
in any order; with ``state`` it returns ``(outputs, new_state)``. `init_fn` takes some of ``rng``, ``inputs``
(required) and ``training`` and returns the params, or ``(params, state)`` when `call_fn` takes a state; it runs
at build time on ones shaped like the inputs (unknown sizes 1) with ``training=True``. Each array leaf of the
params becomes a trainable weight, of the state a non-trainable one, in the order of their pytree's leaves (so
weights files line up with Keras's); other leaves stay as they are. ``rng`` is a random key while training
(new each step, inside the compiled epoch) and None at inference.

The functions are Python code: a model holding a JaxLayer saves its weights, but not its architecture (scanfit
never runs code from a file it loads), so `model.save` refuses it; `save_weights` works.
"""
import inspect

import jax
import jax.numpy as jnp
import numpy as np

from scanfit import seeding as scanfit_random
from scanfit.layers.base import Layer

CALL_ARGUMENTS = ("params", "state", "rng", "inputs", "training")
INIT_ARGUMENTS = ("rng", "inputs", "training")


def argument_names(fn, what, allowed):
    """`fn`'s parameter names, checked: each among `allowed`, ``inputs`` among them."""
    if not callable(fn):
        raise TypeError(f"JaxLayer {what} must be a function, got {fn!r}.")
    names = list(inspect.signature(fn).parameters)
    unknown = [name for name in names if name not in allowed]
    if unknown:
        raise ValueError(f"JaxLayer {what} takes {unknown}, which JaxLayer cannot give: its arguments must be named "
                         f"among {', '.join(allowed)}.")
    if "inputs" not in names:
        raise ValueError(f"JaxLayer {what} must take an argument named `inputs`.")
    return names


def _is_shape(value):
    return isinstance(value, tuple) and all(d is None or isinstance(d, int) for d in value)


def _is_array(value):
    return isinstance(value, (jax.Array, np.ndarray, np.generic, bool, int, float))


class JaxLayer(Layer):
    """A layer computed by `call_fn` on parameters from `init_fn` or given as `params`/`state` (module docstring)."""

    def __init__(self, call_fn, init_fn=None, params=None, state=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.call_fn, self.init_fn, self.seed = call_fn, init_fn, seed
        self.call_fn_arguments = argument_names(call_fn, "call_fn", CALL_ARGUMENTS)
        self.init_fn_arguments = None if init_fn is None else argument_names(init_fn, "init_fn", INIT_ARGUMENTS)
        takes_values = "params" in self.call_fn_arguments or "state" in self.call_fn_arguments
        if takes_values and init_fn is None and params is None and state is None:
            raise ValueError("JaxLayer needs init_fn, params or state when call_fn takes `params` or `state`.")
        self.params_tree = self.state_tree = None  # the pytrees, with each array leaf's weight name in its place
        if params is not None or state is not None:
            self.params_tree = self._weights_for(params, trainable=True)
            self.state_tree = self._weights_for(state, trainable=False)

    def _weights_for(self, values, trainable):
        """`values` with each array leaf made a weight of this layer (replaced by the weight's name)."""
        def make(value):
            if not _is_array(value):
                return value
            value = np.asarray(value)
            dtype = None if np.issubdtype(value.dtype, np.floating) else value.dtype
            variable = self.add_weight(value.shape, initializer=lambda shape, dtype=None: jnp.asarray(value, dtype),
                                       dtype=dtype, trainable=trainable, name="param" if trainable else "state")
            return WeightName(variable.short_name)

        return jax.tree.map(make, values)

    def build(self, input_shape):
        if self.params_tree is not None or self.state_tree is not None or self.init_fn is None:
            return
        ones = jax.tree.map(lambda shape: jnp.ones(tuple(1 if d is None else d for d in shape)), input_shape,
                            is_leaf=_is_shape)
        given = {"rng": scanfit_random.next_key(), "inputs": ones, "training": True}
        result = self.init_fn(*(given[name] for name in self.init_fn_arguments))
        params, state = result if "state" in self.call_fn_arguments else (result, None)
        self.params_tree = self._weights_for(params, trainable=True)
        self.state_tree = self._weights_for(state, trainable=False)

    def compute_output_shape(self, input_shape):
        """Found by tracing `call_fn` on inputs of `input_shape` (a batch of 2 for an unknown batch size)."""
        def spec(shape):
            return jax.ShapeDtypeStruct(tuple(2 if d is None and i == 0 else 1 if d is None else d
                                              for i, d in enumerate(shape)), jnp.float32)

        specs = jax.tree.map(spec, input_shape, is_leaf=_is_shape)
        out = jax.eval_shape(lambda x: self.pure_call(self.weight_values(), x, training=False)[0], specs)
        return jax.tree.map(lambda a: (input_shape[0] if _is_shape(input_shape) else None,) + tuple(a.shape[1:]), out)

    def pure_call(self, weights, x, *, training=False, rng=None):
        def value(leaf):
            return weights[leaf.name] if isinstance(leaf, WeightName) else leaf

        is_name = lambda leaf: isinstance(leaf, WeightName)  # noqa: E731
        given = {"params": jax.tree.map(value, self.params_tree, is_leaf=is_name),
                 "state": jax.tree.map(value, self.state_tree, is_leaf=is_name),
                 "rng": rng if training else None, "inputs": x, "training": training}
        outputs = self.call_fn(*(given[name] for name in self.call_fn_arguments))
        if "state" not in self.call_fn_arguments:
            return outputs, {}
        outputs, new_state = outputs
        names = jax.tree.leaves(self.state_tree, is_leaf=is_name)
        values = jax.tree.leaves(new_state)
        if len(values) != len(names):
            raise ValueError(f"JaxLayer {self.name!r}: call_fn returned a state of {len(values)} arrays, but the "
                             f"state it was given had {len(names)}; return one of the same structure.")
        return outputs, {name.name: new for name, new in zip(names, values) if isinstance(name, WeightName)}

    def get_config(self):
        raise NotImplementedError(
            f"JaxLayer {self.name!r} holds Python functions, and scanfit never saves code it would have to run when "
            "loading: save the weights with model.save_weights(...), and build the model again in code to load them.")


class WeightName:
    """Where a weight of a JaxLayer sits in its params or state pytree (a leaf JAX does not look into)."""

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return f"WeightName({self.name!r})"
