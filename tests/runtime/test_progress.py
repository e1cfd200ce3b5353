import io

import pytest

from fusegraph.runtime.progress import ProgressBar

DONE, TODO = "━", "─"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def make(target, **kwargs):
    """A bar that redraws (as on a terminal) into a StringIO, on a clock the test sets."""
    out, clock = io.StringIO(), Clock()
    bar = ProgressBar(target, file=out, clock=clock, interval=0, **{"dynamic": True, **kwargs})
    return bar, out, clock


def bar_of(done, width=20):
    return DONE * done + TODO * (width - done)


def test_verbose_1_redraws_one_line_with_eta_then_finalizes_with_elapsed():
    bar, out, clock = make(40)
    clock.now += 2.0  # the first step compiles: it is left out of the time per step
    bar.update(1, {"loss": 0.61234, "priority_loss": 0.123449})
    for step in range(2, 13):
        clock.now += 0.025
        bar.update(step, {"loss": 0.5123, "priority_loss": 0.1234})
    text = out.getvalue()
    assert text.startswith(f"\r 1/40 {bar_of(0)} 1:18 2s/step - loss: 0.6123 - "
                           f"priority_loss: 0.1234\r 2/40 {bar_of(1)} 0s 25ms/step")
    assert text.endswith(f"\r12/40 {bar_of(6)} 0s 25ms/step - loss: 0.5123 - "
                         f"priority_loss: 0.1234")
    assert "\n" not in text
    for step in range(13, 41):
        clock.now += 0.025
        bar.update(step, {"loss": 0.5123, "priority_loss": 0.1234})
    bar.update(40, {"loss": 0.5, "val_loss": 0.25}, finalize=True)
    last = out.getvalue().split("\r")[-1]
    assert last == (f"40/40 {bar_of(20)} 3s 25ms/step - loss: 0.5000 - priority_loss: 0.1234"
                    f" - val_loss: 0.2500\n")


def test_eta_formats():
    bar, out, clock = make(10000)
    clock.now += 1.0
    bar.update(1, {})
    assert out.getvalue() == f"\r    1/10000 {bar_of(0)} 2:46:39 1s/step"
    bar, out, clock = make(100)
    clock.now += 2.0
    bar.update(1, {})
    assert out.getvalue() == f"\r  1/100 {bar_of(0)} 3:18 2s/step"


def test_a_shorter_line_is_padded_over_the_longer_one():
    bar, out, clock = make(2)
    clock.now += 0.5
    bar.update(1, {"loss": 123.0})
    clock.now += 0.5
    bar.update(2, {})
    bar.update(2, {"loss": 1e-5}, finalize=True)
    first, second, third = out.getvalue().split("\r")[1:]
    assert first == f"1/2 {bar_of(10)} 0s 500ms/step - loss: 123.0000"
    assert second == f"2/2 {bar_of(20)} 0s 500ms/step - loss: 123.0000"
    assert third == f"2/2 {bar_of(20)} 1s 500ms/step - loss: 1.0000e-05\n"


def test_number_formats():
    bar, out, clock = make(1, verbose=2)
    clock.now += 0.0005
    bar.update(1, {"a": 1e-5, "b": 0.0, "c": -0.5, "d": 12345.678, "e": -1e-4, "f": 0.001},
               finalize=True)
    assert out.getvalue() == ("1/1 - 0s - 500us/step - a: 1.0000e-05 - b: 0.0000e+00 - "
                              "c: -0.5000 - d: 12345.6780 - e: -1.0000e-04 - f: 1.0000e-03\n")


def test_verbose_2_prints_one_line_at_finalize():
    bar, out, clock = make(40, verbose=2)
    for step in range(1, 41):
        clock.now += 0.025
        bar.update(step, {"loss": 0.5})
    assert out.getvalue() == ""
    bar.update(40, {"loss": 0.5123, "val_loss": 0.4}, finalize=True)
    assert out.getvalue() == "40/40 - 1s - 25ms/step - loss: 0.5123 - val_loss: 0.4000\n"


def test_verbose_0_prints_nothing():
    bar, out, clock = make(3, verbose=0)
    for step in (1, 2, 3):
        bar.update(step, {"loss": 1.0})
    bar.update(3, {"loss": 1.0}, finalize=True)
    assert out.getvalue() == ""


