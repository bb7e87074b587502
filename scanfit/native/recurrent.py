"""The time loop of SimpleRNN, LSTM and GRU as one native call per batch on CPU, with its own gradient.

`time_loop` computes the same states as the layers' `jax.lax.scan` (to float32
rounding: its exp differs from XLA's by an ulp or two) from the input
projection of every timestep. It is used when `usable` says so: float32,
narrow layers (`MAX_UNITS`), one CPU device, and (checked by the layers)
Keras's default activations (tanh; sigmoid gates), GRU's ``reset_after=True``,
no recurrent dropout; elsewhere (GPU, several devices, wider layers, other
activations or dtypes) the layers keep their scan.
"""
from functools import partial

import jax
import jax.numpy as jnp

from scanfit.native import build

# cell -> (handler prefix, states, rows saved per unit and step for the backward pass); as in recurrent.cc
CELLS = {"simple": ("SimpleRnn", 1, 0), "lstm": ("Lstm", 2, 5), "gru": ("Gru", 1, 4)}


# The widest layers the kernels run, per cell. Their matmuls are plain register-blocked loops on one core;
# above these widths XLA's scan, with its library matmuls, wins. Epochs of Embedding(1000, 32), 100 steps,
# batch 64, kernels / scan: LSTM 24 units 0.36-0.37 / 0.47-0.52 s, 32: 0.65 / 0.58 s; GRU 32: 0.41-0.43 /
# 0.45-0.46 s, 64 (batch 128): 1.7 / 1.1 s; SimpleRNN 16: 0.077-0.078 / 0.115-0.121 s, 32: 0.185 / 0.181 s.
MAX_UNITS = {"simple": 16, "lstm": 24, "gru": 32}


def usable(cell, units, dtype):
    """Whether `cell`'s time loop over `units` units and `dtype` inputs runs natively here (CPU, one device,
    float32, a narrow layer, the kernels built)."""
    return (units <= MAX_UNITS[cell] and jnp.dtype(dtype) == jnp.float32 and jax.default_backend() == "cpu"
            and jax.device_count() == 1 and build.library() is not None)


def _f32(shape):
    return jax.ShapeDtypeStruct(shape, jnp.float32)


# The states' memory order (major to minor) that the kernels write: (timesteps, states, batch, units) stored
# unit by unit, batch innermost, as the kernels compute them.
_STATES_ORDER = (0, 1, 3, 2)


def _forward_call(cell, xs, kernel, rec_bias, keep):
    name, state_count, saved = CELLS[cell]
    batch, steps, _ = xs.shape
    units = kernel.shape[0]
    results = (_f32((steps, state_count, batch, units)), _f32((steps, saved * units, batch)))
    call = jax.ffi.ffi_call(f"scanfit_{name}Forward", results, vmap_method="broadcast_all",
                            output_layouts=(_STATES_ORDER, None))
    return call(xs, kernel, rec_bias, keep)


@partial(jax.custom_vjp, nondiff_argnums=(0,))
def _states(cell, xs, kernel, rec_bias, keep):
    return _forward_call(cell, xs, kernel, rec_bias, keep)[0]


def _states_forward(cell, xs, kernel, rec_bias, keep):
    states, saved = _forward_call(cell, xs, kernel, rec_bias, keep)
    return states, (states, saved, kernel, keep)


def _states_backward(cell, residuals, d_states):
    states, saved, kernel, keep = residuals
    name = CELLS[cell][0]
    units, gates = kernel.shape
    steps, _, batch, _ = states.shape
    results = (_f32((batch, steps, gates)), _f32((units, gates)), _f32((gates,)))
    call = jax.ffi.ffi_call(f"scanfit_{name}Backward", results, vmap_method="broadcast_all",
                            input_layouts=(_STATES_ORDER, _STATES_ORDER, None, None, None))
    d_xs, d_kernel, d_rec_bias = call(d_states, states, saved, kernel, keep)
    return d_xs, d_kernel, d_rec_bias, jnp.zeros_like(keep)


_states.defvjp(_states_forward, _states_backward)


def time_loop(cell, xs, kernel, rec_bias=None, keep=None):
    """The states after every timestep, shape (timesteps, states, batch, units), from zero initial states.

    `xs` (batch, timesteps, gates * units) is each step's input projection with the input bias;
    `kernel` (units, gates * units) the recurrent kernel; `rec_bias` GRU's recurrent bias; `keep`
    (timesteps, batch) booleans, False where the mask skips a step (the states stay as they were).
    """
    if build.library() is None:
        raise RuntimeError("scanfit's native kernels are not available here (see the warning above); "
                           "check `usable()` before calling time_loop")
    batch, steps, gates = xs.shape
    rec_bias = jnp.zeros((gates,), jnp.float32) if rec_bias is None else rec_bias
    keep = jnp.ones((steps, batch), jnp.float32) if keep is None else keep.astype(jnp.float32)
    return _states(cell, xs, kernel, rec_bias, keep)
