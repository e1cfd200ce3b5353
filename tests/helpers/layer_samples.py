"""One instance per layer class of ``fg.layers`` with its required arguments filled in,
and an input it can be called on: what config tests iterate over."""
import numpy as np

import fusegraph as fg

# class name -> (constructor arguments, input shape without the batch axis, input dtype)
REQUIRED = {
    "Activation": (("relu",), (4,)), "Dense": ((3,), (4,)), "Dropout": ((0.5,), (4,)),
    "Embedding": ((6, 3), (5,), "int32"), "MultiHeadAttention": ((2, 3), None),
    "Reshape": (((2, 2),), (4,)), "Conv1D": ((2, 3), (6, 2)), "Conv1DTranspose": ((2, 3), (6, 2)),
    "Conv2D": ((2, 3), (6, 6, 2)), "Conv2DTranspose": ((2, 3), (6, 6, 2)),
    "GRU": ((3,), (5, 2)), "LSTM": ((3,), (5, 2)), "SimpleRNN": ((3,), (5, 2)),
    "Permute": (((2, 1),), (3, 4)), "RepeatVector": ((3,), (4,)), "Rescaling": ((0.5,), (4,)),
    "GaussianDropout": ((0.1,), (4,)), "GaussianNoise": ((0.1,), (4,)),
    "SpatialDropout1D": ((0.2,), (5, 3)), "SpatialDropout2D": ((0.2,), (4, 4, 3)),
    "DepthwiseConv2D": ((3,), (6, 6, 2)), "SeparableConv2D": ((2, 3), (6, 6, 2)),
    "Dot": ((1,), None), "AlphaDropout": ((0.1,), (4,)), "Hashing": ((4,), (3,), "int32"),
    "Bidirectional": (None, (5, 2)), "TimeDistributed": (None, (5, 4)),
    "Lambda": (None, (4,)),
}
# input shapes of layers without required arguments, where (4,) will not do
SHAPES = {
    "Conv": (6, 2), "Pooling1D": (6, 2), "Pooling2D": (6, 6, 2), "Cropping1D": (6, 2),
    "Cropping2D": (6, 6, 2), "ZeroPadding1D": (6, 2), "ZeroPadding2D": (6, 6, 2),
    "UpSampling1D": (6, 2), "UpSampling2D": (6, 6, 2), "GlobalAveragePooling1D": (6, 2),
    "GlobalMaxPooling1D": (6, 2), "GlobalAveragePooling2D": (6, 6, 2),
    "GlobalMaxPooling2D": (6, 6, 2), "Flatten": (2, 2), "GroupNormalization": (3, 64),
}
MULTI_INPUT = {"Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate",
               "Dot", "MultiHeadAttention"}
SKIP = {"Layer", "InputLayer", "Input", "StringLookup", "TextVectorization", "IntegerLookup",
        "Normalization", "CategoryEncoding", "Hashing"}   # preprocessing: tested on their own


def double(x):
    return x * 2.0


def make(name):
    """A new layer of class ``name`` and a random input batch for it (a list of two for
    layers taking two tensors)."""
    cls = getattr(fg.layers, name)
    args, shape, *dtype = REQUIRED.get(name, ((), None))
    if name == "Bidirectional":
        args = (fg.layers.LSTM(2, return_sequences=True),)
    elif name == "TimeDistributed":
        args = (fg.layers.Dense(3),)
    elif name == "Lambda":
        args = (double,)
    shape = shape or next((s for key, s in SHAPES.items() if key in name), (4,))
    if name in ("MultiHeadAttention", "Dot"):
        shape = (5, 4) if name == "MultiHeadAttention" else (4,)
    rng = np.random.default_rng(0)
    if dtype:
        x = rng.integers(1, 4, (2,) + shape).astype(dtype[0])
    else:
        x = rng.normal(size=(2,) + shape).astype("float32")
    layer = cls(*args)
    if name in MULTI_INPUT:
        return layer, [x, (x + 0.5).astype(x.dtype)]
    return layer, x


def names():
    import inspect
    return [n for n in fg.layers.__all__
            if inspect.isclass(getattr(fg.layers, n)) and n not in SKIP]
