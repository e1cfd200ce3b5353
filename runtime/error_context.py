"""Where an error of bad input is said from: :func:`errors_from` puts the method or batch
(``fit(), epoch 2, batch 3``) before the message of an error raised inside it, keeping its
type and traceback. Used by every entry point of the training loops."""
from __future__ import annotations

import contextlib

from ..ir.errors import FusegraphError
from ..frontend.guards import IndexRangeError


@contextlib.contextmanager
def errors_from(where: str):
    """Errors of bad input raised inside are said from ``where`` (a method, a batch): a
    :class:`IndexRangeError` (a class label or token id out of range) is said again from
    there; a ValueError, TypeError, KeyError or fusegraph error (an op that failed on the
    batch's values, such as a gather of a computed index out of range) gets ``where: `` before its message (its type and traceback
    stay)."""
    try:
        yield
    except IndexRangeError as error:
        raise error.located(where).with_traceback(error.__traceback__) from None
    except (ValueError, TypeError, KeyError, FusegraphError) as error:
        if error.args and isinstance(error.args[0], str):
            error.args = (f"{where}: {error.args[0]}",) + error.args[1:]
        raise
