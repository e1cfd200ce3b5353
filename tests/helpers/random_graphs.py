"""Random valid programs of ``fg.ops`` for the differential fuzzer, drawn by hypothesis.

A :class:`Program` is plain data — its inputs' shapes, a few lines of Python over
``ops`` (``fusegraph.ops``), the outputs — so hypothesis prints a failing case as a
``Program(...)`` that can be pasted into an ``@example`` or a plain regression test, and
:meth:`Program.source` shows it as the Python function the fuzzer traces:

    def fn(x0, x1, c0):
        with fg.GradientTape() as tape:
            t0 = ops.sin(x0)
            t1 = ops.multiply(t0, x1)
            loss = ops.sum(t1 * c0)
        return [t1], tape.gradient(loss, [x0, x1, c0])

Each output ``oK`` has a cotangent input ``cK`` of its shape (a plain ``sum`` would give
softmax a zero gradient), and the gradients are taken w.r.t. every input.

Shapes are tracked while drawing, with ``"B"`` for the batch axis: an input whose shape
starts with ``"B"`` is a batch input, symbolic (``None`` in its placeholder shape) when
``symbolic`` is set, else of the concrete size the run picks. ``"B"`` broadcasts only
against ``"B"`` or 1, so every program is valid whatever the batch size. Ops whose domain
is not all reals are drawn in a safe form (``log(square(x) + 1.0)``, a divisor
``square(y) + 0.5``) so the inputs can be any standard-normal draw.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
from hypothesis import strategies as st

BATCH = "B"
MAX_RANK = 4
MAX_ELEMENTS = 48            # per tensor, counting the batch axis as 3

# name -> the expression applied to the operand ``{a}`` (all reals in, finite out for
# moderate inputs).
UNARY = {
    "neg": "ops.negative({a})", "abs": "ops.abs({a})", "exp": "ops.exp({a})",
    "log": "ops.log(ops.square({a}) + 1.0)", "sqrt": "ops.sqrt(ops.square({a}) + 0.25)",
    "rsqrt": "ops.rsqrt(ops.square({a}) + 0.25)", "tanh": "ops.tanh({a})",
    "sigmoid": "ops.sigmoid({a})", "erf": "ops.erf({a})", "sin": "ops.sin({a})",
    "cos": "ops.cos({a})", "square": "ops.square({a})", "relu": "ops.relu({a})",
    "scale": "{a} * 1.5 - 0.25", "reciprocal": "1.0 / (ops.square({a}) + 0.5)",
    "softplus": "ops.softplus({a})", "gelu": "ops.gelu({a})",
    "clip": "ops.clip({a}, -0.5, 0.75)", "stop_gradient": "ops.stop_gradient({a}) * {a}",
    "mask": "ops.cast(ops.greater({a}, 0.25), {a}.dtype) * {a}",
    "silu": "ops.silu({a})", "elu": "ops.elu({a})", "leaky_relu": "ops.leaky_relu({a})",
}
# name -> the expression of two broadcast-compatible operands ``{a}`` and ``{b}``.
BINARY = {
    "add": "ops.add({a}, {b})", "sub": "ops.subtract({a}, {b})",
    "mul": "ops.multiply({a}, {b})", "div": "ops.divide({a}, ops.square({b}) + 0.5)",
    "maximum": "ops.maximum({a}, {b})", "minimum": "ops.minimum({a}, {b})",
    "pow": "ops.power(ops.square({a}) + 0.5, ops.tanh({b}))",
    "where": "ops.where(ops.{cmp}({a}, {b}), {a}, {b})",
    "where0": "ops.where(ops.{cmp}({a}, 0.0), {b}, ops.negative({b}))",
}
COMPARISONS = ("greater", "less", "greater_equal", "less_equal", "not_equal")
REDUCTIONS = ("sum", "mean", "max", "min", "logsumexp")


@dataclasses.dataclass(frozen=True)
class Program:
    """A drawn program: ``inputs`` shapes (``"B"`` = the batch axis), ``lines`` of Python
    assigning ``t0, t1, ...``, ``outputs`` (names), ``dtype`` (of every input, or
    ``"mixed"``: float32 and float64 inputs by turns, float64 cotangents, so values
    promote), whether the batch axis is ``symbolic``, and the ``seed`` of its input values."""
    dtype: str
    symbolic: bool
    inputs: tuple
    lines: tuple
    outputs: tuple
    seed: int = 0

    @property
    def cotangents(self) -> tuple:
        """The shapes of the cotangent inputs ``c0, c1, ...``, one per output: the
        output's, with the batch axis moved to the front (an input's batch axis leads)
        and any further batch axes summed over (an input has one)."""
        return tuple(tuple(shape[p] for p in _batch_first(shape))
                     for shape in map(_one_batch_axis, self.output_shapes))

    @property
    def output_shapes(self) -> tuple:
        return tuple(dict(self.shapes)[name] for name in self.outputs)

    @property
    def shapes(self) -> tuple:
        """(name, shape) of every input and line, replayed from the lines' comments."""
        named = [(f"x{i}", shape) for i, shape in enumerate(self.inputs)]
        for line in self.lines:
            name, shape = line.split(" = ", 1)[0], line.rsplit("# ", 1)[1]
            named.append((name, _parse_shape(shape)))
        return tuple(named)

    def arg_names(self) -> list[str]:
        return ([f"x{i}" for i in range(len(self.inputs))]
                + [f"c{i}" for i in range(len(self.outputs))])

    def source(self) -> str:
        """The Python function ``fn`` of this program (see the module docstring)."""
        args = self.arg_names()
        loss = " + ".join(_loss_term(o, f"c{i}", shape)
                          for i, (o, shape) in enumerate(zip(self.outputs, self.output_shapes)))
        body = [f"        {line}" for line in self.lines] + [f"        loss = {loss}"]
        return "\n".join([f"def fn({', '.join(args)}):",
                          "    with fg.GradientTape() as tape:", *body,
                          f"    return [{', '.join(self.outputs)}], "
                          f"tape.gradient(loss, [{', '.join(args)}])", ""])

    def function(self):
        """``fn`` itself (executed from :meth:`source`)."""
        import fusegraph as fg

        namespace = {"fg": fg, "ops": fg.ops}
        exec(compile(self.source(), "<fuzzed program>", "exec"), namespace)  # noqa: S102
        return namespace["fn"]

    def holder_shapes(self) -> list:
        """Per argument, its Keras-style placeholder shape (None: the symbolic batch)."""
        shapes = list(self.inputs) + list(self.cotangents)
        return [tuple(None if d == BATCH else d for d in shape) if self.symbolic else None
                for shape in shapes]

    def dtypes(self) -> list[str]:
        """The dtype of each argument (inputs, then cotangents)."""
        if self.dtype != "mixed":
            return [self.dtype] * (len(self.inputs) + len(self.outputs))
        return ([("float32", "float64")[i % 2] for i in range(len(self.inputs))]
                + ["float64"] * len(self.outputs))

    def arrays(self, batch: int) -> list[np.ndarray]:
        """Standard-normal inputs and cotangents with the batch axis of size ``batch``."""
        rng = np.random.default_rng(self.seed)
        shapes = list(self.inputs) + list(self.cotangents)
        return [rng.standard_normal(tuple(batch if d == BATCH else d for d in shape))
                .astype(dtype) for shape, dtype in zip(shapes, self.dtypes())]


