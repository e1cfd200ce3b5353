"""Graph -> Graph transforms and the pass manager that runs them.

Each pass has one job and a docstring stating its contract; :mod:`.manager` holds the
``{name: Pass}`` registry and :func:`run_pipeline`. ``DEFAULT_PIPELINE`` is the order
passes run in by default, read top to bottom.
"""
from .manager import PASSES, Pass, PassRun, PipelineReport, register_pass, run_pipeline
from .shape_inference import infer_shapes

DEFAULT_PIPELINE = [
    "shape_inference",
]

__all__ = ["DEFAULT_PIPELINE", "PASSES", "Pass", "PassRun", "PipelineReport", "infer_shapes",
           "register_pass", "run_pipeline"]
