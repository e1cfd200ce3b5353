"""``fg.utils.model_to_dot`` / ``plot_model``: what Keras 3 draws for functional, Sequential
and subclassed models, files by suffix, atomic writes, and the errors that say what to
install when pydot or Graphviz's ``dot`` is missing (faked here). Rendering tests are
skipped where ``dot`` is not installed; the DOT structure tests need only pydot."""
import os
import shutil
import sys

import numpy as np
import pytest

import fusegraph as fg

pydot = pytest.importorskip("pydot")
needs_dot = pytest.mark.skipif(shutil.which("dot") is None,
                               reason="Graphviz's dot program is not installed")


def _functional():
    a, b = fg.Input(shape=(3,), name="a"), fg.Input(shape=(2,), name="b")
    x = fg.layers.Dense(4, activation="relu", name="hidden")(a)
    return fg.Model([a, b], fg.layers.Concatenate(name="cat")([x, b]), name="two_inputs")


def _sequential():
    return fg.Sequential([fg.Input(shape=(3,)), fg.layers.Dense(4, name="s1"),
                          fg.layers.Dense(2, name="s2")], name="stack")


class _Subclassed(fg.Model):
    def __init__(self):
        super().__init__(name="sub")
        self.dense = fg.layers.Dense(3)

    def call(self, x):
        return self.dense(x)


def _names(dot) -> dict:
    """Node id -> the name in its title row."""
    out = {}
    for node in dot.get_nodes() + [n for g in dot.get_subgraphs() for n in g.get_nodes()]:
        label = node.get("label") or ""
        if "<b>" in label:
            out[node.get_name()] = label.split("<b>", 1)[1].split("</b>", 1)[0]
    return out


def _edges(dot) -> set:
    names = _names(dot)
    return {(names[e.get_source()], names[e.get_destination()]) for e in dot.get_edges()}


def test_functional_boxes_and_edges_as_keras():
    dot = fg.utils.model_to_dot(_functional())
    assert sorted(_names(dot).values()) == ["a", "b", "cat", "hidden"]   # inputs included
    assert _edges(dot) == {("a", "hidden"), ("hidden", "cat"), ("b", "cat")}
    attrs = dot.get_attributes()
    assert (attrs["rankdir"], attrs["dpi"], attrs["splines"]) == ("TB", 200, "ortho")


def test_sequential_has_no_input_box_and_chains_its_layers():
    dot = fg.utils.model_to_dot(_sequential(), rankdir="LR")
    assert sorted(_names(dot).values()) == ["s1", "s2"]
    assert _edges(dot) == {("s1", "s2")}
    assert dot.get_attributes()["rankdir"] == "LR"


def test_subclassed_is_one_box():
    model = _Subclassed()
    model(np.ones((2, 4), "float32"))
    dot = fg.utils.model_to_dot(model)
    assert list(_names(dot).values()) == ["sub"] and not dot.get_edges()


def test_labels_follow_the_show_flags():
    model = _functional()
    model.get_layer("hidden").trainable = False
    label = {n.get_name(): n.get("label") for n in fg.utils.model_to_dot(
        model, show_shapes=True, show_dtype=True, show_layer_activations=True,
        show_trainable=True).get_nodes() if n.get("label")}
    hidden = next(v for v in label.values() if "<b>hidden</b> (Dense)" in v)
    assert "Activation: <b>relu</b>" in hidden
    assert "Input shape: <b>(None, 3)</b>" in hidden and "Output shape: <b>(None, 4)</b>" in hidden
    assert "Output dtype: <b>float32</b>" in hidden and "<b>Non-trainable</b>" in hidden
    a = next(v for v in label.values() if "<b>a</b> (InputLayer)" in v)
    assert "Input shape" not in a and "Output shape: <b>(None, 3)</b>" in a
    assert "Trainable" not in a                     # no weights: nothing said
    cat = next(v for v in label.values() if "(Concatenate)" in v)
    assert "Input shape: <b>[(None, 4), (None, 2)]</b>" in cat
    plain = [n.get("label") for n in fg.utils.model_to_dot(
        model, show_layer_names=False).get_nodes() if n.get("label")]
    assert any("<b>Dense</b>" in v for v in plain) and not any("hidden" in v for v in plain)


