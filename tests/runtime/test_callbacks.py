import math
import warnings

import numpy as np
import pytest

import fusegraph.callbacks as fgc
from fusegraph.runtime.callbacks import CallbackList


class FakeModel:
    """What callbacks need of a model: weights in and out, and ``stop_training``.
    ``get_weights`` hands out its live arrays, so that a callback must copy them."""

    def __init__(self, metrics=()):
        self.weights = [np.zeros(2), np.zeros(1)]
        self.stop_training = False
        self.metrics = list(metrics)
        self.set_calls = 0

    def get_weights(self):
        return self.weights

    def set_weights(self, weights):
        self.set_calls += 1
        for w, v in zip(self.weights, weights):
            w[...] = v

    def step(self, value):
        """Train "an epoch": every weight becomes ``value`` in place."""
        for w in self.weights:
            w[...] = value


def run_epochs(callback, monitored, key="val_loss", model=None, on_epoch=None):
    """Drive ``callback`` through epochs whose logs have ``key`` = each value in turn, as
    the loop does; returns (model, epochs run)."""
    model = model or FakeModel()
    callbacks = CallbackList([callback], model=model, params={"epochs": len(monitored)})
    callbacks.on_train_begin()
    ran = 0
    for epoch, value in enumerate(monitored):
        callbacks.on_epoch_begin(epoch)
        model.step(epoch)
        callbacks.on_epoch_end(epoch, {"loss": 1.0, key: value})
        ran += 1
        if model.stop_training:
            break
    callbacks.on_train_end()
    return model, ran


class Recorder(fgc.Callback):
    def __init__(self, name, log):
        super().__init__()
        self.name, self.log = name, log

    def on_epoch_end(self, epoch, logs=None):
        self.log.append((self.name, "epoch_end", epoch, logs))

    def on_train_begin(self, logs=None):
        self.log.append((self.name, "train_begin", logs))


# --- Callback and CallbackList ------------------------------------------------------------

def test_base_callback_hooks_do_nothing_and_batch_hooks_use_the_old_names():
    cb = fgc.Callback()
    assert cb.model is None and cb.params is None
    for hook in ("on_train_begin", "on_train_end", "on_test_begin", "on_test_end",
                 "on_predict_begin", "on_predict_end"):
        assert getattr(cb, hook)({}) is None
    for hook in ("on_epoch_begin", "on_epoch_end", "on_train_batch_begin", "on_train_batch_end",
                 "on_test_batch_begin", "on_test_batch_end", "on_predict_batch_begin",
                 "on_predict_batch_end", "on_batch_begin", "on_batch_end"):
        assert getattr(cb, hook)(0, {}) is None

    seen = []

    class Old(fgc.Callback):
        def on_batch_begin(self, batch, logs=None):
            seen.append(("begin", batch, logs))

        def on_batch_end(self, batch, logs=None):
            seen.append(("end", batch, logs))

    Old().on_train_batch_begin(3)
    Old().on_train_batch_end(3, {"loss": 0.5})
    assert seen == [("begin", 3, None), ("end", 3, {"loss": 0.5})]


def test_callback_list_sets_model_and_params_and_dispatches_in_order():
    log, model = [], FakeModel()
    a, b = Recorder("a", log), Recorder("b", log)
    callbacks = CallbackList([a, b], model=model, params={"epochs": 2, "steps": 5})
    assert callbacks.model is model and callbacks.params == {"epochs": 2, "steps": 5}
    assert a.model is model and b.params == {"epochs": 2, "steps": 5}
    callbacks.on_train_begin()
    callbacks.on_epoch_end(1, {"loss": 0.25})
    callbacks.on_epoch_end(2)
    assert log == [("a", "train_begin", {}), ("b", "train_begin", {}),
                   ("a", "epoch_end", 1, {"loss": 0.25}), ("b", "epoch_end", 1, {"loss": 0.25}),
                   ("a", "epoch_end", 2, {}), ("b", "epoch_end", 2, {})]
    assert list(callbacks) == [a, b]
    c = Recorder("c", log)
    callbacks.append(c)
    callbacks.set_model(model)
    assert c.model is model


HOOKS = ["on_train_begin", "on_train_end", "on_test_begin", "on_test_end", "on_predict_begin",
         "on_predict_end", "on_epoch_begin", "on_epoch_end", "on_train_batch_begin",
         "on_train_batch_end", "on_test_batch_begin", "on_test_batch_end",
         "on_predict_batch_begin", "on_predict_batch_end", "on_batch_begin", "on_batch_end"]


