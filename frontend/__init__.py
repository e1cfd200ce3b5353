"""The tracing frontend: symbolic tensors, ops, layers, models."""
from ..ir.builder import register_internal_dir

register_internal_dir(__file__)
