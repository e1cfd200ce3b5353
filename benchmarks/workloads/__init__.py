"""The benchmark workloads, each written once per framework with the same math.

``specs`` holds what the frameworks share (sizes, the batch, initial weights, optimizer
settings); ``fusegraph_models``, ``torch_models`` and ``jax_models`` each build a
workload and return a ``step()`` that trains one step and returns its loss as a float.
Importing this package imports none of the frameworks: a process imports only the
module of the framework it measures.
"""
from .specs import WORKLOADS, Workload, batch, initial_weights, matmul_flops

__all__ = ["WORKLOADS", "Workload", "batch", "initial_weights", "matmul_flops"]
