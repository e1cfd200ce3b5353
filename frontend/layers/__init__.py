"""``fg.layers``: Keras layers with Keras's names, arguments, defaults and weight order."""
from ..layer import Layer
from ..input_layer import Input, InputLayer
from .attention import MultiHeadAttention
from .core import Activation, Dense, Dropout, Flatten, Masking, Reshape
from .embedding import Embedding
from .merging import (Add, Average, Concatenate, Maximum, Minimum, Multiply, Subtract, add,
                      average, concatenate, maximum, minimum, multiply, subtract)
from .normalization import LayerNormalization
from .pooling import GlobalAveragePooling1D, GlobalMaxPooling1D

__all__ = ["Activation", "Add", "Concatenate", "Dense", "Dropout", "Embedding", "Flatten",
           "GlobalAveragePooling1D", "GlobalMaxPooling1D", "Input", "InputLayer", "Layer",
           "LayerNormalization", "Masking", "MultiHeadAttention", "Reshape", "add", "concatenate",
           "Average", "Maximum", "Minimum", "Multiply", "Subtract", "average", "maximum",
           "minimum", "multiply", "subtract"]

from .convolutional import Conv1D, Conv2D
from .conv_transpose import Conv1DTranspose, Conv2DTranspose
from .normalization import BatchNormalization
from .pooling import (AveragePooling1D, AveragePooling2D, GlobalAveragePooling2D,
                      GlobalMaxPooling2D, MaxPooling1D, MaxPooling2D)

__all__ += ["AveragePooling1D", "AveragePooling2D", "BatchNormalization", "Conv1D",
            "Conv1DTranspose", "Conv2D", "Conv2DTranspose",
            "GlobalAveragePooling2D", "GlobalMaxPooling2D", "MaxPooling1D", "MaxPooling2D"]

from .recurrent import GRU, LSTM, SimpleRNN
from .upsampling import UpSampling1D, UpSampling2D
from .activation_layers import ELU, Identity, LeakyReLU, ReLU, Softmax
from .noise import GaussianDropout, GaussianNoise, SpatialDropout1D, SpatialDropout2D
from .reshaping import (Cropping1D, Cropping2D, Permute, RepeatVector, Rescaling,
                        UnitNormalization, ZeroPadding1D, ZeroPadding2D)

__all__ += ["GRU", "LSTM", "SimpleRNN", "UpSampling1D", "UpSampling2D"]
__all__ += ["ELU", "Identity", "LeakyReLU", "ReLU", "Softmax"]
__all__ += ["Cropping1D", "Cropping2D", "Permute", "RepeatVector", "Rescaling",
            "UnitNormalization", "ZeroPadding1D", "ZeroPadding2D"]
__all__ += ["GaussianDropout", "GaussianNoise", "SpatialDropout1D", "SpatialDropout2D"]
from .depthwise import DepthwiseConv2D, SeparableConv2D
__all__ += ["DepthwiseConv2D", "SeparableConv2D"]
from .merging import Dot, dot
__all__ += ["Dot", "dot"]
from .activation_layers import PReLU
from .noise import AlphaDropout
from .normalization import GroupNormalization
__all__ += ["AlphaDropout", "GroupNormalization", "PReLU"]
from .wrappers import Bidirectional, TimeDistributed
__all__ += ["Bidirectional", "TimeDistributed"]
from .hashing import Hashing
from .index_lookup import IntegerLookup, StringLookup
__all__ += ["Hashing", "IntegerLookup", "StringLookup"]
from .text import TextVectorization
__all__ += ["TextVectorization"]
from .preprocessing import CategoryEncoding, Normalization
__all__ += ["CategoryEncoding", "Normalization"]
from .lambda_layer import Lambda

__all__ += ["Lambda"]
