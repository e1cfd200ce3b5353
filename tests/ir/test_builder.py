"""Where ops say they come from: the user's innermost frame, never fusegraph's own code,
Python's frozen modules or a registered launcher script."""
import importlib.util
import os

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
