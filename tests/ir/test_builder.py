"""Where ops say they come from: the user's innermost frame, never fusegraph's own code,
Python's frozen modules or a registered launcher script."""
import importlib.util
import os

import pytest

from fusegraph.ir import BATCH as B, TensorType, Value, emit
from fusegraph.ir.builder import register_internal_file, user_location


def _launcher(tmp_path, name):
    path = tmp_path / f"{name}.py"
    path.write_text("def run(f):\n    return f()\n")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return path, module


def test_a_registered_launcher_is_not_the_users_line(tmp_path):
    x = Value(TensorType((B, 3)), name="x")
    path, plain = _launcher(tmp_path, "plain_launcher")
    assert plain.run(lambda: emit("exp", x)).producer.loc.file == os.path.basename(__file__)
    assert plain.run(user_location).file == "plain_launcher.py"   # its own frame is a user's
    path, launcher = _launcher(tmp_path, "registered_launcher")
    register_internal_file(str(path))
    assert launcher.run(user_location).file == os.path.basename(__file__)
    outer = launcher.run  # called from here: this file is the user's
    assert outer(lambda: emit("neg", x)).producer.loc.file == os.path.basename(__file__)


def test_a_shape_rule_runs_once_per_kind_types_and_attributes(monkeypatch):
    """emit_op caches result types by (kind, operand types, attributes); errors are not
    cached, and a large attribute (a constant's array) bypasses the cache."""
    from fusegraph.ir import builder
    from fusegraph.ir.errors import ShapeError

    cache = {}
    monkeypatch.setattr(builder, "_INFERRED", cache)
    x = Value(TensorType((B, 3)), name="x")
    first = builder.emit_op("reduce_sum", [x], {"axes": (1,)})
    again = builder.emit_op("reduce_sum", [Value(TensorType((B, 3)), name="y")], {"axes": (1,)})
    assert len(cache) == 1 and first.results[0].type == again.results[0].type
    other = builder.emit_op("reduce_sum", [x], {"axes": (0,)})
    assert len(cache) == 2 and other.results[0].type == TensorType((3,))
    for _ in range(2):
        with pytest.raises(ShapeError):
            builder.emit_op("reduce_sum", [x], {"axes": (2,)})
    assert len(cache) == 2
    assert builder._inference_key("constant", (), {"value": list(range(100))}) is None
    nested = [[float(i)] * 20 for i in range(16)]              # 16 rows: 320 numbers
    assert builder._inference_key("broadcast_to", (), {"shape": nested}) is None
    builder.emit_op("constant", [], {"value": nested, "dtype": "float32"})
    assert len(cache) == 2                                     # constants are never cached
