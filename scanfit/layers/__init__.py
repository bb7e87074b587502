"""Keras layers (`keras.layers`)."""
from scanfit.layers import experimental
from scanfit.layers.activation import ELU, LeakyReLU, PReLU, ReLU, Softmax
from scanfit.layers.attention import AdditiveAttention, Attention
from scanfit.layers.augmentation import (
    RandomBrightness,
    RandomContrast,
    RandomFlip,
    RandomRotation,
    RandomTranslation,
    RandomZoom,
)
from scanfit.layers.base import Layer
from scanfit.variables import Variable
from scanfit.layers.category_encoding import CategoryEncoding
from scanfit.layers.convolution import (
    Conv1D,
    Conv1DTranspose,
    Conv2D,
    Conv2DTranspose,
    DepthwiseConv1D,
    DepthwiseConv2D,
    SeparableConv1D,
    SeparableConv2D,
)
from scanfit.layers.core import Activation, Dense, Dropout, Flatten, Input, InputLayer, Reshape
from scanfit.layers.discretization import Discretization
from scanfit.layers.einsum_dense import EinsumDense
from scanfit.layers.embedding import Embedding
from scanfit.layers.hashing import Hashing
from scanfit.layers.index_lookup import IntegerLookup, StringLookup
from scanfit.layers.jax_layer import JaxLayer
from scanfit.layers.lambda_layer import Lambda
from scanfit.layers.merging import (
    Add,
    Average,
    Concatenate,
    Dot,
    Maximum,
    Minimum,
    Multiply,
    Subtract,
    add,
    average,
    concatenate,
    dot,
    maximum,
    minimum,
    multiply,
    subtract,
)
from scanfit.layers.multi_head_attention import MultiHeadAttention
from scanfit.layers.rnn import GRUCell, LSTMCell, RNN, SimpleRNNCell, StackedRNNCells
from scanfit.layers.masking import Masking
from scanfit.layers.normalization import (BatchNormalization, GroupNormalization, LayerNormalization, Normalization,
                                          RMSNormalization)
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
from scanfit.layers.regularization import (
    AlphaDropout,
    GaussianDropout,
    GaussianNoise,
    SpatialDropout1D,
    SpatialDropout2D,
)
from scanfit.layers.resizing import CenterCrop, RandomCrop, Resizing
from scanfit.layers.reshaping import Cropping1D, Cropping2D, UpSampling1D, UpSampling2D, ZeroPadding1D, ZeroPadding2D
from scanfit.layers.simple import (
    ActivityRegularization,
    Identity,
    Permute,
    RepeatVector,
    Rescaling,
    UnitNormalization,
)
from scanfit.layers.text_vectorization import TextVectorization
from scanfit.layers.symbolic import KerasTensor
from scanfit.layers.wrappers import Bidirectional, TimeDistributed
from scanfit.serialization import register_built_in

LAYER_CLASSES = {
    cls.__name__: cls
    for cls in (
        InputLayer, Dense, Flatten, Reshape, Dropout, Activation, Lambda,
        ReLU, LeakyReLU, PReLU, ELU, Softmax, BatchNormalization, LayerNormalization, Normalization, GroupNormalization,
        RMSNormalization,
        AlphaDropout, GaussianNoise, GaussianDropout, SpatialDropout1D, SpatialDropout2D,
        Conv1D, Conv2D, Conv1DTranspose, Conv2DTranspose, DepthwiseConv1D, DepthwiseConv2D,
        SeparableConv1D, SeparableConv2D,
        MaxPooling1D, MaxPooling2D, AveragePooling1D, AveragePooling2D,
        GlobalMaxPooling1D, GlobalMaxPooling2D, GlobalAveragePooling1D, GlobalAveragePooling2D,
        ZeroPadding1D, ZeroPadding2D, Cropping1D, Cropping2D, UpSampling1D, UpSampling2D,
        Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate, Dot,
        Embedding, Masking, SimpleRNN, LSTM, GRU, Bidirectional, TimeDistributed,
        RNN, SimpleRNNCell, LSTMCell, GRUCell, StackedRNNCells,
        Identity, Rescaling, RepeatVector, Permute, ActivityRegularization, UnitNormalization,
        RandomFlip, RandomRotation, RandomZoom, RandomTranslation, RandomContrast, RandomBrightness, Resizing,
        CenterCrop, RandomCrop, EinsumDense,
        Attention, AdditiveAttention, MultiHeadAttention, CategoryEncoding, Discretization,
    )
}
register_built_in("layer", LAYER_CLASSES)

# Keras's other names for the same classes.
Convolution1D, Convolution2D = Conv1D, Conv2D
Convolution1DTranspose, Convolution2DTranspose = Conv1DTranspose, Conv2DTranspose
SeparableConvolution1D, SeparableConvolution2D = SeparableConv1D, SeparableConv2D
MaxPool1D, MaxPool2D, AvgPool1D, AvgPool2D = MaxPooling1D, MaxPooling2D, AveragePooling1D, AveragePooling2D
GlobalMaxPool1D, GlobalMaxPool2D = GlobalMaxPooling1D, GlobalMaxPooling2D
GlobalAvgPool1D, GlobalAvgPool2D = GlobalAveragePooling1D, GlobalAveragePooling2D
