"""Graph -> Graph transforms and the pass manager that runs them.

Each pass has one job and a docstring stating its contract; :mod:`.manager` holds the
``{name: Pass}`` registry and :func:`run_pipeline`. ``DEFAULT_PIPELINE`` is the order
passes run in by default, read top to bottom.
"""
from .all_reduce_buckets import all_reduce_buckets
from .cse import cse
from .dce import dce
from .early_scans import early_scans
from .expand import expand
from .fusion import fuse, targeting
from .hoist_invariants import hoist_invariants
from .hoist_sums import hoist_sums
from .late_scaling import late_scaling
from .manager import (PASSES, Pass, PassRun, PipelineReport, collecting, count, register_pass,
                      run_pipeline)
from .memory import MemoryPlan, memory_report, plan_memory
from .merge_scans import merge_scans
from .one_hot_compares import one_hot_compares
from .permuted_matmuls import permuted_matmuls
from .regions import map_scan_regions, run_on_scan_regions
from .rewrite import Rule, RuleTable
from .reduce_views import reduce_views
from .shape_inference import infer_shapes
from .simplify import simplify
from .sparse_rows import sparse_rows
from .updates_last import updates_last

# What a graph goes through before a backend compiles it.
DEFAULT_PIPELINE = [
    "expand",        # composite ops (softmax) as primitives: autodiff used their own VJPs
    "one_hot_compares",  # one_hot as ids == iota, which fusion joins to its users
    "simplify",      # fold constants, drop identities (and untaken training branches)
    "cse",           # merge duplicates (the many equal constants of a traced step)
    "merge_scans",   # one loop for a recurrent layer's forward and autodiff's saving scan
    "simplify",      # what merging exposed
    "dce",
    "scan_bodies",   # simplify, cse, dce inside each loop body (it runs once per step)
    "hoist_sums",    # a loop's weight-gradient accumulators as sums over its stacked steps
    "hoist_invariants",  # a body's work on loop invariants done once, before the loop
    "reduce_views",  # a reduction of a transposed/reshaped value reads the value's base
    "all_reduce_buckets",  # a data-parallel step's all-reduces in buckets, each sent early
]

# The default pipeline, then kernels formed (each kernel backend states its own pipeline
# and what its kernels hold: ``PIPELINE`` and ``CAPABILITY`` of its package).
FUSION_PIPELINE = DEFAULT_PIPELINE + ["fusion"]


def pipeline_through(after: str, pipeline=None) -> list[str]:
    """The passes of ``pipeline`` (default: FUSION_PIPELINE, every pass a graph goes
    through before a kernel backend) up to and including the last run of ``after``."""
    names = list(FUSION_PIPELINE if pipeline is None else pipeline)
    if after not in names:
        raise ValueError(f"unknown pass {after!r} for after=: the pipeline is {names}")
    return names[:len(names) - names[::-1].index(after)]


__all__ = ["DEFAULT_PIPELINE", "FUSION_PIPELINE", "all_reduce_buckets", "MemoryPlan", "PASSES", "Pass",
           "PassRun", "PipelineReport", "Rule", "RuleTable", "collecting", "count", "cse",
           "dce", "early_scans", "expand", "fuse", "hoist_invariants", "hoist_sums", "infer_shapes",
           "late_scaling",
           "map_scan_regions", "memory_report", "merge_scans", "one_hot_compares", "permuted_matmuls",
           "pipeline_through",
           "plan_memory", "reduce_views", "register_pass", "run_on_scan_regions", "run_pipeline",
           "simplify",
           "sparse_rows", "targeting", "updates_last"]
