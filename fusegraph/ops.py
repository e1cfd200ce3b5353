"""``fg.ops``: keras.ops names plus the TensorFlow-style aliases Keras users write
(``reduce_mean``, ``reduce_sum``, ``nn.relu``, ...)."""
from types import SimpleNamespace

from .frontend.nn import (elu, gelu, hard_sigmoid, l2_normalize, leaky_relu, log_softmax,
                          logsumexp, moments, normalize, relu, relu6, silu, softmax, softplus,
                          softsign, swish)
from .frontend.ops import (abs, add, all, any, arange, argmax, argmin, broadcast_to, cast, clip, concatenate,
                           convert_to_tensor, cos, divide, dot, equal, erf, exp, expand_dims, floor,
                           full, full_like, greater, greater_equal, iota, less, less_equal, log,
                           log1p, logical_and, logical_not, logical_or, matmul, max, maximum, mean,
                           min, minimum, multiply, negative, not_equal, one_hot, ones, ones_like,
                           power, reciprocal, reshape, rsqrt, shape, sigmoid, sign, sin, sqrt,
                           square, squeeze, stack, stop_gradient, subtract, sum, take, tanh,
                           transpose, where, zeros, zeros_like)

absolute = abs
true_divide = divide
reduce_mean, reduce_sum, reduce_max, reduce_min = mean, sum, max, min
reduce_all, reduce_any = all, any
nn = SimpleNamespace(relu=relu, relu6=relu6, elu=elu, gelu=gelu, leaky_relu=leaky_relu,
                     sigmoid=sigmoid, tanh=tanh, softmax=softmax, log_softmax=log_softmax,
                     softplus=softplus, softsign=softsign, silu=silu, swish=swish,
                     moments=moments, l2_normalize=l2_normalize)
newaxis = None                  # x[:, newaxis, :], as numpy's and TensorFlow's
del SimpleNamespace
