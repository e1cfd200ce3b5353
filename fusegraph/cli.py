"""The ``fusegraph`` command line.

    fusegraph dump FILE.py [--format text|dot|png|svg|pdf] [--output PATH]
                           [--stage forward|train_step|test_step] [--after PASS]
                           [--kernels | --stats | --memory]
    fusegraph train FILE.py [--epochs N] [--batch-size N] [--backend NAME]
    fusegraph bench FILE.py [--backends reference,numba_cpu] [--steps N] [--batch-size N]

``dump`` imports FILE.py, calls its ``build_model()`` and prints the model's graph at
the chosen stage (a step graph is traced on a batch of ``load_data()``), as SSA text, as
Graphviz DOT (:func:`fusegraph.ir.graphviz.to_dot`: ops as nodes, values as edges), or
drawn by Graphviz's ``dot`` into an image (``--format png``, ``svg`` or ``pdf``, written
atomically to ``--output``, by default ``FILE.<format>`` in the current folder; without
``dot`` installed, an error says how to install it), optionally after a pass of the
compile pipeline (``--after fusion``), or
the numba_cpu backend's generated kernel source for it (``--kernels``), or the compile
pipeline's per-pass statistics (``--stats``: time, op counts before and after, each
pass's counters; through ``--after`` if given, else the whole fusion pipeline).
``train`` builds the file's model
(compiled as the file says), loads its data with ``load_data()`` — ``(x, y)`` or
``((x, y), (x_val, y_val))`` — fits it with a progress bar (``EPOCHS``/``BATCH_SIZE``
from the file unless given), prints the last epoch's metrics and then calls the file's
``after_training(model, history)`` if it has one (the VAE writes its latent-plane
grid there). ``bench`` times the
file's training step on several backends and prints each one's per-kernel profile (see
:mod:`fusegraph.bench`).
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import sys

from .frontend.nest import map_structure
from .runtime.distribute import DataParallel, is_writer
from .runtime.launch import launch, launched_ranks
from .ir.builder import register_internal_file

IMAGE_FORMATS = ("png", "svg", "pdf")   # drawn by Graphviz's dot (fusegraph.runtime.graphviz_files)


def load_user_file(path: str):
    """Import a user's Python file as a module (its folder joins sys.path first)."""
    if not os.path.isfile(path):
        raise SystemExit(f"fusegraph: no such file: {path}")
    folder = os.path.dirname(os.path.abspath(path))
    if folder not in sys.path:
        sys.path.insert(0, folder)
    name = os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def build_user_model(path: str):
    module = load_user_file(path)
    if not callable(getattr(module, "build_model", None)):
        raise SystemExit(f"fusegraph: {path} defines no build_model() function returning a model")
    return module, module.build_model()


def _require_forward_graph(path: str, model) -> None:
    """A clear SystemExit for a model without a forward graph to print."""
    if getattr(model, "_functional", True) is not None:
        return
    from .frontend.model import Model
    if type(model).call is Model.call:
        raise SystemExit(f"fusegraph: {path}: model '{model.name}' has no forward graph: "
                         f"{type(model).__name__} defines no call() (it trains through its own "
                         f"train_step); dump prints the forward graph of a functional model "
                         f"or of a subclassed model that defines call()")
    raise SystemExit(f"fusegraph: {path}: model '{model.name}' has no forward graph yet: "
                     f"build_model() must build it before returning it (call it on data, or "
                     f"model.build(input_shape))")


def _dump(args) -> int:
    from .ir.graphviz import to_dot
    module, model = build_user_model(args.file)
    if args.stage == "forward":
        _require_forward_graph(args.file, model)
    for flag in ("kernels", "stats", "memory"):
        if getattr(args, flag) and args.format != "text":
            raise SystemExit(f"fusegraph: --{flag} prints a report, not a graph: drop "
                             f"--format {args.format}")
    if args.output is not None and args.format not in IMAGE_FORMATS:
        raise SystemExit(f"fusegraph: --output is for --format {'/'.join(IMAGE_FORMATS)}; "
                         f"--format {args.format} prints to the standard output")
    if args.kernels:
        from .backends import optimizing_compiler
        print(optimizing_compiler("numba_cpu")(_stage_graph(args, module, model)).source())
    elif args.stats:
        print(_run_pipeline(args, model, _stage_graph(args, module, model))[1])
    elif args.memory:
        print(_memory_report(args, module, model), end="")
    elif args.format == "dot":
        print(to_dot(_graph_after(args, module, model)))
    elif args.format in IMAGE_FORMATS:
        _draw(args, to_dot(_graph_after(args, module, model)))
    elif args.stage == "forward":
        print(model.ir(args.stage, after=args.after), end="")
    else:
        print(model.ir(args.stage, after=args.after, data=_first_batch(args.file, module, model)),
              end="")
    return 0


