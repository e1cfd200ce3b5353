"""The runtime: what ``Model`` mixes in to run (predict now; compile/fit next)."""
from ..ir.builder import register_internal_dir

register_internal_dir(__file__)