def _extra_batch_axes(shape: tuple) -> tuple:
    return tuple(i for i, d in enumerate(shape) if d == BATCH)[1:]


def _one_batch_axis(shape: tuple) -> tuple:
    """``shape`` without its batch axes after the first (an outer product over the
    batch, ``(B, 1) * (B,)``, has two)."""
    extra = _extra_batch_axes(shape)
    return tuple(d for i, d in enumerate(shape) if i not in extra)


def _loss_term(output: str, cotangent: str, shape: tuple) -> str:
    """``sum(output * cotangent)``, the output summed over its extra batch axes and the
    cotangent's batch axis moved back to the output's place."""
    extra = _extra_batch_axes(shape)
    reduced = f"ops.sum({output}, axis={extra})" if extra else output
    return f"ops.sum({reduced} * {_moved_back(cotangent, _one_batch_axis(shape))})"


def _batch_first(shape: tuple) -> tuple:
    """The permutation that moves the batch axis of ``shape`` (if any) to the front."""
    lead = [i for i, d in enumerate(shape) if d == BATCH]
    return tuple(lead + [i for i in range(len(shape)) if i not in lead])


def _moved_back(name: str, shape: tuple) -> str:
    """``name`` (of ``shape`` with the batch axis first) transposed back to ``shape``."""
    perm = _batch_first(shape)
    if perm == tuple(range(len(shape))):
        return name
    return f"ops.transpose({name}, {tuple(int(i) for i in np.argsort(perm))})"