def test_callback_list_dispatches_every_hook_to_every_callback_positionally():
    """Each of Callback's hooks reaches every callback, in order, with the index and logs
    passed positionally (None becoming {}); a hook CallbackList lacked or dropped, or one
    that reached only the first callback, would leave its record missing."""
    log = []

    class Every(fgc.Callback):
        def __init__(self, name):
            super().__init__()
            for hook in HOOKS:
                setattr(self, hook, lambda *args, _hook=hook: log.append((name, _hook, args)))

    callbacks = CallbackList([Every("a"), Every("b")])
    expected = []
    for hook in HOOKS:
        indexed = "epoch" in hook or "batch" in hook
        for given, logs in [((), {}), (({"loss": 1.0},), {"loss": 1.0})]:
            getattr(callbacks, hook)(*(((3,) if indexed else ()) + given))
            expected += [(n, hook, ((3, logs) if indexed else (logs,))) for n in "ab"]
        if indexed:
            getattr(callbacks, hook)(4, logs={"acc": 0.5})
            expected += [(n, hook, (4, {"acc": 0.5})) for n in "ab"]
    assert log == expected


def test_callback_list_has_exactly_the_hooks_of_callback():
    hooks = sorted(n for n in vars(fgc.Callback) if n.startswith("on_"))
    assert hooks == sorted(HOOKS)
    assert all(callable(getattr(CallbackList, h)) for h in hooks)


def test_callback_list_takes_one_callback_as_a_list_of_one():
    es = fgc.EarlyStopping()
    assert CallbackList(es, model=FakeModel()).callbacks == [es]


def test_callback_list_refuses_non_callbacks():
    with pytest.raises(TypeError, match="Callback instances, got function"):
        CallbackList([lambda: None])


# --- History ------------------------------------------------------------------------------

def test_history_records_epochs_and_sets_model_history():
    history = fgc.History()
    model, _ = run_epochs(history, [0.5, 0.25, 0.125])
    assert model.history is history
    assert history.epoch == [0, 1, 2]
    assert history.history == {"loss": [1.0, 1.0, 1.0], "val_loss": [0.5, 0.25, 0.125]}


def test_history_is_set_on_the_model_at_train_begin():
    model, history = FakeModel(), fgc.History()
    CallbackList([history], model=model).on_train_begin()
    assert model.history is history and history.epoch == [] and history.history == {}


# --- EarlyStopping ------------------------------------------------------------------------

def test_early_stopping_waits_patience_epochs():
    es = fgc.EarlyStopping(patience=2)
    model, ran = run_epochs(es, [1.0, 0.9, 0.95, 0.96, 0.5])
    assert ran == 4 and model.stop_training
    assert es.stopped_epoch == 3 and es.best == 0.9 and es.best_epoch == 1 and es.wait == 2


def test_early_stopping_patience_zero_stops_at_the_first_worse_epoch():
    es = fgc.EarlyStopping(monitor="loss", patience=0)
    model, ran = run_epochs(es, [3.0, 2.0, 2.5], key="loss")
    assert ran == 3 and es.stopped_epoch == 2


def test_early_stopping_min_delta():
    es = fgc.EarlyStopping(patience=1, min_delta=0.1)
    _, ran = run_epochs(es, [1.0, 0.95, 0.92, 0.5])
    assert ran == 2 and es.stopped_epoch == 1 and es.best == 1.0
    es = fgc.EarlyStopping(patience=1, min_delta=-0.1)  # the sign is ignored, as in Keras
    _, ran = run_epochs(es, [1.0, 0.95, 0.92, 0.5])
    assert ran == 2


def test_early_stopping_max_mode_and_auto_for_accuracy():
    for es in (fgc.EarlyStopping("val_accuracy", patience=1),
               fgc.EarlyStopping("val_accuracy", patience=1, mode="max")):
        _, ran = run_epochs(es, [0.5, 0.6, 0.55, 0.7], key="val_accuracy")
        assert ran == 3 and es.best == 0.6
    es = fgc.EarlyStopping("val_loss", patience=0, mode="max")
    _, ran = run_epochs(es, [0.5, 0.6, 0.55])
    assert ran == 3 and es.best == 0.6


