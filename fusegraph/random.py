"""``fg.random``: draws traced into the graph (see ``fusegraph.frontend.random``)."""
from .frontend.random import SeedGenerator, normal, uniform

__all__ = ["SeedGenerator", "normal", "uniform"]
