"""The batch loop that ``fit``, ``evaluate`` and ``predict`` share
(:meth:`BatchLoops._run_batches`: callbacks' batch hooks, the progress bar, the
``stop_*`` flags), and the loops built on it other than fit's: ``evaluate`` (one pass of
the test step, also fit's validation), ``predict``, ``train_on_batch`` and
``test_on_batch``.

``BatchLoops`` is mixed into the Trainer; it uses the compiled step functions
(``_train_fn()``, ``_test_function``) and the batch conversion of :mod:`.step_data`."""
from __future__ import annotations

import itertools

import numpy as np

from ..frontend.function import commit
from ..frontend.nest import flatten, map_structure, pack_like
from ..backends.interrupts import interrupts_held
from . import arguments, distribute
from .callbacks import Callback, CallbackList
from .data import make_adapter
from .error_context import errors_from
from .progress import ProgressBar
from .step_data import log_values


class BatchLoops:
    """The Trainer's shared batch loop and its non-training loops (see the module)."""

    # --- data parallelism (compile(distribute=...), :mod:`.distribute`) -------------------
    def _rank_verbose(self, verbose):
        """``verbose`` on rank 0 (or without a strategy); 0 on the other ranks."""
        return 0 if self._distribute is not None and self._distribute.rank else verbose

    def _share(self, batch, exact: bool):
        """This rank's share of a global ``batch`` (the whole batch without a strategy)."""
        return batch if self._distribute is None else self._distribute.shard(batch, exact)

    def _failures_end_the_job(self):
        return distribute.failures_end_the_job(self._distribute)

    def _replicas_agree(self, build) -> None:
        """Before a data-parallel step: the variables the ranks have not agreed on since
        ``compile`` or the start of ``fit`` (all of them then; the optimizer's slots
        once made) become rank 0's on every rank. ``build()`` (a trace of the step, a
        call of the model) runs first when nothing was agreed yet, so that a model built
        by its first call, and its optimizer, have their variables."""
        strategy = self._distribute
        if strategy is None:
            return
        if not self._agreed:
            build()
        variables = self.weights + (self.optimizer.variables if self.optimizer.built else [])
        fresh = [v for v in variables if id(v) not in self._agreed]
        if fresh:
            strategy.broadcast(fresh)
            self._agreed.update(id(v) for v in fresh)

    def _callbacks(self, callbacks, verbose, steps, epochs=1, last=()) -> CallbackList:
        """A CallbackList of the user's callbacks (a list, one Callback, or a CallbackList
        used as it is) then ``last`` (History: after the others, as Keras adds it, so it
        records what they add to the logs, such as ``learning_rate``), with the model and
        Keras's params."""
        params = {"epochs": epochs, "steps": steps, "verbose": verbose}
        if isinstance(callbacks, CallbackList):
            for callback in last:
                callbacks.append(callback)
            callbacks.set_model(self)
            callbacks.set_params(params)
            return callbacks
        if isinstance(callbacks, Callback):   # one callback: a list of one, as in Keras 3
            callbacks = [callbacks]
        return CallbackList(list(callbacks or []) + list(last), model=self, params=params)

    def _run_batches(self, data, run_step, callbacks, mode: str, bar, stop_flag: str,
                     where: str, first: int = 0, logs=None):
        """One pass over ``data``, the loop ``fit``, ``evaluate`` and ``predict`` share.

        Per batch ``i``: ``on_<mode>_batch_begin(i)``; ``run_step(batch)`` gives ``(logs,
        keep)``; ``on_<mode>_batch_end(i, logs)``; then, when ``keep``, the logs become
        the pass's logs and the bar shows them (predict's ``outputs`` are not shown).
        It stops after a batch whose step said not to ``keep`` (a rejected training
        step) or once ``self.<stop_flag>`` is set (``stop_training``,
        ``stop_evaluating``, ``stop_predicting``, as in Keras). A batch whose labels or
        inputs a check refuses (:class:`IndexRangeError`) is said from ``where`` and its
        index. A pass resumed after its batch ``first - 1`` (:mod:`.backup`) numbers its
        batches from ``first`` and starts from that batch's ``logs``.
        Returns the last kept logs and the number of batches run (those before ``first``
        included)."""
        begin = getattr(callbacks, f"on_{mode}_batch_begin")
        end = getattr(callbacks, f"on_{mode}_batch_end")
        logs, count, batches = logs or {}, first, data.epoch_batches(first)
        for index in itertools.count(first):
            with errors_from(where):   # a source that yields nothing, or fails
                batch = next(batches, None)
            if batch is None:
                break
            begin(index)
            with errors_from(f"{where}, batch {index}"):
                batch_logs, keep = run_step(batch)
            count = index + 1
            end(index, batch_logs)
            if self._distribute is not None:       # one rank's stop is every rank's
                setattr(self, stop_flag, self._distribute.any(getattr(self, stop_flag)))
            if not keep:
                break
            logs = batch_logs
            bar.update(count, None if mode == "predict" else logs)
            if getattr(self, stop_flag):
                break
        return logs, count

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None,
                 steps=None, callbacks=None, return_dict=False):
        """Loss and metrics over the data (running means over all batches), with the
        ``on_test_*`` hooks of ``callbacks`` and a progress bar for ``verbose``."""
        self._require_compiled("evaluate")
        arguments.check("evaluate", batch_size=batch_size, verbose=verbose, steps=steps,
                        callbacks=callbacks, return_dict=return_dict)
        with self._failures_end_the_job():
            with errors_from("evaluate()"):
                data = make_adapter(x, y, sample_weight, batch_size=batch_size, shuffle=False,
                                    steps_per_epoch=steps, steps_name="steps")
            self._check_data(self._test_function, data, "evaluate()")
            verbose = self._rank_verbose(1 if verbose == "auto" else verbose)
            logs = self._evaluate_data(data, self._callbacks(callbacks, verbose,
                                                             data.num_batches),
                                       verbose, "evaluate()")
        return logs if return_dict else _as_list(logs)

    def _evaluate_data(self, data, callbacks, verbose=0, where="evaluate()") -> dict:
        """One pass of the test step over ``data``: ``on_test_begin``, the batches,
        ``on_test_end`` with the final logs; errors said from ``where``."""
        self.reset_metrics()
        self.stop_evaluating = False
        callbacks.on_test_begin()
        bar = ProgressBar(data.num_batches, verbose=verbose)
        logs, count = self._run_batches(
            data, self._test_batch, callbacks, "test", bar, "stop_evaluating", where)
        bar.update(count, logs, finalize=True)
        callbacks.on_test_end(logs)
        return logs

    def _test_batch(self, batch) -> tuple:
        """``(logs, True)`` of the test step on ``batch``; the metric totals are written
        only when its logs are good."""
        data = self._step_data(*self._share(batch, False))
        self._replicas_agree(lambda: self._test_function.traced(data))
        outputs, updates = self._test_function.run(data)
        logs = log_values(outputs, "test_step")
        commit(updates)
        return logs, True

    def train_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        """One step on one batch; returns that step's loss (computed before its update)
        and metrics."""
        self._require_compiled("train_on_batch")
        arguments.check("train_on_batch", return_dict=return_dict)
        self.reset_metrics()
        with errors_from("train_on_batch()"):
            data = self._step_data(*self._share((x, y, sample_weight), True))
            self._replicas_agree(lambda: self._train_fn().traced(data))
        # the step may write the new weights in place (Function.step: its logs will pass
        # log_values, see Trainer._step_function); a Ctrl-C waits for the commit
        with interrupts_held():
            with errors_from("train_on_batch()"):
                outputs, updates = self._train_fn().step(data)
                logs = log_values(outputs, "train_step")
            commit(updates)
        return logs if return_dict else _as_list(logs)

    def predict_on_batch(self, x):
        """The model's outputs for one batch ``x`` (numpy arrays, in the structure of the
        model's outputs), as Keras's: no batching, callbacks or progress bar."""
        with self._failures_end_the_job():
            with errors_from("predict_on_batch()"):
                self._check_inputs(x)
                return map_structure(np.asarray, self._predict_share(x))

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        self._require_compiled("test_on_batch")
        arguments.check("test_on_batch", return_dict=return_dict)
        self.reset_metrics()
        with errors_from("test_on_batch()"):
            logs, _ = self._test_batch((x, y, sample_weight))
        return logs if return_dict else _as_list(logs)

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """Run the model on ``x`` in batches (default 32) and join the outputs, with the
        ``on_predict_*`` hooks of ``callbacks`` (``on_predict_batch_end`` gets
        ``{"outputs": ...}``, as in Keras) and a progress bar for ``verbose``. The inputs
        are checked against what the model's layers require (Embedding ids in range:
        :meth:`.StepData._check_inputs`), array data all at once before the first batch,
        other sources batch by batch. In a data-parallel job each rank runs its share of
        every batch and every rank returns all the rows."""
        arguments.check("predict", batch_size=batch_size, verbose=verbose, steps=steps,
                        callbacks=callbacks)
        with self._failures_end_the_job():
            return self._predict(x, batch_size, verbose, steps, callbacks)

    def _predict_share(self, x):
        """The model's outputs for a global batch ``x``: this rank's share, gathered from
        every rank in a data-parallel job (a rank whose share is empty, in a batch with
        fewer samples than ranks, runs one sample and keeps none of it)."""
        if self._distribute is None:
            return self(x)
        share = self._distribute.shard(x, exact=False, empty=True)
        self._replicas_agree(lambda: self(map_structure(lambda a: a[:1], x)))
        if len(flatten(share)[0]):
            outputs = self(share)
        else:
            outputs = map_structure(lambda a: np.asarray(a)[:0],
                                    self(map_structure(lambda a: a[:1], x)))
        return self._distribute.gather(map_structure(np.asarray, outputs))

    def _predict(self, x, batch_size, verbose, steps, callbacks):
        with errors_from("predict()"):
            data = make_adapter(x, None, None, batch_size=batch_size, shuffle=False,
                                steps_per_epoch=steps, steps_name="steps")
            if data.arrays is not None:
                self._check_inputs(data.arrays[0])   # all of x, before the first batch
        verbose = self._rank_verbose(1 if verbose == "auto" else verbose)
        callbacks = self._callbacks(callbacks, verbose, data.num_batches)
        pieces = []

        def predict_batch(batch):
            if data.arrays is None:
                self._check_inputs(batch[0])
            outputs = map_structure(np.asarray, self._predict_share(batch[0]))
            pieces.append(outputs)
            return {"outputs": outputs}, True

        self.stop_predicting = False
        callbacks.on_predict_begin()
        bar = ProgressBar(data.num_batches, verbose=verbose)
        _, count = self._run_batches(data, predict_batch, callbacks, "predict", bar,
                                     "stop_predicting", "predict()")
        bar.update(count, None, finalize=True)
        callbacks.on_predict_end()
        if not pieces:
            raise ValueError("predict() got no samples")
        joined = [np.concatenate(parts, axis=0) for parts in zip(*(flatten(p) for p in pieces))]
        return pack_like(pieces[0], joined)


def _as_list(logs: dict):
    values = list(logs.values())
    return values[0] if len(values) == 1 else values
