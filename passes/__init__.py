"""Graph -> Graph transforms and the pass manager that runs them.

Each pass has one job and a docstring stating its contract; :mod:`.manager` holds the
``{name: Pass}`` registry and :func:`run_pipeline`. ``DEFAULT_PIPELINE`` is the order
passes run in by default, read top to bottom.
"""
from .cse import cse
from .dce import dce
from .fusion import fuse
from .manager import PASSES, Pass, PassRun, PipelineReport, register_pass, run_pipeline
from .merge_scans import merge_scans
from .shape_inference import infer_shapes
from .simplify import simplify

# What a graph goes through before a backend compiles it.
DEFAULT_PIPELINE = [
    "simplify",      # fold constants, drop identities (and untaken training branches)
    "cse",           # merge duplicates (the many equal constants of a traced step)
    "merge_scans",   # one loop for a recurrent layer's forward and autodiff's saving scan
    "simplify",      # what merging exposed
    "dce",
]

# Backends that compile kernels run this after the default pipeline.
FUSION_PIPELINE = DEFAULT_PIPELINE + ["fusion"]



def pipeline_through(after: str, pipeline=None) -> list[str]:
    """The passes of ``pipeline`` (default: FUSION_PIPELINE, every pass a graph goes
    through before a kernel backend) up to and including the last run of ``after``."""
    names = list(FUSION_PIPELINE if pipeline is None else pipeline)
    if after not in names:
        raise ValueError(f"unknown pass {after!r} for after=: the pipeline is {names}")
    return names[:len(names) - names[::-1].index(after)]


__all__ = ["DEFAULT_PIPELINE", "FUSION_PIPELINE", "PASSES", "Pass", "PassRun", "PipelineReport",
           "cse", "dce", "fuse", "infer_shapes", "merge_scans", "pipeline_through",
           "register_pass", "run_pipeline", "simplify"]