def _parse_shape(text: str) -> tuple:
    inner = text.strip()[1:-1]
    return tuple(d if d == BATCH else int(d) for d in
                 (p.strip().strip("'\"") for p in inner.split(",")) if d)


def _size(shape) -> int:
    return math.prod(3 if d == BATCH else d for d in shape)


def _broadcast(a: tuple, b: tuple) -> tuple:
    out = []
    for i in range(1, max(len(a), len(b)) + 1):
        da = a[-i] if i <= len(a) else 1
        db = b[-i] if i <= len(b) else 1
        assert da == db or 1 in (da, db), (a, b)
        out.append(db if da == 1 else da)
    return tuple(reversed(out))


def _compatible(a: tuple, b: tuple) -> bool:
    return all(da == db or 1 in (da, db) for da, db in zip(reversed(a), reversed(b)))


class _Builder:
    """The state of one draw: inputs, the pool of (name, shape) values, the lines."""

    def __init__(self, draw, with_batch: bool):
        self.draw, self.with_batch = draw, with_batch
        self.inputs, self.pool, self.lines, self.used = [], [], [], set()

    def dim(self) -> int:
        return self.draw(st.sampled_from((1, 2, 3)))

    def new_input(self, shape: tuple) -> str:
        assert BATCH not in shape[1:], f"an input's batch axis leads, got {shape}"
        name = f"x{len(self.inputs)}"
        self.inputs.append(tuple(shape))
        self.pool.append((name, tuple(shape)))
        return name

    def random_shape(self, batched: bool) -> tuple:
        rank = self.draw(st.integers(1, 3))
        shape = tuple(self.dim() for _ in range(rank))
        if batched:
            shape = (BATCH,) + shape[1:] if rank > 1 and self.draw(st.booleans()) \
                else (BATCH,) + shape[:2]
        return shape

    def pick(self, where=lambda shape: True):
        """A value of the pool whose shape satisfies ``where`` (the latest such one half
        the time, so programs are mostly chains), or None."""
        choices = [item for item in self.pool if where(item[1])]
        if not choices:
            return None
        item = choices[-1] if self.draw(st.booleans()) else self.draw(st.sampled_from(choices))
        self.used.add(item[0])
        return item

    def emit(self, expression: str, shape: tuple) -> str:
        name = f"t{len(self.lines)}"
        self.lines.append(f"{name} = {expression}  # {_show(shape)}")
        self.pool.append((name, tuple(shape)))
        return name

    def partner(self, shape: tuple) -> tuple:
        """A shape that broadcasts with ``shape`` (maybe growing its dims of one, maybe
        adding a leading axis): an existing value of that shape or a new input."""
        if self.draw(st.booleans()):
            existing = self.pick(lambda s: s != () and _compatible(s, shape)
                                 and _size(_broadcast(s, shape)) <= MAX_ELEMENTS
                                 and len(_broadcast(s, shape)) <= MAX_RANK)
            if existing is not None:
                return existing
        dims = [self.dim() if d == 1 and self.draw(st.booleans()) else d for d in shape]
        if len(dims) < 3 and self.draw(st.integers(0, 3)) == 0:
            dims.insert(0, BATCH if self.with_batch and BATCH not in dims else self.dim())
        dims = [1 if d != BATCH and self.draw(st.integers(0, 3)) == 0 else d for d in dims]
        dims = dims[self.draw(st.integers(0, max(0, len(dims) - 1))):] \
            if self.draw(st.integers(0, 2)) == 0 else dims
        batch_axes = [i for i, d in enumerate(dims) if d == BATCH]
        if batch_axes:                         # an input has one batch axis, leading
            dims = dims[batch_axes[-1]:]
        if _size(_broadcast(tuple(dims), shape)) > MAX_ELEMENTS:
            dims = [1] * len(shape)
        return self.new_input(tuple(dims)), tuple(dims)

    # --- one op each -------------------------------------------------------------------

    def unary(self):
        name, shape = self.pick()
        kind = self.draw(st.sampled_from(sorted(UNARY)))
        return self.emit(UNARY[kind].format(a=name), shape)

    def binary(self):
        a, sa = self.pick()
        b, sb = self.partner(sa)
        if self.draw(st.booleans()):
            (a, sa), (b, sb) = (b, sb), (a, sa)
        kind = self.draw(st.sampled_from(sorted(BINARY)))
        cmp = self.draw(st.sampled_from(COMPARISONS))
        return self.emit(BINARY[kind].format(a=a, b=b, cmp=cmp), _broadcast(sa, sb))

    def reduce(self):
        picked = self.pick(lambda s: len(s) >= 1)
        if picked is None:
            return self.unary()
        a, sa = picked
        kind = self.draw(st.sampled_from(REDUCTIONS))
        keepdims = self.draw(st.booleans())
        if self.draw(st.integers(0, 3)) == 0:
            axes, axis_text = tuple(range(len(sa))), "None"
        else:
            axes = tuple(sorted(self.draw(st.sets(st.integers(0, len(sa) - 1), min_size=1))))
            axis_text = str(axes[0] - len(sa) if self.draw(st.booleans()) else axes[0]) \
                if len(axes) == 1 else str(axes)
        shape = tuple(1 if i in axes else d for i, d in enumerate(sa)) if keepdims \
            else tuple(d for i, d in enumerate(sa) if i not in axes)
        return self.emit(f"ops.{kind}({a}, axis={axis_text}, keepdims={keepdims})", shape)

    def matmul(self):
        picked = self.pick(lambda s: 1 <= len(s) <= 3)
        if picked is None:
            return self.unary()
        a, sa = picked
        n = self.dim()
        if len(sa) == 3:                       # batched: (d, m, k) @ (d, k, n)
            sb = (sa[0], sa[2], n)
            shape = (sa[0], sa[1], n)
        else:                                  # (m, k) @ (k, n) or (k,) @ (k, n)
            sb = (sa[-1], n)
            shape = sa[:-1] + (n,)
        if BATCH in sb[1:] or _size(sb) > MAX_ELEMENTS:
            return self.unary()
        b = self.new_input(sb)
        return self.emit(f"ops.matmul({a}, {b})", shape)

    def reshape(self):
        picked = self.pick(lambda s: BATCH not in s[1:] and len(s) >= 1)
        if picked is None:
            return self.unary()
        a, sa = picked
        lead = (BATCH,) if sa and sa[0] == BATCH else ()
        rest = _size(sa[len(lead):]) if lead else _size(sa)
        factors = _factorization(rest, self.draw(st.integers(1, 3 - len(lead))),
                                 self.draw(st.randoms(use_true_random=False)))
        target = ("-1",) + tuple(map(str, factors)) if lead else tuple(map(str, factors))
        return self.emit(f"ops.reshape({a}, ({', '.join(target)},))", lead + tuple(factors))

    def transpose(self):
        picked = self.pick(lambda s: len(s) >= 2)
        if picked is None:
            return self.unary()
        a, sa = picked
        perm = tuple(self.draw(st.permutations(range(len(sa)))))
        return self.emit(f"ops.transpose({a}, {perm})", tuple(sa[p] for p in perm))

    def slice(self):
        picked = self.pick(lambda s: any(d != BATCH and d >= 2 for d in s))
        if picked is None:
            return self.unary()
        a, sa = picked
        axis = self.draw(st.sampled_from([i for i, d in enumerate(sa) if d != BATCH and d >= 2]))
        size = sa[axis]
        if self.draw(st.integers(0, 3)) == 0:
            index, shape = str(self.draw(st.integers(-size, size - 1))), sa[:axis] + sa[axis + 1:]
        else:
            begin = self.draw(st.integers(0, size - 1))
            end = self.draw(st.integers(begin + 1, size))
            step = self.draw(st.integers(1, 2))
            index = f"{begin}:{end}" + (f":{step}" if step > 1 else "")
            shape = sa[:axis] + (len(range(begin, end, step)),) + sa[axis + 1:]
        key = ", ".join([":"] * axis + [index])
        return self.emit(f"{a}[{key}]", shape)

    def concatenate(self):
        picked = self.pick(lambda s: any(d != BATCH for d in s) and _size(s) * 2 <= MAX_ELEMENTS)
        if picked is None:
            return self.unary()
        a, sa = picked
        axis = self.draw(st.sampled_from([i for i, d in enumerate(sa) if d != BATCH]))
        other = self.pick(lambda s: len(s) == len(sa) and all(
            d == e or i == axis for i, (d, e) in enumerate(zip(s, sa))) and s[axis] != BATCH)
        if other is None or self.draw(st.booleans()):
            grown = sa[:axis] + (self.dim(),) + sa[axis + 1:]
            other = (self.new_input(grown), grown) if BATCH not in grown[1:] else (a, sa)
        b, sb = other
        shape = sa[:axis] + (sa[axis] + sb[axis],) + sa[axis + 1:]
        order = (a, b) if self.draw(st.booleans()) else (b, a)
        return self.emit(f"ops.concatenate([{order[0]}, {order[1]}], axis={axis})", shape)

    def softmax(self):
        picked = self.pick(lambda s: len(s) >= 1)
        if picked is None:
            return self.unary()
        a, sa = picked
        kind = self.draw(st.sampled_from(("softmax", "log_softmax")))
        axis = self.draw(st.integers(-len(sa), len(sa) - 1))
        return self.emit(f"ops.{kind}({a}, axis={axis})", sa)


    def expand(self):
        """``expand_dims`` then maybe ``broadcast_to`` over the new axis, or ``squeeze``."""
        picked = self.pick(lambda s: len(s) < MAX_RANK and _size(s) * 3 <= MAX_ELEMENTS)
        if picked is None:
            return self.unary()
        a, sa = picked
        ones = [i for i, d in enumerate(sa) if d == 1]
        if ones and self.draw(st.booleans()):
            axis = self.draw(st.sampled_from(ones))
            return self.emit(f"ops.squeeze({a}, axis={axis})", sa[:axis] + sa[axis + 1:])
        axis = self.draw(st.integers(0, len(sa)))
        shape = sa[:axis] + (1,) + sa[axis:]
        if BATCH in shape or self.draw(st.booleans()):
            return self.emit(f"ops.expand_dims({a}, {axis})", shape)
        shape = shape[:axis] + (self.dim(),) + shape[axis + 1:]
        return self.emit(f"ops.broadcast_to(ops.expand_dims({a}, {axis}), {shape})", shape)

    def gather(self):
        """``take`` of constant indices (repeats, any order) along a fixed-size axis, or
        ``stack`` of two values of one shape."""
        picked = self.pick(lambda s: any(d != BATCH for d in s))
        if picked is None:
            return self.unary()
        a, sa = picked
        if self.draw(st.booleans()) and len(sa) < MAX_RANK and _size(sa) * 2 <= MAX_ELEMENTS:
            b, _ = self.pick(lambda s: s == sa)
            axis = self.draw(st.integers(0, len(sa)))
            return self.emit(f"ops.stack([{a}, {b}], axis={axis})", sa[:axis] + (2,) + sa[axis:])
        axis = self.draw(st.sampled_from([i for i, d in enumerate(sa) if d != BATCH]))
        indices = self.draw(st.lists(st.integers(-sa[axis], sa[axis] - 1), min_size=1,
                                     max_size=max(1, MAX_ELEMENTS // max(1, _size(sa)))))
        shape = sa[:axis] + (len(indices),) + sa[axis + 1:]
        return self.emit(f"ops.take({a}, {indices}, axis={axis})", shape)


OPS = ("unary", "unary", "binary", "binary", "binary", "reduce", "matmul", "reshape",
       "transpose", "slice", "concatenate", "softmax", "expand", "gather")


def _factorization(n: int, parts: int, rnd) -> list[int]:
    """``n`` as a product of ``parts`` factors (some may be 1), in a random order."""
    factors = [1] * parts
    for p in _prime_factors(n):
        factors[rnd.randrange(parts)] *= p
    return factors


def _prime_factors(n: int) -> list[int]:
    out, p = [], 2
    while n > 1:
        while n % p == 0:
            out.append(p)
            n //= p
        p += 1
    return out


def _show(shape: tuple) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


@st.composite
def programs(draw, dtypes=("float32", "float64", "mixed"), max_ops: int = 5,
             symbolic=st.booleans(), exclude=()) -> Program:
    """A random valid :class:`Program` of 2..``max_ops`` ops (see the module docstring);
    ``exclude`` leaves out op families (names of :data:`OPS`)."""
    dtype = draw(st.sampled_from(dtypes))
    is_symbolic = draw(symbolic)
    builder = _Builder(draw, with_batch=is_symbolic or draw(st.booleans()))
    builder.new_input(builder.random_shape(batched=is_symbolic or draw(st.booleans())))
    families = [f for f in OPS if f not in exclude]
    for _ in range(draw(st.integers(2, max_ops))):
        getattr(builder, draw(st.sampled_from(families)))()
    results = [name for name, _ in builder.pool if name.startswith("t")]
    outputs = [name for name in results if name not in builder.used][-3:]
    return Program(dtype, is_symbolic, tuple(builder.inputs), tuple(builder.lines),
                   tuple(outputs), draw(st.integers(0, 2**16)))
