"""Graphviz files: DOT text rendered by Graphviz's ``dot`` program and written atomically.

``write_graph(dot_text, path, purpose)`` writes ``path`` in the format its suffix names:
``.dot`` (and ``.gv``) the DOT text itself, which needs no Graphviz; any other suffix
(``.png``, ``.svg``, ``.pdf``, ``.jpg``, ...; none means ``.png``, as Keras's
``plot_model``) what ``dot -T<suffix>`` makes of the text. The file is replaced whole or
not at all (:func:`.atomic_file.write_atomically`). :func:`require_pydot` and
:func:`require_dot` give the library and the program, or raise ImportError saying what
to install (``pip install pydot``, ``apt install graphviz``) and what needed it.
"""
from __future__ import annotations

import importlib
import os
import shutil
import subprocess

from .atomic_file import write_atomically

_SOURCE_SUFFIXES = ("dot", "gv")


def require_pydot(purpose: str):
    """The ``pydot`` module, or ImportError naming ``pip install pydot`` and ``purpose``."""
    try:
        return importlib.import_module("pydot")
    except ImportError:
        raise ImportError(f"{purpose} needs pydot: install it with `pip install pydot` (or "
                          f"`pip install fusegraph[plot]`); it also needs Graphviz's `dot` "
                          f"program (`apt install graphviz`, `brew install graphviz`, or "
                          f"https://graphviz.org/download/)") from None


def require_dot(purpose: str) -> str:
    """The path of Graphviz's ``dot`` program on PATH, or ImportError saying how to install
    it and what needed it."""
    program = shutil.which("dot")
    if program is None:
        raise ImportError(f"{purpose} needs Graphviz's `dot` program, which is not on PATH: "
                          f"install Graphviz (`apt install graphviz`, `brew install graphviz`, "
                          f"`conda install graphviz`, or https://graphviz.org/download/), or "
                          f"write a .dot file, which needs no Graphviz")
    return program


def file_format(path: str) -> str:
    """The format ``path``'s suffix names (lower case, no dot); ``png`` without one."""
    suffix = os.path.splitext(str(path))[1][1:].lower()
    return suffix or "png"


def render(dot_text: str, fmt: str, purpose: str) -> bytes:
    """``dot_text`` rendered by ``dot -T<fmt>``; ValueError with Graphviz's own message when
    it refuses the format or the text."""
    program = require_dot(purpose)
    done = subprocess.run([program, f"-T{fmt}"], input=dot_text.encode(), capture_output=True,
                          check=False)
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip()
        raise ValueError(f"{purpose}: Graphviz's dot could not write format '{fmt}': {message}")
    return done.stdout


def write_graph(dot_text: str, path, purpose: str) -> None:
    """Write ``dot_text`` to ``path`` in the format of its suffix (see the module
    docstring), atomically. Rendering happens before the file is touched: a failure
    leaves ``path`` as it was."""
    path = os.fspath(path)
    fmt = file_format(path)
    data = dot_text.encode() if fmt in _SOURCE_SUFFIXES else render(dot_text, fmt, purpose)
    write_atomically(path, lambda f: f.write(data))