def test_early_stopping_auto_for_per_output_losses_and_metric_directions():
    es = fgc.EarlyStopping("val_priority_loss", patience=0)
    _, ran = run_epochs(es, [0.5, 0.6], key="val_priority_loss")
    assert ran == 2 and es.best == 0.5

    class Score:
        name, _direction = "score", "up"

    class Container:
        name, metrics = "compile_metrics", [Score()]

    es = fgc.EarlyStopping("val_score", patience=0)
    _, ran = run_epochs(es, [0.5, 0.4], key="val_score", model=FakeModel([Container()]))
    assert ran == 2 and es.best == 0.5


def test_early_stopping_unknown_direction_asks_for_a_mode():
    with pytest.raises(ValueError, match="monitor=val_zork.*mode='max'"):
        run_epochs(fgc.EarlyStopping("val_zork"), [1.0, 2.0], key="val_zork")


def test_early_stopping_unknown_mode_warns_and_uses_auto():
    with pytest.warns(UserWarning, match="mode sideways is unknown"):
        es = fgc.EarlyStopping(mode="sideways")
    assert es.mode == "auto"


def test_early_stopping_missing_monitor_warns_with_available_keys():
    es = fgc.EarlyStopping(monitor="val_loss")
    with pytest.warns(UserWarning, match="`val_loss` which is not available. Available metrics "
                                         "are: loss,accuracy"):
        es.set_model(FakeModel())
        es.on_train_begin()
        es.on_epoch_end(0, {"loss": 1.0, "accuracy": 0.5})
    assert es.best is None and es.wait == 0


def test_a_missing_monitor_warns_once_per_training_run():
    es = fgc.EarlyStopping(monitor="val_loss", patience=0)
    for _ in range(2):                                         # each fit warns again, once
        with pytest.warns(UserWarning) as caught:
            model, ran = run_epochs(es, [1.0, 2.0, 3.0], key="accuracy")
        assert [str(w.message) for w in caught] == [
            "Early stopping conditioned on metric `val_loss` which is not available. "
            "Available metrics are: loss,accuracy"]
        assert ran == 3 and not model.stop_training


def test_a_nan_is_never_the_best_epoch():
    es = fgc.EarlyStopping(monitor="loss", patience=1, restore_best_weights=True)
    model, ran = run_epochs(es, [float("nan"), 1.0, 0.5, 0.7], key="loss")
    assert ran == 4 and es.best == 0.5 and es.best_epoch == 2
    np.testing.assert_array_equal(model.weights[0], [2.0, 2.0])      # epoch 2's weights


def test_early_stopping_baseline():
    es = fgc.EarlyStopping(monitor="val_loss", patience=2, baseline=0.5)
    _, ran = run_epochs(es, [0.8, 0.8, 0.8, 0.8])
    assert ran == 2 and es.stopped_epoch == 1
    es = fgc.EarlyStopping(monitor="val_loss", patience=2)
    _, ran = run_epochs(es, [0.8, 0.8, 0.8, 0.8])
    assert ran == 3 and es.stopped_epoch == 2


def test_early_stopping_start_from_epoch():
    es = fgc.EarlyStopping(patience=0, start_from_epoch=2)
    _, ran = run_epochs(es, [1.0, 2.0, 3.0, 4.0, 5.0])
    assert ran == 4 and es.best == 3.0 and es.best_epoch == 2 and es.stopped_epoch == 3


def test_early_stopping_restores_a_copy_of_the_best_weights():
    es = fgc.EarlyStopping(patience=1, restore_best_weights=True)
    model, ran = run_epochs(es, [1.0, 0.5, 0.7, 0.9])
    assert ran == 3 and es.best_epoch == 1
    assert model.set_calls == 1
    assert [w.tolist() for w in model.weights] == [[1.0, 1.0], [1.0]]


def test_early_stopping_restores_best_weights_without_stopping_too():
    es = fgc.EarlyStopping(patience=5, restore_best_weights=True)
    model, ran = run_epochs(es, [1.0, 0.2, 0.7])
    assert ran == 3 and es.stopped_epoch == 0
    assert [w.tolist() for w in model.weights] == [[1.0, 1.0], [1.0]]


def test_early_stopping_is_reset_by_train_begin_and_prints_when_verbose(capsys):
    es = fgc.EarlyStopping(patience=0, verbose=1, restore_best_weights=True)
    run_epochs(es, [1.0, 2.0])
    assert capsys.readouterr().out == ("Epoch 2: early stopping\n"
                                       "Restoring model weights from the end of the best epoch: "
                                       "1.\n")
    _, ran = run_epochs(es, [5.0, 4.0, 3.0])
    assert ran == 3 and es.best == 3.0 and es.stopped_epoch == 0


