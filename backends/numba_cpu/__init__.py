"""The Numba CPU backend (being written)."""
