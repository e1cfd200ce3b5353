"""runtime/tensorboard.py: TensorBoard's event files, read back here record by record
(TFRecord framing, tensorboardX's Event protos): Keras 3's tags, steps and folders
(``train/``, ``validation/``), per-epoch and per-batch scalars equal to fit's logs,
histograms and images of the weights, the options refused, rank 0 alone writing, and
the error without tensorboardX."""
import glob
import os
import struct
import sys
import types

import numpy as np
import pytest

import fusegraph as fg
from fusegraph.runtime import distribute
from fusegraph.runtime.images import png_bytes

pytest.importorskip("tensorboardX")
from tensorboardX.proto.event_pb2 import Event   # noqa: E402

BATCHES = 3                 # 30 training samples in batches of 10


def read_events(folder) -> dict:
    """``{tag: [(step, Summary.Value), ...]}`` of the one event file in ``folder``."""
    (path,) = glob.glob(os.path.join(folder, "events.out.tfevents.*"))
    with open(path, "rb") as f:
        data = f.read()
    events, pos = {}, 0
    while pos < len(data):
        (length,) = struct.unpack("<Q", data[pos:pos + 8])
        event = Event.FromString(data[pos + 12:pos + 12 + length])
        pos += 12 + length + 4                         # length, its crc, data, its crc
        for value in event.summary.value:
            events.setdefault(value.tag, []).append((event.step, value))
    return events


def scalars(events, tag) -> list:
    return [(step, value.simple_value) for step, value in events[tag]]


def f32(values) -> list:
    return [float(np.float32(v)) for v in values]


def fit(log_dir, epochs=3, **options):
    """A fit of 3 epochs with validation and the callback; (model, history, the logs of
    every batch, the weights at every epoch's end)."""
    fg.utils.set_random_seed(2)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3)).astype("float32")
    y = x @ np.array([[1.0, 0.0], [-1.0, 1.0], [2.0, 0.5]], np.float32)
    inputs = fg.Input(shape=(3,))
    model = fg.Model(inputs, fg.layers.Dense(2)(fg.layers.Dense(4)(inputs)))
    model.compile(optimizer=fg.optimizers.SGD(0.05), loss="mse", metrics=["mae"],
                  backend="reference")
    batch_logs, weights = [], []
    record = fg.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: batch_logs.append(dict(logs)),
        on_epoch_end=lambda epoch, logs: weights.append(
            {w.path: w.numpy().copy() for w in model.weights}))
    history = model.fit(x, y, batch_size=10, epochs=epochs, validation_split=0.25, verbose=0,
                        callbacks=[record, fg.callbacks.TensorBoard(str(log_dir), **options)])
    return model, history, batch_logs, weights


def test_epoch_scalars_go_to_train_and_validation_as_keras_writes_them(tmp_path):
    _, history, _, _ = fit(tmp_path)
    assert sorted(os.listdir(tmp_path)) == ["train", "validation"]
    train, validation = read_events(tmp_path / "train"), read_events(tmp_path / "validation")
    assert sorted(train) == ["epoch_learning_rate", "epoch_loss", "epoch_mae"]
    for key in ("loss", "mae"):
        assert scalars(train, f"epoch_{key}") == list(enumerate(f32(history.history[key])))
        assert scalars(validation, f"epoch_{key}") == \
            list(enumerate(f32(history.history[f"val_{key}"])))
        # the end of each validation, at the optimizer's iterations so far
        assert scalars(validation, f"evaluation_{key}_vs_iterations") == \
            list(zip([3, 6, 9], f32(history.history[f"val_{key}"])))
    assert scalars(train, "epoch_learning_rate") == list(enumerate(f32([0.05] * 3)))
    assert sorted(validation) == ["epoch_loss", "epoch_mae", "evaluation_loss_vs_iterations",
                                  "evaluation_mae_vs_iterations"]


@pytest.mark.parametrize("update_freq, steps", [("batch", range(1, 10)), (2, [2, 4, 6, 8])])
def test_batch_scalars_every_update_freq_batches_of_the_fit(tmp_path, update_freq, steps):
    _, _, batch_logs, _ = fit(tmp_path, update_freq=update_freq)
    train = read_events(tmp_path / "train")
    for key in ("loss", "mae"):
        assert scalars(train, f"batch_{key}") == \
            [(step, float(np.float32(batch_logs[step - 1][key]))) for step in steps]


def test_steps_per_second_are_written_per_epoch_and_per_batch(tmp_path):
    fit(tmp_path, write_steps_per_second=True, update_freq="batch")
    train = read_events(tmp_path / "train")
    assert [step for step, _ in scalars(train, "epoch_steps_per_second")] == [0, 1, 2]
    assert [step for step, _ in scalars(train, "batch_steps_per_second")] == list(range(1, 10))
    assert all(v > 0 for _, v in scalars(train, "epoch_steps_per_second") +
               scalars(train, "batch_steps_per_second"))


