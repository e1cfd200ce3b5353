"""Jobs that tests/runtime/test_distribute_mpi.py starts on 2 ranks with mpiexec:

    python tests/helpers/mpi_jobs.py JOB OUT_DIR [BACKEND]

``train``: a small BatchNormalization model (rank 1 starts from other weights), fit with
a shuffle, evaluate and predict; rank r saves what it ended with as ``OUT_DIR/rank{r}.npz``
(numpy directly: a test's record, not a fusegraph file). :func:`train` run in one process
(``world=None``) is what the job must equal.
``indivisible``: a global batch that 2 ranks cannot share. ``fail``: rank 1 raises in a
callback in its second epoch. ``kill``: rank 1 is killed outright in its second epoch.
``files``: ModelCheckpoint and save_weights into OUT_DIR (only rank 0 writes).
``masked``: a Masking model whose mse is averaged over unmasked steps, the ranks'
shares masked unevenly (:func:`masked` in one process is what it must equal).
``edges``: a subclassed model (built by its first call, differently on each rank) fit on
a Dataset, ``train_on_batch`` before any fit, a callback stopping rank 1 alone mid-epoch,
and ``predict`` on a batch smaller than the ranks; rank r saves ``OUT_DIR/edges{r}.npz``.
"""
import os
import signal
import sys

import numpy as np

import fusegraph as fg

RNG = np.random.default_rng(0)
X = RNG.normal(size=(64, 6)).astype("float32")
Y = (X[:, 0] + X[:, 1] > 0).astype("int32")


def model_and_data(backend: str, strategy=None):
    fg.utils.set_random_seed(1)
    inputs = fg.Input((6,))
    h = fg.layers.Dense(8, activation="relu")(inputs)
    h = fg.layers.BatchNormalization()(h)
    model = fg.Model(inputs, fg.layers.Dense(2, activation="softmax")(h))
    if strategy is not None and strategy.rank == 1:   # the broadcast must undo this
        for w in model.weights:
            w.assign(np.full(w.shape, 0.3, w.numpy().dtype))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"], backend=backend, distribute=strategy)
    return model


def train(backend: str, strategy=None) -> dict:
    """What a fit of the small model ends with: weights, history, evaluate, predict."""
    model = model_and_data(backend, strategy)
    history = model.fit(X, Y, batch_size=16, epochs=3, verbose=0, seed=5)
    out = {f"w{i}": w.numpy() for i, w in enumerate(model.weights)}
    out.update(loss=np.array(history.history["loss"]),
               accuracy=np.array(history.history["accuracy"]),
               evaluate=np.array(model.evaluate(X, Y, batch_size=24, verbose=0)),
               predict=model.predict(X, batch_size=24, verbose=0))
    return out


class _Fail(fg.callbacks.Callback):
    def __init__(self, rank, how):
        super().__init__()
        self.rank, self.how = rank, how

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 1 and self.rank == 1:
            if self.how == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            raise RuntimeError("this rank's callback failed on purpose")


def masked(backend: str, strategy=None) -> dict:
    """A mean over the valid steps of a batch whose first half is mostly masked: each
    rank's share has its own count of valid steps."""
    x = RNG_MASKED.normal(size=(32, 5, 2)).astype("float32")
    x[:16, 2:] = 0.0
    y = RNG_MASKED.normal(size=(32, 5, 1)).astype("float32")
    fg.utils.set_random_seed(1)
    model = fg.Sequential([fg.Input((5, 2)), fg.layers.Masking(0.0), fg.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse", backend=backend, distribute=strategy)
    history = model.fit(x, y, batch_size=32, epochs=3, verbose=0, shuffle=False)
    return {"loss": np.array(history.history["loss"]), "kernel": model.weights[0].numpy()}


RNG_MASKED = np.random.default_rng(7)


class _Subclassed(fg.Model):
    def __init__(self):
        super().__init__()
        self.hidden = fg.layers.Dense(8, activation="relu")
        self.out = fg.layers.Dense(2, activation="softmax")

    def call(self, inputs):
        return self.out(self.hidden(inputs))


class _StopsRank1(fg.callbacks.Callback):
    def __init__(self, rank):
        super().__init__()
        self.rank = rank

    def on_train_batch_end(self, batch, logs=None):
        if self.rank == 1 and batch == 1:
            self.model.stop_training = True


def edges(backend: str, strategy) -> dict:
    """The cases a data-parallel job must agree on (see the module)."""
    fg.utils.set_random_seed(1 + strategy.rank)        # other weights on rank 1
    model = _Subclassed()
    model.compile("adam", "sparse_categorical_crossentropy", backend=backend,
                  distribute=strategy)
    data = fg.data.Dataset.from_tensor_slices((X, Y)).batch(16)
    history = model.fit(data, epochs=2, verbose=0)
    fg.utils.set_random_seed(1 + strategy.rank)
    early = model_and_data(backend, strategy)
    first = early.train_on_batch(X[:16], Y[:16])
    stopped = model_and_data(backend, strategy)
    stopped.fit(X, Y, batch_size=16, epochs=3, verbose=0, callbacks=[_StopsRank1(strategy.rank)])
    return {"fit": np.concatenate([w.numpy().ravel() for w in model.weights]),
            "loss": np.array(history.history["loss"]), "first": np.array(first),
            "early": np.concatenate([w.numpy().ravel() for w in early.weights]),
            "iterations": np.array(stopped.optimizer.iterations.numpy()),
            "one_row": model.predict(X[:1], verbose=0)}


def main(job: str, out: str, backend: str = "reference") -> None:
    strategy = fg.distribute.DataParallel()
    if job == "train":
        np.savez(os.path.join(out, f"rank{strategy.rank}.npz"), **train(backend, strategy))
    elif job == "masked":
        np.savez(os.path.join(out, f"masked{strategy.rank}.npz"), **masked(backend, strategy))
    elif job == "edges":
        np.savez(os.path.join(out, f"edges{strategy.rank}.npz"), **edges(backend, strategy))
    elif job == "indivisible":
        model_and_data(backend, strategy).fit(X[:60], Y[:60], batch_size=15, verbose=0)
    elif job in ("fail", "kill"):
        model_and_data(backend, strategy).fit(X, Y, batch_size=16, epochs=3, verbose=0,
                                              callbacks=[_Fail(strategy.rank, job)])
    elif job == "files":
        model = model_and_data(backend, strategy)
        checkpoint = fg.callbacks.ModelCheckpoint(os.path.join(out, "epoch{epoch}.npz"),
                                                  monitor="loss")
        model.fit(X, Y, batch_size=16, epochs=2, verbose=0, callbacks=[checkpoint])
        model.save_weights(os.path.join(out, f"by_rank{strategy.rank}.npz"))
    else:
        raise SystemExit(f"unknown job {job!r}")


if __name__ == "__main__":
    main(*sys.argv[1:])
