"""Keras layers (`keras.layers`)."""
from scanfit.layers.activation import ELU, LeakyReLU, PReLU, ReLU, Softmax
from scanfit.layers.base import Layer, Variable
from scanfit.layers.core import Activation, Dense, Dropout, Flatten, Input, InputLayer, KerasTensor, Reshape
from scanfit.layers.normalization import BatchNormalization

LAYER_CLASSES = {
    cls.__name__: cls
    for cls in (
        InputLayer, Dense, Flatten, Reshape, Dropout, Activation,
        ReLU, LeakyReLU, PReLU, ELU, Softmax, BatchNormalization,
    )
}