def test_unknown_target():
    bar, out, clock = make(None)
    for step in (1, 2, 3):
        clock.now += 0.5
        bar.update(step, {"loss": 0.25})
    bar.update(3, {"loss": 0.25}, finalize=True)
    assert out.getvalue().split("\r")[1:] == [
        "      1/Unknown 0s 500ms/step - loss: 0.2500",
        "      2/Unknown 1s 500ms/step - loss: 0.2500",
        "      3/Unknown 2s 500ms/step - loss: 0.2500",
        "      3/Unknown 2s 500ms/step - loss: 0.2500\n"]
    bar, out, clock = make(None, verbose=2)
    clock.now += 3
    bar.update(3, {"loss": 0.25}, finalize=True)
    assert out.getvalue() == "      3/Unknown - 3s - 1s/step - loss: 0.2500\n"


def test_values_are_shown_as_given_by_default():
    bar, out, clock = make(3)
    for step, loss in ((1, 1.0), (2, 0.5), (3, 0.25)):
        bar.update(step, {"loss": loss})
    assert out.getvalue().endswith("- loss: 0.2500")


def test_values_not_listed_stateful_are_averaged_over_steps():
    bar, out, clock = make(4, stateful_metrics=["accuracy"])
    bar.update(1, {"loss": 1.0, "accuracy": 0.5})
    bar.update(3, {"loss": 0.4, "accuracy": 0.75})  # two steps at 0.4
    assert out.getvalue().endswith("- loss: 0.6000 - accuracy: 0.7500")
    bar.update(4, {"loss": 0.9, "val_loss": 0.3}, finalize=True)
    assert out.getvalue().endswith("- loss: 0.9000 - accuracy: 0.7500 - val_loss: 0.3000\n")


def test_updates_within_the_interval_are_not_drawn_but_finalize_is():
    out, clock = io.StringIO(), Clock()
    bar = ProgressBar(3, file=out, clock=clock, dynamic=True)
    bar.update(1, {"loss": 1.0})
    assert out.getvalue() == ""
    clock.now += 0.06
    bar.update(2, {"loss": 1.0})
    assert out.getvalue().count("\r") == 1
    bar.update(3, {"loss": 1.0})
    assert out.getvalue().count("\r") == 1
    bar.update(3, {"loss": 1.0}, finalize=True)
    assert out.getvalue().count("\r") == 2 and out.getvalue().endswith("\n")


def test_a_file_that_is_not_a_terminal_gets_one_line_per_pass():
    """A log file or CI would get every \\r update glued on one line: it gets the
    finalized line alone."""
    out, clock = io.StringIO(), Clock()
    bar = ProgressBar(3, file=out, clock=clock, interval=0)
    for step in (1, 2, 3):
        clock.now += 1
        bar.update(step, {"loss": 1.0})
    assert out.getvalue() == ""
    bar.update(3, {"loss": 0.5}, finalize=True)
    assert out.getvalue() == f"3/3 {bar_of(20)} 3s 1s/step - loss: 0.5000\n"


def test_a_terminal_gets_keras_colours():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    out, clock = Terminal(), Clock()
    bar = ProgressBar(4, file=out, clock=clock, interval=0, width=4)
    clock.now += 1
    bar.update(2, {"loss": 0.5})
    assert out.getvalue() == ("\r\x1b[1m2/4\x1b[0m\x1b[32m ━━\x1b[0m\x1b[37m━━\x1b[0m "
                              "\x1b[1m1s\x1b[0m 500ms/step - loss: 0.5000")


def test_defaults_write_to_stdout(capsys):
    bar = ProgressBar(1, verbose=2)
    bar.update(1, {"loss": 0.5}, finalize=True)
    assert capsys.readouterr().out.startswith("1/1 - 0s - ")


@pytest.mark.parametrize("seconds, text", [(0, "0s/step"), (2.4, "2s/step"),
                                           (0.0257, "26ms/step"), (0.00002, "20us/step")])
def test_time_per_step_units(seconds, text):
    bar, out, clock = make(1, verbose=2)
    clock.now += seconds
    bar.update(1, {}, finalize=True)
    assert out.getvalue().endswith(f" - {text}\n")
