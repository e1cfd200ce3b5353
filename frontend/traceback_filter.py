"""Short tracebacks: fusegraph's own frames left out of errors raised through its entry
points, as Keras 3 filters its tracebacks.

An error raised deep inside fusegraph (a shape error while a layer traces, a bad argument
to ``fit``) would otherwise show six to a dozen frames of fusegraph's machinery between
the user's line and the message. :func:`filter_traceback` wraps a public entry point
(``Layer.__call__``, ``Model.__call__``, ``compile``, ``fit``, ``evaluate``, ``predict``,
the ``*_on_batch`` methods, a ``fg.function``'s call, ``GradientTape.gradient``): an
exception leaving it keeps its type, message, cause and context, and its traceback keeps
every frame that is not fusegraph's (the user's own code called back from inside, such
as a subclassed layer's ``call``, and other libraries'), plus the wrapper's own frame,
the one line of fusegraph left to say where the error left it.

fusegraph's frames are those of files under its packages' folders (``fusegraph``,
``fusegraph.ir``, ``.passes``, ``.backends``, ``.frontend``, ``.runtime``; in an editable
install these are sibling folders of the checkout, whose ``tests`` and ``examples`` stay
the user's), and of Python's ``contextlib``, whose frames only relay an error through a
``with`` block.

The switch is process-wide, as Keras's: :func:`enable_traceback_filtering`,
:func:`disable_traceback_filtering`, :func:`is_traceback_filtering_enabled` (exported as
``fg.config.*``); it starts on unless the environment variable
``FUSEGRAPH_TRACEBACK_FILTERING`` is ``0``, ``false`` or ``off``. Off, an entry point
calls straight through and tracebacks are whole.
"""
from __future__ import annotations

import contextlib
import functools
import os
import sys
import types

_PACKAGES = ("fusegraph", "fusegraph.ir", "fusegraph.passes", "fusegraph.backends",
             "fusegraph.frontend", "fusegraph.runtime")
_enabled = os.environ.get("FUSEGRAPH_TRACEBACK_FILTERING", "1").strip().lower() \
    not in ("0", "false", "off", "no")


def enable_traceback_filtering() -> None:
    """Leave fusegraph's own frames out of the tracebacks of errors its entry points
    raise (the default)."""
    global _enabled
    _enabled = True


def disable_traceback_filtering() -> None:
    """Show every frame of fusegraph's in tracebacks (to debug fusegraph itself)."""
    global _enabled
    _enabled = False


def is_traceback_filtering_enabled() -> bool:
    """Whether tracebacks leave fusegraph's own frames out."""
    return _enabled


_folders: tuple = ()       # fusegraph's folders, once all its packages are imported


def _internal_folders() -> tuple:
    """The folders whose files are fusegraph's (kept once every package is imported)."""
    global _folders
    if _folders:
        return _folders
    found = {os.path.join(os.path.abspath(path), "")
             for name in _PACKAGES if name in sys.modules
             for path in getattr(sys.modules[name], "__path__", ())}
    found.add(os.path.join(os.path.dirname(os.path.abspath(__file__)), ""))
    if all(name in sys.modules for name in _PACKAGES):
        _folders = tuple(found)
    return tuple(found)


_CONTEXTLIB = os.path.abspath(contextlib.__file__)


def is_internal_file(filename: str) -> bool:
    """Whether frames of ``filename`` are left out of filtered tracebacks."""
    path = os.path.abspath(filename)
    return path == _CONTEXTLIB or path.startswith(_internal_folders())


def trimmed(tb: types.TracebackType | None) -> types.TracebackType | None:
    """A traceback of ``tb``'s frames that are not fusegraph's, in the same order (None
    when none is left)."""
    kept = []
    while tb is not None:
        if not is_internal_file(tb.tb_frame.f_code.co_filename):
            kept.append(tb)
        tb = tb.tb_next
    head = None
    for entry in reversed(kept):
        head = types.TracebackType(head, entry.tb_frame, entry.tb_lasti, entry.tb_lineno)
    return head


def filter_traceback(fn):
    """``fn`` as an entry point whose errors leave fusegraph's frames out of their
    traceback while filtering is on (see the module docstring)."""
    @functools.wraps(fn)
    def entry(*args, **kwargs):
        if not _enabled:
            return fn(*args, **kwargs)
        try:
            return fn(*args, **kwargs)
        except Exception as error:
            # fusegraph's frames left out; fg.config.disable_traceback_filtering() shows them
            raise error.with_traceback(trimmed(error.__traceback__))  # noqa: B904
    return entry
