"""The Numba CUDA backend (being written)."""
