"""Keras layers (`keras.layers`)."""
from scanfit.layers.activation import ELU, LeakyReLU, PReLU, ReLU, Softmax
from scanfit.layers.base import Layer, Variable
from scanfit.layers.convolution import Conv1D, Conv2D
from scanfit.layers.core import Activation, Dense, Dropout, Flatten, Input, InputLayer, KerasTensor, Reshape
from scanfit.layers.embedding import Embedding
from scanfit.layers.masking import Masking
from scanfit.layers.normalization import BatchNormalization
from scanfit.layers.pooling import (
    AveragePooling1D,
    AveragePooling2D,
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalMaxPooling1D,
    GlobalMaxPooling2D,
    MaxPooling1D,
    MaxPooling2D,
)
from scanfit.layers.recurrent import GRU, LSTM, SimpleRNN
from scanfit.layers.wrappers import Bidirectional, TimeDistributed

LAYER_CLASSES = {
    cls.__name__: cls
    for cls in (
        InputLayer, Dense, Flatten, Reshape, Dropout, Activation,
        ReLU, LeakyReLU, PReLU, ELU, Softmax, BatchNormalization,
        Conv1D, Conv2D, MaxPooling1D, MaxPooling2D, AveragePooling1D, AveragePooling2D,
        GlobalMaxPooling1D, GlobalMaxPooling2D, GlobalAveragePooling1D, GlobalAveragePooling2D,
        Embedding, Masking, SimpleRNN, LSTM, GRU, Bidirectional, TimeDistributed,
    )
}

# Keras's other names for the same classes.
Convolution1D, Convolution2D = Conv1D, Conv2D
MaxPool1D, MaxPool2D, AvgPool1D, AvgPool2D = MaxPooling1D, MaxPooling2D, AveragePooling1D, AveragePooling2D
GlobalMaxPool1D, GlobalMaxPool2D = GlobalMaxPooling1D, GlobalMaxPooling2D
GlobalAvgPool1D, GlobalAvgPool2D = GlobalAveragePooling1D, GlobalAveragePooling2D