# --- TerminateOnNaN -----------------------------------------------------------------------

@pytest.mark.parametrize("loss, reject", [(0.5, False), (math.nan, True), (math.inf, True),
                                          (-math.inf, True), (np.float32("nan"), True),
                                          (None, False)])
def test_terminate_on_nan_should_reject(loss, reject):
    logs = {} if loss is None else {"loss": loss}
    cb = fgc.TerminateOnNaN()
    assert cb.should_reject(logs) is reject
    assert cb.should_reject(None) is False


def test_terminate_on_nan_stops_and_records_where(capsys):
    model, cb = FakeModel(), fgc.TerminateOnNaN()
    callbacks = CallbackList([cb], model=model)
    callbacks.on_train_begin()
    callbacks.on_epoch_begin(0)
    callbacks.on_train_batch_end(0, {"loss": 0.5})
    callbacks.on_epoch_begin(1)
    callbacks.on_train_batch_end(0, {"loss": 0.4})
    assert not model.stop_training and cb.stopped_batch is None and capsys.readouterr().out == ""
    callbacks.on_train_batch_end(1, {"loss": math.nan})
    assert model.stop_training
    assert (cb.stopped_epoch, cb.stopped_batch) == (1, 1)
    assert capsys.readouterr().out == "Batch 1: Invalid loss, terminating training\n"
    callbacks.on_train_begin()
    assert cb.stopped_epoch is None and cb.stopped_batch is None


def test_terminate_on_nan_should_reject_has_no_side_effects():
    model, cb = FakeModel(), fgc.TerminateOnNaN()
    cb.set_model(model)
    assert cb.should_reject({"loss": math.nan})
    assert not model.stop_training and cb.stopped_batch is None


# --- LambdaCallback -----------------------------------------------------------------------

def test_lambda_callback_calls_the_given_functions_positionally():
    log = []
    cb = fgc.LambdaCallback(
        on_epoch_begin=lambda epoch, logs: log.append(("epoch_begin", epoch, logs)),
        on_epoch_end=lambda epoch, logs: log.append(("epoch_end", epoch, logs)),
        on_train_begin=lambda logs: log.append(("train_begin", logs)),
        on_train_end=lambda logs: log.append(("train_end", logs)),
        on_train_batch_begin=lambda batch, logs: log.append(("batch_begin", batch, logs)),
        on_train_batch_end=lambda batch, logs: log.append(("batch_end", batch, logs)),
        on_test_end=lambda logs: log.append(("test_end", logs)))
    callbacks = CallbackList([cb], model=FakeModel())
    callbacks.on_train_begin()
    callbacks.on_epoch_begin(0)
    callbacks.on_train_batch_begin(0)
    callbacks.on_train_batch_end(0, {"loss": 0.5})
    callbacks.on_test_end({"loss": 0.4})
    callbacks.on_epoch_end(0, {"loss": 0.5})
    callbacks.on_train_end({"loss": 0.5})
    callbacks.on_predict_end()  # not given: the base no-op
    assert log == [("train_begin", {}), ("epoch_begin", 0, {}), ("batch_begin", 0, {}),
                   ("batch_end", 0, {"loss": 0.5}), ("test_end", {"loss": 0.4}),
                   ("epoch_end", 0, {"loss": 0.5}), ("train_end", {"loss": 0.5})]


@pytest.mark.parametrize("hooks, named", [
    ({"on_epoch_end": "print"}, r"on_epoch_end=\.\.\.\) must be a function, got str 'print'"),
    ({"on_test_end": 3}, r"on_test_end=\.\.\.\) must be a function, got int 3")])
def test_lambda_callback_refuses_hooks_that_cannot_be_called(hooks, named):
    with pytest.raises(TypeError, match=named):
        fgc.LambdaCallback(**hooks)


def test_lambda_callback_refuses_unknown_hooks():
    with pytest.raises(TypeError, match=r"unknown hook\(s\) \['on_epoch_ends'\]"):
        fgc.LambdaCallback(on_epoch_ends=print)


def test_no_warnings_on_a_normal_run():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run_epochs(fgc.EarlyStopping(patience=1, restore_best_weights=True), [1.0, 0.5])
