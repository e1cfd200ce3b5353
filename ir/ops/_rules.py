"""Small helpers shared by the shape rules of the op definitions."""
from __future__ import annotations

from ..errors import ShapeError
from ..types import DType, TensorType, broadcast_shapes, why_not_broadcast


def fmt(types) -> str:
    return ", ".join(str(t) for t in types)


def same_dtype(types, name: str) -> DType:
    dtypes = {t.dtype for t in types}
    if len(dtypes) != 1:
        raise ShapeError(f"operands must have one dtype, got {fmt(types)} "
                         f"(cast one side first)")
    return types[0].dtype


def require_dtype(t: TensorType, allowed, what: str) -> None:
    if t.dtype not in allowed:
        raise ShapeError(f"{what} must be {'/'.join(d.value for d in allowed)}, got {t}")


def broadcast(types) -> tuple:
    shape = broadcast_shapes(*(t.shape for t in types))
    if shape is None:
        raise ShapeError(f"shapes do not broadcast: {fmt(types)}: "
                         f"{why_not_broadcast(*(t.shape for t in types))}")
    return shape


def check_axis(axis: int, rank: int, what: str = "axis") -> int:
    if not -rank <= axis < max(rank, 1):
        raise ShapeError(f"{what} {axis} is out of range for rank {rank}")
    return axis % rank if rank else 0


FLOATS = (DType.f32, DType.f64)
INTS = (DType.i32, DType.i64)
NUMERIC = FLOATS + INTS


def check_axes(t: TensorType, axes, *, empty: bool = True) -> None:
    """ShapeError unless ``axes`` are sorted, unique axes of ``t`` (and, without
    ``empty``, at least one)."""
    if ((not axes and not empty) or list(axes) != sorted(set(axes))
            or any(not 0 <= a < t.rank for a in axes)):
        some = "" if empty else ", not empty"
        raise ShapeError(f"axes must be sorted, unique{some} and in [0, {t.rank}), got {axes} "
                         f"for {t}")
