"""``fg.distribute``: data-parallel training over MPI (see
:mod:`fusegraph.runtime.distribute` and the README's "Data parallelism over MPI").

    strategy = fg.distribute.DataParallel()        # the ranks mpirun started
    model.compile(optimizer="adam", loss="mse", distribute=strategy)
    model.fit(x, y, batch_size=256)                # 256: the global batch
"""
from .runtime.distribute import DataParallel, barrier, rank, world_size

__all__ = ["DataParallel", "barrier", "rank", "world_size"]