def test_expand_nested_draws_a_cluster_and_edges_into_it():
    inner = _sequential()
    x = fg.Input(shape=(3,), name="x")
    outer = fg.Model(x, fg.layers.Dense(1, name="head")(inner(x)))
    flat = fg.utils.model_to_dot(outer)
    assert _edges(flat) == {("x", "stack"), ("stack", "head")}
    nested = fg.utils.model_to_dot(outer, expand_nested=True)
    (cluster,) = nested.get_subgraphs()
    assert cluster.get_name() == "cluster_stack" and cluster.get("style") == "dashed"
    assert _edges(nested) == {("x", "s1"), ("s2", "head")}
    assert {(_names(nested)[e.get_source()], _names(nested)[e.get_destination()])
            for e in cluster.get_edges()} == {("s1", "s2")}


def test_bad_arguments():
    with pytest.raises(ValueError, match="not been built"):
        fg.utils.model_to_dot(_Subclassed())
    with pytest.raises(ValueError, match="layer_range.*no longer supported"):
        fg.utils.plot_model(_sequential(), layer_range=["s1", "s2"])
    with pytest.raises(ValueError, match="Unrecognized keyword arguments: \\['colour'\\]"):
        fg.utils.model_to_dot(_sequential(), colour="red")
    with pytest.raises(TypeError, match="takes a model"):
        fg.utils.plot_model(fg.layers.Dense(2))


@needs_dot
@pytest.mark.parametrize("suffix,magic", [(".png", b"\x89PNG"), ("", b"\x89PNG"),
                                          (".svg", b"<?xml"), (".pdf", b"%PDF")])
def test_plot_model_writes_the_suffixs_format(tmp_path, suffix, magic):
    path = tmp_path / f"model{suffix}"
    assert fg.utils.plot_model(_functional(), to_file=path, show_shapes=True) is None
    assert path.read_bytes().startswith(magic)
    assert os.listdir(tmp_path) == [path.name]            # no temporary file left


def test_a_dot_file_is_the_dot_text_and_needs_no_graphviz(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))             # no `dot` anywhere
    path = tmp_path / "model.dot"
    model = _sequential()
    fg.utils.plot_model(model, to_file=str(path))
    text = path.read_text()
    assert text.startswith("digraph G {") and "<b>Dense</b>" in text   # Keras: no names
    assert text == fg.utils.model_to_dot(model, show_layer_names=False).to_string()


def test_without_dot_the_error_says_to_install_graphviz(tmp_path, monkeypatch):
    path = tmp_path / "model.png"
    path.write_bytes(b"old")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ImportError, match=r"plot_model needs Graphviz's `dot`.*apt install "
                                          r"graphviz"):
        fg.utils.plot_model(_sequential(), to_file=str(path))
    assert path.read_bytes() == b"old"


def test_without_pydot_the_error_says_pip_install_pydot(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pydot", None)       # `import pydot` fails
    with pytest.raises(ImportError, match=r"plot_model needs pydot.*`pip install pydot`"):
        fg.utils.plot_model(_sequential(), to_file=str(tmp_path / "m.png"))
    with pytest.raises(ImportError, match=r"model_to_dot needs pydot"):
        fg.utils.model_to_dot(_sequential())
    assert os.listdir(tmp_path) == []


@needs_dot
def test_a_format_graphviz_refuses_leaves_the_file(tmp_path):
    path = tmp_path / "model.nosuchformat"
    with pytest.raises(ValueError, match="could not write format 'nosuchformat'"):
        fg.utils.plot_model(_sequential(), to_file=str(path))
    assert os.listdir(tmp_path) == []


def test_expand_nested_functional_points_into_its_input_and_output_layers():
    ix = fg.Input(shape=(3,), name="ix")
    inner = fg.Model(ix, fg.layers.Dense(2, name="id")(ix), name="inner")
    x = fg.Input(shape=(3,), name="x")
    outer = fg.Model(x, fg.layers.Dense(1, name="head")(inner(x)))
    nested = fg.utils.model_to_dot(outer, expand_nested=True, show_shapes=True)
    assert _edges(nested) == {("x", "ix"), ("id", "head")}
    (cluster,) = nested.get_subgraphs()
    names = _names(nested)
    assert {(names[e.get_source()], names[e.get_destination()])
            for e in cluster.get_edges()} == {("ix", "id")}
    flat = fg.utils.model_to_dot(outer, show_shapes=True)
    label = next(n.get("label") for n in flat.get_nodes() if "(Functional)" in (n.get("label") or ""))
    assert "Input shape: <b>(None, 3)</b>" in label and "Output shape: <b>(None, 2)</b>" in label
