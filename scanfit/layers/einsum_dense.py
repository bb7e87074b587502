"""`EinsumDense`: a dense layer whose product is an einsum equation, as Keras 3 has it.

    layers.EinsumDense("abc,cd->abd", output_shape=(None, 64), bias_axes="d")   # Dense on the last axis
    layers.EinsumDense("abc,cde->abde", output_shape=(None, 8, 16))             # into 8 heads of 16

The equation names the input's axes, the kernel's and the output's: ``X,Y->Z``, or with ``...`` for axes
passed through, on the left of the input and the output (``...X,Y->...Z``) or on their right (``X...,Y->Z...``).
`output_shape` gives the output's sizes after the batch axis and besides the ``...`` ones (None: taken from
the input). The kernel's sizes come from the input's and the output's axes of the same letters; `bias_axes`
are output letters, and the bias has their sizes (1 for the output axes after the first of them). A
VarianceScaling initializer without axes gets the kernel's input and output axes, as in Keras 3.15.
"""
import re

import jax.numpy as jnp

from scanfit import activations, constraints, initializers, regularizers
from scanfit.layers.base import Layer

_FORMS = (  # (pattern, where the ``...`` axes are)
    (re.compile(r"([a-zA-Z]+),([a-zA-Z]+)->([a-zA-Z]+)"), None),
    (re.compile(r"\.\.\.([a-zA-Z]+),([a-zA-Z]+)->\.\.\.([a-zA-Z]+)"), "left"),
    (re.compile(r"([a-zA-Z]{2,})\.\.\.,([a-zA-Z]+)->([a-zA-Z]+)\.\.\."), "right"),
)


def parse_equation(equation):
    """``(input letters, kernel letters, output letters, where the ... axes are)``."""
    for pattern, elided in _FORMS:
        match = pattern.fullmatch(equation.replace(" ", ""))
        if match:
            return match.group(1), match.group(2), match.group(3), elided
    raise ValueError(f"EinsumDense equation {equation!r} is not of the form 'X,Y->Z', '...X,Y->...Z' or "
                     "'X...,Y->Z...' (letters for the input's, the kernel's and the output's axes).")


def einsum_shapes(equation, bias_axes, input_shape, output_shape):
    """``(kernel shape, bias shape or None, output shape, kernel input axes, kernel output axes)`` for inputs
    of `input_shape` (batch axis first)."""
    input_spec, kernel_spec, output_spec, elided_side = parse_equation(equation)
    input_shape = list(input_shape)
    elided = len(input_shape) - len(input_spec)
    if elided < 0 or (elided and elided_side is None):
        raise ValueError(f"EinsumDense equation {equation!r} names {len(input_spec)} input axes, but the input has "
                         f"shape {tuple(input_shape)}.")
    given = list(output_shape)
    if elided_side == "left":
        full = input_shape[:elided] + given
        input_axis = {letter: elided + i for i, letter in enumerate(input_spec)}
    else:
        full = [input_shape[0]] + given + (input_shape[len(input_shape) - elided:] if elided else [])
        input_axis = {letter: i for i, letter in enumerate(input_spec)}
    first_output = elided if elided_side == "left" else 0
    if len(full) - first_output - (elided if elided_side == "right" else 0) != len(output_spec):
        raise ValueError(f"EinsumDense output_shape {tuple(output_shape)} does not fit the output letters "
                         f"{output_spec!r} of {equation!r}: give one size (or None) for each output axis after the "
                         "batch axis and besides the '...' ones.")
    output_axis = {letter: first_output + i for i, letter in enumerate(output_spec)}
    for letter, axis in output_axis.items():
        if letter in input_axis:
            size = input_shape[input_axis[letter]]
            if full[axis] is not None and size is not None and full[axis] != size:
                raise ValueError(f"EinsumDense output axis {letter!r} has size {full[axis]} in output_shape, but "
                                 f"the input's axis {letter!r} has size {size}.")
            full[axis] = size if full[axis] is None else full[axis]
        elif letter not in kernel_spec:
            raise ValueError(f"EinsumDense output axis {letter!r} of {equation!r} is neither an input nor a kernel "
                             "axis.")
    kernel_shape, kernel_in, kernel_out = [], [], []
    for index, letter in enumerate(kernel_spec):
        if letter in output_axis:
            kernel_shape.append(full[output_axis[letter]])
            kernel_out.append(index)
        elif letter in input_axis:
            kernel_shape.append(input_shape[input_axis[letter]])
            kernel_in.append(index)
        else:
            raise ValueError(f"EinsumDense kernel axis {letter!r} of {equation!r} is neither an input nor an output "
                             "axis, so its size is unknown.")
    if any(size is None for size in kernel_shape):
        raise ValueError(f"EinsumDense {equation!r} needs known sizes for its kernel, got {tuple(kernel_shape)} from "
                         f"input shape {tuple(input_shape)} and output_shape {tuple(output_shape)}.")
    bias_shape = None
    if bias_axes:
        unknown = [letter for letter in bias_axes if letter not in output_spec]
        if unknown:
            raise ValueError(f"EinsumDense bias_axes {bias_axes!r} name {unknown}, which are not output axes of "
                             f"{equation!r}.")
        start = min(output_spec.index(letter) for letter in bias_axes)
        bias_shape = [full[output_axis[letter]] if letter in bias_axes else 1 for letter in output_spec[start:]]
        bias_shape += [1] * (elided if elided_side == "right" else 0)
    return tuple(kernel_shape), None if bias_shape is None else tuple(bias_shape), tuple(full), kernel_in, kernel_out