def _stage_graph(args, module, model):
    """The graph of ``--stage`` (a step graph traced on the file's first batch)."""
    if args.stage == "forward":
        return model.graph
    return model.step_graph(args.stage, _first_batch(args.file, module, model))


def _graph_after(args, module, model):
    """The graph of ``--stage``, through the compile pipeline up to ``--after`` if given."""
    graph = _stage_graph(args, module, model)
    return _run_pipeline(args, model, graph)[0] if args.after else graph


def _draw(args, dot_text: str) -> None:
    """``dot_text`` drawn by Graphviz into ``--output`` (``FILE.<format>`` by default)."""
    from .runtime.graphviz_files import write_graph
    stem = os.path.splitext(os.path.basename(args.file))[0]
    path = args.output or f"{stem}.{args.format}"
    if os.path.splitext(path)[1][1:].lower() != args.format:
        raise SystemExit(f"fusegraph: --output {path} does not end in .{args.format} "
                         f"(--format {args.format})")
    try:
        write_graph(dot_text, path, f"fusegraph dump --format {args.format}")
    except ImportError as e:
        raise SystemExit(f"fusegraph: {e}") from None
    print(f"wrote {path}")


def _run_pipeline(args, model, graph) -> tuple:
    """``(graph, report)``: ``graph`` through the compile pipeline (through ``--after``):
    a step's, the pipeline of the backend the model compiled for, fusing what its kernels
    hold (as ``model.ir`` shows it); the forward graph's, the kernel pipeline every backend
    starts with."""
    from .frontend.model import through_pipeline
    backend = getattr(model, "_backend", None) if args.stage != "forward" else None
    return through_pipeline(graph, args.after, backend)


def _memory_report(args, module, model) -> str:
    """The memory plan of ``--stage`` after the compile pipeline (through ``--after``),
    its symbols sized by the file's first batch."""
    from .frontend.nest import flatten
    from .ir import Sym
    from .passes import memory_report
    if args.stage == "forward":
        raise SystemExit("fusegraph: --memory needs --stage train_step or test_step (the "
                         "sizes come from a batch of load_data())")
    batch = _first_batch(args.file, module, model)
    graph = _run_pipeline(args, model, model.step_graph(args.stage, batch))[0]
    leaves = [a for a in flatten(batch) if a is not None]   # the step's first parameters
    sizes = {d: n for p, a in zip(graph.params, leaves)
             for d, n in zip(p.type.shape, a.shape) if isinstance(d, Sym)}
    return memory_report(graph, sizes)


def _training_data(path: str, module, model, purpose: str):
    """``(x, y), validation`` from the file's ``load_data()``, for a compiled model;
    SystemExit naming what is missing and what it was needed for."""
    if not getattr(model, "compiled", False):
        raise SystemExit(f"fusegraph: build_model() in {path} must return a compiled model "
                         f"to {purpose}")
    if not callable(getattr(module, "load_data", None)):
        raise SystemExit(f"fusegraph: {path} defines no load_data() function to {purpose}")
    return _split_data(module.load_data())


def _first_batch(path: str, module, model):
    """A batch of the file's ``load_data()`` to trace a step graph on."""
    (x, y), _ = _training_data(path, module, model, "dump its step graphs")
    size = getattr(module, "BATCH_SIZE", 32)
    take = lambda a: None if a is None else map_structure(lambda t: t[:size], a)  # noqa: E731
    return (take(x), take(y)) if y is not None else (take(x),)


def _split_data(data):
    """``load_data()`` gives ``(x, y)`` or ``((x, y), (x_val, y_val))``."""
    return data if len(data) == 2 and isinstance(data[0], tuple) else (data, None)


