"""The ``fusegraph`` command line.

    fusegraph dump FILE.py [--format text|dot] [--stage forward]

``dump`` imports FILE.py, calls its ``build_model()`` and prints the model's graph at
the chosen stage, as SSA text or as Graphviz DOT.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import sys


def load_user_file(path: str):
    """Import a user's Python file as a module (its folder joins sys.path first)."""
    if not os.path.isfile(path):
        raise SystemExit(f"fusegraph: no such file: {path}")
    folder = os.path.dirname(os.path.abspath(path))
    if folder not in sys.path:
        sys.path.insert(0, folder)
    name = os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def build_user_model(path: str):
    module = load_user_file(path)
    if not callable(getattr(module, "build_model", None)):
        raise SystemExit(f"fusegraph: {path} defines no build_model() function returning a model")
    return module, module.build_model()


def _dump(args) -> int:
    from .ir.graphviz import to_dot
    _, model = build_user_model(args.file)
    if args.format == "dot":
        if args.stage != "forward":
            raise SystemExit("fusegraph: --format dot supports --stage forward only")
        print(to_dot(model.graph))
    else:
        print(model.ir(args.stage))
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="fusegraph", description="Compile Keras-style models.")
    commands = parser.add_subparsers(dest="command", required=True)
    dump = commands.add_parser("dump", help="print a model's IR (or DOT) at a stage")
    dump.add_argument("file", help="a Python file defining build_model()")
    dump.add_argument("--format", choices=("text", "dot"), default="text")
    dump.add_argument("--stage", default="forward", help="which graph (default: forward)")
    dump.set_defaults(run=_dump)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