class EinsumDense(Layer):
    """``activation(einsum(equation, inputs, kernel) + bias)``; see the module docstring."""

    stored_weight_names = ("kernel", "bias")  # as Keras's save_own_variables

    def __init__(self, equation, output_shape, activation=None, bias_axes=None, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, lora_rank=None, lora_alpha=None, quantization_config=None, **kwargs):
        if lora_rank is not None or quantization_config is not None:
            raise NotImplementedError("EinsumDense's LoRA (lora_rank) and quantization are not supported by scanfit; "
                                      "leave lora_rank and quantization_config out.")
        super().__init__(**kwargs)
        parse_equation(equation)
        self.equation = equation
        self.partial_output_shape = (output_shape,) if isinstance(output_shape, int) else tuple(output_shape)
        self.activation = activations.get(activation)
        self.bias_axes = bias_axes
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)

    def build(self, input_shape):
        kernel_shape, bias_shape, _, kernel_in, kernel_out = einsum_shapes(
            self.equation, self.bias_axes, input_shape, self.partial_output_shape)
        initializer = self.kernel_initializer
        if isinstance(initializer, initializers.VarianceScaling) and (
                initializer.input_axes is None or initializer.output_axes is None):
            initializer = type(initializer).from_config(
                {**initializer.get_config(), "input_axes": kernel_in, "output_axes": kernel_out})
        self.add_weight(name="kernel", shape=kernel_shape, initializer=initializer,
                        regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)
        if bias_shape is not None:
            self.add_weight(name="bias", shape=bias_shape, initializer=self.bias_initializer,
                            regularizer=self.bias_regularizer, constraint=self.bias_constraint)

    def compute_output_shape(self, input_shape):
        return einsum_shapes(self.equation, self.bias_axes, input_shape, self.partial_output_shape)[2]

    def pure_call(self, weights, x, *, training=False, rng=None):
        y = jnp.einsum(self.equation, x, weights["kernel"])
        if "bias" in weights:
            y = y + weights["bias"]
        return self.activation(y), {}

    def get_config(self):
        return {
            **super().get_config(),
            "output_shape": self.partial_output_shape,
            "equation": self.equation,
            "activation": activations.serialize(self.activation),
            "bias_axes": self.bias_axes,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "activity_regularizer": regularizers.serialize(self.activity_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
            "quantization_config": None,
        }
