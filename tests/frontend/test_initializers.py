"""frontend/initializers.py: the variance-scaling family (He, LeCun), TruncatedNormal,
Identity and Constant, against Keras's variances and bounds."""
import numpy as np
import pytest

import fusegraph as fg


@pytest.mark.parametrize("name, variance, bound", [
    ("he_normal", lambda fi, fo: 2 / fi, 2 * np.sqrt(2 / 300) / 0.87962566103423978),
    ("he_uniform", lambda fi, fo: 2 / fi, np.sqrt(6 / 300)),
    ("lecun_normal", lambda fi, fo: 1 / fi, 2 * np.sqrt(1 / 300) / 0.87962566103423978),
    ("lecun_uniform", lambda fi, fo: 1 / fi, np.sqrt(3 / 300)),
])
def test_he_and_lecun_draw_keras_variances_within_their_bounds(name, variance, bound):
    fg.utils.set_random_seed(0)
    w = fg.initializers.get(name)((300, 200))
    assert w.dtype == np.float32 and np.abs(w).max() <= bound + 1e-7
    assert np.var(w) == pytest.approx(variance(300, 200), rel=0.03)


def test_variance_scaling_modes_truncated_normal_identity_and_constant():
    fg.utils.set_random_seed(1)
    for mode, fan in (("fan_in", 100), ("fan_out", 400), ("fan_avg", 250)):
        w = fg.initializers.VarianceScaling(3.0, mode, "untruncated_normal")((100, 400))
        assert np.var(w) == pytest.approx(3.0 / fan, rel=0.03)
    w = fg.initializers.TruncatedNormal(mean=1.0, stddev=0.5)((400, 100))
    assert np.abs(w - 1.0).max() <= 1.0 and np.mean(w) == pytest.approx(1.0, abs=0.01)
    np.testing.assert_array_equal(fg.initializers.Identity(gain=2.0)((2, 3)),
                                  [[2, 0, 0], [0, 2, 0]])
    np.testing.assert_array_equal(fg.initializers.get("constant")((2,)), [0, 0])
    with pytest.raises(ValueError, match="mode must be one of"):
        fg.initializers.VarianceScaling(mode="fan_max")
    with pytest.raises(ValueError, match="identity initializer needs a 2-D shape"):
        fg.initializers.Identity()((2, 2, 2))
    dense = fg.layers.Dense(4, kernel_initializer="he_uniform")
    dense.build((None, 6))
    assert np.abs(dense.kernel.numpy()).max() <= np.sqrt(6 / 6)


def test_variance_scaling_initializers_take_keras_fan_axes():
    """Keras 3.15's He/LeCun/VarianceScaling take input_axes/output_axes (an einsum
    kernel's fans); MultiHeadAttention's kernels get them as Keras's EinsumDense gives."""
    shape = (8, 2, 3)                                   # (d, heads, width): fans 8 and 6
    with_axes = fg.initializers.HeUniform(seed=1, input_axes=[0], output_axes=[1, 2])
    limit = np.sqrt(3.0 * 2.0 / 8)
    values = with_axes(shape)
    assert np.abs(values).max() <= limit and np.abs(values).max() > 0.8 * limit
    assert with_axes.get_config() == {"seed": 1, "input_axes": [0], "output_axes": [1, 2]}
    made = fg.frontend.initializers.with_fan_axes(fg.initializers.LecunNormal(seed=2), [0],
                                                   [1, 2])
    assert (made.input_axes, made.output_axes, made.seed) == ([0], [1, 2], 2)
