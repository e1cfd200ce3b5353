"""``fg.data``: input pipelines (``Dataset``, as ``tf.data.Dataset``)."""
from .runtime.data import INFINITE_CARDINALITY, Dataset

__all__ = ["Dataset", "INFINITE_CARDINALITY"]
