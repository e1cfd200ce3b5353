"""``model.summary()``'s width (Keras 3's rule: 88 or 108 columns at most the terminal's
width less 4, columns at fractions of it), wrapping, and its other Keras arguments. The
terminal is faked with a fixed width."""
import os

import pytest

import fusegraph as fg


@pytest.fixture
def terminal(monkeypatch):
    """Set the fake terminal's width."""
    def set_width(columns: int):
        monkeypatch.setattr("shutil.get_terminal_size",
                            lambda fallback=(80, 24): os.terminal_size((columns, 24)))
    return set_width


def _text(model, **kwargs) -> list[str]:
    lines = []
    model.summary(print_fn=lines.append, **kwargs)
    return lines[0].splitlines()


def _chain():
    return fg.Sequential([fg.Input(shape=(3,)), fg.layers.Dense(4, name="hidden"),
                          fg.layers.Dense(2, name="out")])


def _graph():
    a, b = fg.Input(shape=(3,), name="a"), fg.Input(shape=(2,), name="b")
    x = fg.layers.Dense(4, name="d")(a)
    return fg.Model([a, b], fg.layers.Concatenate(name="cat")([x, b]))


def _widest(lines) -> int:
    return max(len(line) for line in lines)


def test_default_width_is_88_or_108_when_the_terminal_is_wide(terminal):
    terminal(200)
    chain = _text(_chain())
    assert chain[1] == "━" * 88 and _widest(chain) == 88
    graph = _text(_graph())
    assert graph[1] == "━" * 108 and "Connected to" in graph[2]


def test_the_width_follows_a_narrow_terminal(terminal):
    terminal(60)
    lines = _text(_graph())
    assert lines[1] == "━" * 56 and _widest(lines) <= 56


def test_columns_end_at_keras_fractions(terminal):
    """Sequential-like: columns end at 0.45, 0.80, 1.0 of 88 (39, 70, 88); Param # is
    right-aligned, two spaces before the end."""
    terminal(200)
    lines = _text(_chain())
    header = lines[2]
    assert header.index("Output Shape") == int(0.45 * 88)
    assert header.rstrip().endswith("Param #") and len(header.rstrip()) == 88 - 2
    row = next(line for line in lines if line.startswith("hidden (Dense)"))
    assert row[int(0.45 * 88):].startswith("(None, 4)") and row.endswith("16")


def test_graph_columns_and_connections(terminal):
    terminal(200)
    lines = _text(_graph())
    header = lines[2]
    assert [header.index(h) for h in ("Output Shape", "Param #", "Connected to")][0] == \
        int(0.3 * 108)
    assert header.index("Connected to") == int(0.74 * 108)
    rows = [line.split() for line in lines]
    assert ["a", "(InputLayer)", "(None,", "3)", "0", "-"] in rows
    assert ["cat", "(Concatenate)", "(None,", "6)", "0", "d[0][0],", "b[0][0]"] in rows


def test_line_length_and_absolute_positions_are_kept(terminal):
    terminal(40)
    lines = _text(_chain(), line_length=70)
    assert lines[1] == "━" * 70
    absolute = _text(_chain(), line_length=70, positions=[20, 50, 70])
    assert absolute[2].index("Output Shape") == 20
    fractions = _text(_chain(), positions=[0.5, 0.75, 1.0], line_length=80)
    assert fractions[2].index("Output Shape") == 40


def test_long_cells_wrap_and_long_words_are_cut(terminal):
    terminal(200)
    model = fg.Sequential([fg.Input(shape=(3,)),
                           fg.layers.Dense(2, name="a_rather_long_layer_name_for_wrapping")])
    lines = _text(model, line_length=50)
    assert all(len(line) <= 50 for line in lines)
    cut = next(line for line in lines if line.startswith("a_rather"))
    assert cut.split()[0] == "a_rather_long_layer_…"          # 22 columns: 21 and the cut
    assert lines[lines.index(cut) + 1].strip() == "(Dense)"   # the class on the next line


def test_too_narrow_is_keras_error(terminal):
    terminal(200)
    with pytest.raises(ValueError, match="Insufficient console width"):
        _text(_chain(), line_length=8)
    with pytest.raises(ValueError, match="positions must give the end of each of the 3"):
        _text(_chain(), positions=[0.5, 1.0])


def test_show_trainable_adds_a_column(terminal):
    terminal(200)
    model = _chain()
    model.get_layer("out").trainable = False
    lines = _text(model, show_trainable=True)
    assert lines[1] == "━" * 100 and lines[2].rstrip().endswith("Trainable")
    rows = [line.split() for line in lines]
    assert ["hidden", "(Dense)", "(None,", "4)", "16", "Y"] in rows
    assert ["out", "(Dense)", "(None,", "2)", "10", "N"] in rows


def test_layer_range_and_expand_nested(terminal):
    terminal(200)
    inner = _chain()
    x = fg.Input(shape=(3,))
    outer = fg.Model(x, fg.layers.Dense(1, name="head")(inner(x)))
    rows = [line.split() for line in _text(outer, expand_nested=True)]
    assert ["sequential", "(Sequential)", "(None,", "2)", "26"] in rows
    assert ["└", "hidden", "(Dense)", "(None,", "4)", "16"] in rows
    names = [r[0] for r in (line.split() for line in _text(outer, layer_range=["seq", "head"]))
             if r and r[-1].isdigit()]
    assert names == ["sequential", "head"]
    with pytest.raises(ValueError, match="matches no layer"):
        _text(outer, layer_range=["nothing", "head"])
