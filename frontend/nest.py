"""Nested structures (lists, tuples, dicts of leaves): flatten and rebuild."""
from __future__ import annotations


def flatten(structure) -> list:
    """Leaves in order: lists/tuples by position, dicts by insertion order."""
    if isinstance(structure, (list, tuple)):
        return [leaf for item in structure for leaf in flatten(item)]
    if isinstance(structure, dict):
        return [leaf for item in structure.values() for leaf in flatten(item)]
    return [structure]


def pack_like(structure, leaves) -> object:
    """``structure`` with its leaves replaced, in order, by ``leaves``."""
    it = iter(leaves)

    def rebuild(s):
        if isinstance(s, (list, tuple)):
            return type(s)(rebuild(item) for item in s)
        if isinstance(s, dict):
            return {k: rebuild(v) for k, v in s.items()}
        return next(it)

    return rebuild(structure)


def map_structure(fn, structure):
    return pack_like(structure, [fn(leaf) for leaf in flatten(structure)])


def treedef(structure):
    """The nesting of ``structure`` with its leaves left out, hashable: equal for two
    structures that ``pack_like`` could rebuild from each other's leaves."""
    if isinstance(structure, (list, tuple)):
        return (type(structure), tuple(treedef(item) for item in structure))
    if isinstance(structure, dict):
        return (dict, tuple((k, treedef(v)) for k, v in structure.items()))
    return None


def labelled_leaves(structure, label: str) -> list:
    """``(label, leaf)`` pairs in :func:`flatten` order, each leaf labelled by its path
    from ``label``: ``x['a']``, ``y[0]``, or ``label`` itself for a lone leaf."""
    if isinstance(structure, (list, tuple)):
        return [p for i, s in enumerate(structure) for p in labelled_leaves(s, f"{label}[{i}]")]
    if isinstance(structure, dict):
        return [p for k, s in structure.items() for p in labelled_leaves(s, f"{label}[{k!r}]")]
    return [(label, structure)]
