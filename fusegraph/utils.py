"""``fg.utils``: session helpers with Keras's names."""
from .frontend import naming, random_state
from .frontend.random_state import set_random_seed
from .runtime.array_utils import pad_sequences, to_categorical
from .runtime.dataset_split import split_dataset
from .runtime.images import image_grid, save_image
from .runtime.plot_model import model_to_dot, plot_model
from .runtime.py_dataset import PyDataset
from .runtime.timeseries import timeseries_dataset_from_array

Sequence = PyDataset   # Keras 3 exports PyDataset under this older name too

__all__ = ["PyDataset", "Sequence", "clear_session", "image_grid", "model_to_dot",
           "pad_sequences", "plot_model", "save_image", "set_random_seed", "split_dataset",
           "timeseries_dataset_from_array", "to_categorical"]


def clear_session() -> None:
    """Forget every auto-name and variable path (as ``keras.backend.clear_session``) and
    number draw sites from the first again, keeping the seed: a model built again after
    it traces the same graph (see :mod:`fusegraph.frontend.random_state`)."""
    naming.clear_session()
    random_state.restart_sites()