def _train(args) -> int:
    if args.ranks is not None and args.ranks > 1 and launched_ranks() is None:
        return _launch_ranks(args)
    module, model = build_user_model(args.file)
    (x, y), validation = _training_data(args.file, module, model, "train it")
    if launched_ranks() is not None:        # one of --ranks N: data parallel over them
        model.recompile(args.backend, distribute=DataParallel())
    elif args.backend:
        model.recompile(args.backend)
    epochs = args.epochs or getattr(module, "EPOCHS", 1)
    batch_size = args.batch_size or getattr(module, "BATCH_SIZE", 32)
    history = model.fit(x, y, epochs=epochs, batch_size=batch_size, validation_data=validation)
    if not is_writer():
        return 0
    final = {k: v[-1] for k, v in history.history.items()}
    print("final metrics: " + ", ".join(f"{k}={v:.4f}" for k, v in final.items()))
    after = getattr(module, "after_training", None)
    if after is not None:
        after(model, history)
    return 0


def _launch_ranks(args) -> int:
    """``fusegraph train`` again on ``args.ranks`` ranks, through the MPI launcher."""
    argv = [sys.executable, "-m", "fusegraph"] + args.argv
    try:
        return launch(args.ranks, argv).returncode
    except RuntimeError as e:
        raise SystemExit(f"fusegraph: --ranks {args.ranks}: {e}") from None


def _bench(args) -> int:
    from .bench import bench, format_rows, profiles
    module, model = build_user_model(args.file)
    train_data, _ = _training_data(args.file, module, model, "time its training step")
    batch_size = args.batch_size or getattr(module, "BATCH_SIZE", 32)
    rows = bench(module.build_model, train_data, args.backends.split(","), args.steps, batch_size)
    print(format_rows(rows, args.steps, batch_size))
    print()
    print(profiles(rows))
    return 0


def main(argv=None) -> int:
    if argv is None and sys.argv and os.path.isfile(sys.argv[0]):
        register_internal_file(sys.argv[0])   # the `fusegraph` launcher is not the user's code
    parser = argparse.ArgumentParser(prog="fusegraph", description="Compile Keras-style models.")
    commands = parser.add_subparsers(dest="command", required=True)
    dump = commands.add_parser("dump", help="print a model's IR (or DOT) at a stage, or draw it")
    dump.add_argument("file", help="a Python file defining build_model()")
    dump.add_argument("--format", choices=("text", "dot") + IMAGE_FORMATS, default="text",
                      help="SSA text, Graphviz DOT, or an image drawn by Graphviz's dot")
    dump.add_argument("--output", "-o", default=None,
                      help="where an image goes (default: FILE's name with the format's suffix)")
    dump.add_argument("--stage", default="forward", choices=("forward", "train_step", "test_step"),
                      help="which graph (default: forward; a step is traced on load_data())")
    dump.add_argument("--after", default=None,
                      help="show the graph after this pass of the compile pipeline (e.g. fusion)")
    shown = dump.add_mutually_exclusive_group()
    shown.add_argument("--kernels", action="store_true",
                       help="print the numba_cpu backend's generated kernel source instead")
    shown.add_argument("--stats", action="store_true",
                       help="print each pass's time, op counts and counters instead (through "
                            "--after, else the whole compile pipeline)")
    shown.add_argument("--memory", action="store_true",
                       help="print the step graph's memory plan instead: live tensors, shared "
                            "buffers, peak bytes and the largest tensors with their lines")
    dump.set_defaults(run=_dump)
    train = commands.add_parser("train", help="train a file's model on its data")
    train.add_argument("file", help="a Python file defining build_model() and load_data()")
    train.add_argument("--epochs", type=int, default=None)
    train.add_argument("--batch-size", type=int, default=None)
    train.add_argument("--backend", default=None,
                       help="compile the steps on this backend (reference, numba_cpu, numba_cuda) instead")
    train.add_argument("--ranks", type=int, default=None,
                       help="train data-parallel on this many MPI ranks (launches mpiexec; "
                            "needs the 'distributed' extra); the batch size stays global")
    train.set_defaults(run=_train)
    bench = commands.add_parser("bench", help="median training-step time per backend")
    bench.add_argument("file", help="a Python file defining build_model() and load_data()")
    bench.add_argument("--backends", default="reference,numba_cpu",
                       help="comma-separated backends, the first is the baseline")
    bench.add_argument("--steps", type=int, default=50)
    bench.add_argument("--batch-size", type=int, default=None)
    bench.set_defaults(run=_bench)
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if getattr(args, "ranks", None) is not None and args.ranks < 1:
        parser.error(f"--ranks must be at least 1, got {args.ranks}")
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