def test_histograms_of_every_weight_every_histogram_freq_epochs(tmp_path):
    model, _, _, weights = fit(tmp_path, histogram_freq=2)
    train = read_events(tmp_path / "train")
    for w in model.weights:
        events = train[f"{w.path}/histogram"]
        assert [step for step, _ in events] == [0, 2]
        for step, value in events:
            array = weights[step][w.path]
            histogram = value.histo
            assert (histogram.num, histogram.min, histogram.max) == \
                (array.size, float(array.min()), float(array.max()))
            assert histogram.sum == pytest.approx(float(array.astype(np.float64).sum()))
            counts, edges = np.histogram(array.astype(np.float64), bins=30)   # equal widths
            # the buckets over the values' support (and an empty one left of it), by
            # their right edges
            assert [c for c in histogram.bucket if c] == [c for c in counts.tolist() if c]
            assert np.isclose(np.array(histogram.bucket_limit)[:, None], edges).any(1).all()
    assert not any(tag.endswith("/image") for tag in train)


def test_write_images_lays_weights_out_as_keras_does(tmp_path):
    """The hidden Dense's kernel (3, 4): one grey image 3 high, 4 wide; its bias (4,):
    4 high, 1 wide; the output kernel (4, 2), taller than wide: transposed, 2 by 4."""
    model, _, _, weights = fit(tmp_path, histogram_freq=1, write_images=True, epochs=1)
    train = read_events(tmp_path / "train")
    kernel, bias, out_kernel = (weights[0][w.path] for w in model.weights[:3])
    expected = {model.weights[0].path: kernel[:, :, None],
                model.weights[1].path: bias[:, None, None],
                model.weights[2].path: out_kernel.T[:, :, None]}
    for path, image in expected.items():
        ((step, value),) = train[f"{path}/image"]
        assert step == 0
        assert (value.image.height, value.image.width, value.image.colorspace) == image.shape
        assert value.image.encoded_image_string == png_bytes(image)


def test_a_fit_without_validation_writes_no_validation_folder(tmp_path):
    fg.utils.set_random_seed(2)
    inputs = fg.Input(shape=(3,))
    model = fg.Model(inputs, fg.layers.Dense(1)(inputs))
    model.compile(optimizer="sgd", loss="mse", backend="reference")
    model.fit(np.ones((8, 3)), np.ones((8, 1)), epochs=2, verbose=0,
              callbacks=[fg.callbacks.TensorBoard(str(tmp_path))])
    assert os.listdir(tmp_path) == ["train"]
    assert sorted(read_events(tmp_path / "train")) == ["epoch_learning_rate", "epoch_loss"]


def test_evaluate_with_the_callback_writes_the_evaluation_scalars(tmp_path):
    model, _, _, _ = fit(tmp_path / "fit", epochs=1)
    board = fg.callbacks.TensorBoard(str(tmp_path / "evaluate"))
    loss, mae = model.evaluate(np.ones((4, 3), np.float32), np.ones((4, 2), np.float32),
                               verbose=0, callbacks=[board])
    validation = read_events(tmp_path / "evaluate" / "validation")
    assert scalars(validation, "evaluation_loss_vs_iterations") == [(3, float(np.float32(loss)))]
    assert scalars(validation, "evaluation_mae_vs_iterations") == [(3, float(np.float32(mae)))]


def test_only_rank_0_writes(tmp_path, monkeypatch):
    monkeypatch.setattr(distribute, "_STRATEGY", types.SimpleNamespace(rank=1, size=2))
    fit(tmp_path / "logs", update_freq="batch", histogram_freq=1)
    assert not (tmp_path / "logs").exists()


def test_keras_attributes():
    board = fg.callbacks.TensorBoard(update_freq="batch")
    assert (board.log_dir, board.histogram_freq, board.write_graph, board.write_images,
            board.write_steps_per_second, board.update_freq, board.embeddings_freq,
            board.embeddings_metadata) == ("logs", 0, True, False, False, 1, 0, None)
    assert fg.callbacks.TensorBoard(update_freq=5).update_freq == 5


@pytest.mark.parametrize("kwargs, error, match", [
    ({"log_dir": 3}, TypeError, r"`log_dir` must be a folder's path .* got 3"),
    ({"histogram_freq": -1}, ValueError, r"`histogram_freq` must be an int >= 0, got -1"),
    ({"update_freq": 0}, ValueError, r"`update_freq` must be 'batch', 'epoch' or an int >= 1"),
    ({"update_freq": "often"}, ValueError, r"got 'often'"),
    ({"profile_batch": 2}, ValueError, r"profile_batch=2\): fusegraph does not write profiles "
                                       r".* fit\(profile=True\)"),
    ({"profile_batch": (2, 4)}, ValueError, r"profile_batch=\(2, 4\)"),
    ({"embeddings_freq": 1}, ValueError, r"the embedding projector is not supported"),
    ({"embeddings_metadata": {"emb": "m.tsv"}}, ValueError, r"embeddings_metadata=\{'emb'"),
])
def test_options_fusegraph_does_not_have_are_errors_naming_them(kwargs, error, match):
    with pytest.raises(error, match=match):
        fg.callbacks.TensorBoard(**kwargs)


def test_without_tensorboardx_the_error_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboardX", None)
    with pytest.raises(ImportError, match=r'tensorboardX, which is not installed: pip install '
                                          r'"fusegraph\[tensorboard\]"'):
        fg.callbacks.TensorBoard()
