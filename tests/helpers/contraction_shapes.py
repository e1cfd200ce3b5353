"""Hypothesis strategies for contraction operands, shared by the op and autodiff tests."""
from hypothesis import strategies as st

SIDE = st.integers(1, 3)


@st.composite
def tensordot_axes(draw):
    """(a's shape, b's shape, attrs) of a ``tensordot``: 0-3 summed dims placed among 0-2
    free dims of each operand, paired in a random order."""
    summed = draw(st.lists(SIDE, max_size=3))
    shapes, axes = [], []
    for _ in range(2):
        free = draw(st.lists(SIDE, max_size=2))
        rank = len(summed) + len(free)
        at = draw(st.permutations(range(rank)))[:len(summed)]
        where, rest = dict(zip(at, summed)), iter(free)
        shapes.append(tuple(where[i] if i in where else next(rest) for i in range(rank)))
        axes.append(tuple(at))
    return shapes[0], shapes[1], {"axes_a": axes[0], "axes_b": axes[1]}
