"""Reading a numba_cpu plan's generated source in tests."""


def plain_run(source: str) -> str:
    """The ``run`` function of a plan's source, without ``run_profiled`` (the same lines
    again with timers, see backends/numba_cpu/plan.py): counts of lines then count each
    line of the step once."""
    head, sep, _ = source.partition("\ndef run_profiled(")
    assert sep, "a plan's source holds run and run_profiled"
    return head
