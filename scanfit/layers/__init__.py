"""Keras layers (`keras.layers`)."""
from scanfit.layers import experimental
from scanfit.layers.activation import ELU, LeakyReLU, PReLU, ReLU, Softmax
from scanfit.layers.adaptive_pooling import (
    AdaptiveAveragePooling1D,
    AdaptiveAveragePooling2D,
    AdaptiveAveragePooling3D,
    AdaptiveMaxPooling1D,
    AdaptiveMaxPooling2D,
    AdaptiveMaxPooling3D,
)
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
from scanfit.layers.color_augmentation import (
    AutoContrast,
    Equalization,
    RandomColorDegeneration,
    RandomColorJitter,
    RandomGrayscale,
    RandomHue,
    RandomInvert,
    RandomPosterization,
    RandomSaturation,
    RandomSharpness,
    Solarization,
)
from scanfit.layers.convolution import (
    Conv1D,
    Conv1DTranspose,
    Conv2D,
    Conv2DTranspose,
    Conv3D,
    Conv3DTranspose,
    DepthwiseConv1D,
    DepthwiseConv2D,
    SeparableConv1D,
    SeparableConv2D,
)
from scanfit.layers.adaptive_equalization import ContrastLimitedAdaptiveHistogramEqualization
from scanfit.layers.composite_augmentation import AugMix, RandAugment
from scanfit.layers.core import Activation, Dense, Dropout, Flatten, Input, InputLayer, Reshape
from scanfit.layers.discretization import Discretization
from scanfit.layers.distortion_augmentation import RandomErasing, RandomGaussianBlur, RandomPerspective, RandomShear
from scanfit.layers.einsum_dense import EinsumDense
from scanfit.layers.elastic_augmentation import RandomElasticTransform
from scanfit.layers.embedding import Embedding
from scanfit.layers.hashing import Hashing
from scanfit.layers.hashed_crossing import HashedCrossing
from scanfit.layers.index_lookup import IntegerLookup, StringLookup
from scanfit.layers.input_spec import InputSpec
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
from scanfit.layers.group_query_attention import GroupQueryAttention
from scanfit.layers.reversible_embedding import ReversibleEmbedding
from scanfit.layers.spectral_normalization import SpectralNormalization
from scanfit.layers.spectrogram import MelSpectrogram, STFTSpectrogram
from scanfit.layers.pipeline import Pipeline
from scanfit.layers.rnn import GRUCell, LSTMCell, RNN, SimpleRNNCell, StackedRNNCells
from scanfit.layers.masking import Masking
from scanfit.layers.mix_augmentation import CutMix, MixUp
from scanfit.layers.normalization import (BatchNormalization, GroupNormalization, LayerNormalization, Normalization,
                                          RMSNormalization)
from scanfit.layers.pooling import (
    AveragePooling1D,
    AveragePooling2D,
    AveragePooling3D,
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalAveragePooling3D,
    GlobalMaxPooling1D,
    GlobalMaxPooling2D,
    GlobalMaxPooling3D,
    MaxPooling1D,
    MaxPooling2D,
    MaxPooling3D,
)
from scanfit.layers.recurrent import GRU, LSTM, SimpleRNN
from scanfit.layers.conv_lstm import ConvLSTM1D, ConvLSTM2D, ConvLSTM3D
from scanfit.layers.regularization import (
    AlphaDropout,
    GaussianDropout,
    GaussianNoise,
    SpatialDropout1D,
    SpatialDropout2D,
    SpatialDropout3D,
)
from scanfit.layers.resizing import CenterCrop, RandomCrop, Resizing
from scanfit.layers.reshaping import (
    Cropping1D,
    Cropping2D,
    Cropping3D,
    UpSampling1D,
    UpSampling2D,
    UpSampling3D,
    ZeroPadding1D,
    ZeroPadding2D,
    ZeroPadding3D,
)
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
from scanfit.layers.wrappers import Bidirectional, TimeDistributed, Wrapper
from scanfit.saving.objects import deserialize_keras_object, serialize_keras_object
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
        RNN, SimpleRNNCell, LSTMCell, GRUCell, StackedRNNCells, ConvLSTM1D, ConvLSTM2D, ConvLSTM3D,
        Identity, Rescaling, RepeatVector, Permute, ActivityRegularization, UnitNormalization,
        RandomFlip, RandomRotation, RandomZoom, RandomTranslation, RandomContrast, RandomBrightness, Resizing,
        CenterCrop, RandomCrop, EinsumDense,
        Solarization, AutoContrast, Equalization, RandomInvert, RandomGrayscale, RandomPosterization,
        RandomColorDegeneration, RandomSaturation, RandomHue, RandomSharpness, RandomColorJitter, MixUp, CutMix,
        RandomErasing, RandomGaussianBlur, RandomShear, RandomPerspective, RandomElasticTransform, RandAugment, AugMix,
        ContrastLimitedAdaptiveHistogramEqualization,
        Attention, AdditiveAttention, MultiHeadAttention, CategoryEncoding, Discretization, Pipeline,
        GroupQueryAttention, ReversibleEmbedding,
        Conv3D, Conv3DTranspose, MaxPooling3D, AveragePooling3D, GlobalMaxPooling3D, GlobalAveragePooling3D,
        UpSampling3D, ZeroPadding3D, Cropping3D, SpatialDropout3D,
        AdaptiveAveragePooling1D, AdaptiveAveragePooling2D, AdaptiveAveragePooling3D,
        AdaptiveMaxPooling1D, AdaptiveMaxPooling2D, AdaptiveMaxPooling3D,
        SpectralNormalization, STFTSpectrogram, MelSpectrogram,
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
Convolution3D, Convolution3DTranspose = Conv3D, Conv3DTranspose
MaxPool3D, AvgPool3D = MaxPooling3D, AveragePooling3D
GlobalMaxPool3D, GlobalAvgPool3D = GlobalMaxPooling3D, GlobalAveragePooling3D


def serialize(layer):
    """Keras's ``layers.serialize``: the layer's config dict as a ``.keras`` file holds it."""
    return serialize_keras_object(layer)


def deserialize(config, custom_objects=None):
    """Keras's ``layers.deserialize``: a layer (or model) rebuilt from `serialize`'s dict."""
    return deserialize_keras_object(config, custom_objects=custom_objects)
