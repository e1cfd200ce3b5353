"""runtime/lr_callbacks.py: LearningRateScheduler, ReduceLROnPlateau and CSVLogger in
fit, against what Keras's would do epoch by epoch."""
import csv

import numpy as np
import pytest

import fusegraph as fg

RNG = np.random.default_rng(6)
X = RNG.normal(size=(16, 3)).astype("float32")
Y = RNG.normal(size=(16, 1)).astype("float32")


def model(rate=0.1):
    fg.utils.set_random_seed(0)
    inputs = fg.Input((3,))
    built = fg.Model(inputs, fg.layers.Dense(1)(inputs))
    built.compile(fg.optimizers.SGD(rate), "mse")
    return built


def test_the_scheduler_sets_each_epochs_rate_and_logs_it():
    m = model()
    seen = []
    history = m.fit(X, Y, epochs=3, verbose=0, callbacks=[
        fg.callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.5),
        fg.callbacks.LambdaCallback(on_epoch_begin=lambda e, logs: seen.append(
            float(m.optimizer.learning_rate)))])
    assert seen == pytest.approx([0.05, 0.025, 0.0125])
    assert history.history["learning_rate"] == pytest.approx([0.05, 0.025, 0.0125])
    m.fit(X, Y, epochs=1, verbose=0,
          callbacks=[fg.callbacks.LearningRateScheduler(lambda epoch: 0.3)])   # epoch alone
    assert float(m.optimizer.learning_rate) == pytest.approx(0.3)


def test_reduce_on_plateau_waits_patience_then_cools_down():
    m = model()
    callback = fg.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=2,
                                              cooldown=1, min_lr=0.02)
    callback.set_model(m)
    callback.on_train_begin()
    rates = []
    for epoch, loss in enumerate([1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]):
        logs = {"loss": loss}
        callback.on_epoch_end(epoch, logs)
        rates.append(float(m.optimizer.learning_rate))
    # epoch 0 improves; 1, 2 wait -> halve at 2; 3 cools down; 4, 5 wait -> halve at 5
    # (0.05 -> 0.025); 6 cools down
    assert rates == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025])
    with pytest.raises(ValueError, match="factor >= 1.0"):
        fg.callbacks.ReduceLROnPlateau(factor=1.5)


def test_csv_logger_writes_a_row_per_epoch_and_appends(tmp_path):
    path = tmp_path / "log.csv"
    m = model()
    m.fit(X, Y, epochs=2, verbose=0, validation_data=(X, Y),
          callbacks=[fg.callbacks.CSVLogger(str(path))])
    m.fit(X, Y, epochs=1, verbose=0, validation_data=(X, Y),
          callbacks=[fg.callbacks.CSVLogger(str(path), append=True)])
    rows = list(csv.reader(open(path)))
    assert rows[0] == ["epoch", "loss", "val_loss"]
    assert [r[0] for r in rows[1:]] == ["0", "1", "0"]
    assert all(float(r[1]) > 0 for r in rows[1:])
