"""Plain-numpy pieces the convolution tests share: Keras's padding rule of one axis, and
central differences of a scalar function of an array."""
import numpy as np


def np_padding(size, k, stride, dilation, padding):
    """(before, after) zeros of one axis, TensorFlow's rule as Keras documents it."""
    span = dilation * (k - 1) + 1
    if padding == "valid":
        return 0, 0
    if padding == "causal":
        return span - 1, 0
    out = int(np.ceil(size / stride))
    total = max((out - 1) * stride + span - size, 0)
    return total // 2, total - total // 2


def central_differences(f, array, eps=1e-6):
    grad = np.zeros_like(array)
    for i in np.ndindex(*array.shape):
        old = array[i]
        array[i] = old + eps
        up = f()
        array[i] = old - eps
        down = f()
        array[i] = old
        grad[i] = (up - down) / (2 * eps)
    return grad
