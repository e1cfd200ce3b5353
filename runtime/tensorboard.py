"""``TensorBoard`` (Keras's callback): training logs as TensorBoard event files, written
with tensorboardX (the optional extra ``pip install "fusegraph[tensorboard]"``).

What it writes, as Keras 3 writes it (``log_dir/train`` and ``log_dir/validation``):

- at each epoch's end, ``epoch_<key>`` at step ``epoch`` (from 0): the training logs
  and ``epoch_learning_rate`` under ``train/``, the ``val_`` logs without their prefix
  under ``validation/``; with ``write_steps_per_second``, ``epoch_steps_per_second``
  (the optimizer's steps of the epoch over its seconds);
- with ``update_freq="batch"`` (every batch) or an int ``n`` (every ``n``-th batch of
  the fit, counted from 1), ``batch_<key>`` of the batch's logs at that count, and
  ``batch_steps_per_second`` with ``write_steps_per_second``;
- at the end of each evaluation (fit's validation, or ``evaluate(callbacks=...)``),
  ``evaluation_<key>_vs_iterations`` under ``validation/`` at the optimizer's
  ``iterations``;
- with ``histogram_freq`` ``k``, every ``k``-th epoch (0, k, 2k, ...) a histogram of each
  layer's weights (``<weight path>/histogram``) and, with ``write_images``, the weights
  that form images, as Keras lays them out (``<weight path>/image``; a bias is a row, a
  Dense kernel a grey image with its longer side across, a 1-D convolution's kernel one
  image per filter, tiled in one grid image where TensorFlow writes the first three;
  other weights none). Images are written as PNG by :mod:`.images` (no Pillow needed).

What it does not: ``write_graph`` (default True, as Keras) writes nothing, because
fusegraph's graphs are not TensorFlow graphs (``model.ir()`` prints them);
``profile_batch`` other than 0 and ``embeddings_freq`` other than 0 (or
``embeddings_metadata``) are errors when the callback is made, naming what to use
instead. In a data-parallel job rank 0 alone writes (:mod:`.distribute`).
"""
from __future__ import annotations

import itertools
import math
import os
import time

import numpy as np

from ..frontend.checks import check_int_at_least
from . import distribute
from .callbacks import Callback
from .images import image_grid, png_bytes

INSTALL = 'pip install "fusegraph[tensorboard]"'
_writer_count = itertools.count()
HISTOGRAM_BUCKETS = 30      # equal-width buckets over [min, max], as TF2's tf.summary.histogram


def _tensorboardx():
    """The tensorboardX module; ImportError saying how to install it."""
    try:
        import tensorboardX
        import tensorboardX.event_file_writer   # noqa: F401 - EventsWriter
        import tensorboardX.proto.event_pb2     # noqa: F401 - the Event and Summary protos
        import tensorboardX.proto.summary_pb2   # noqa: F401
    except ImportError as error:
        raise ImportError(f"fg.callbacks.TensorBoard writes its logs with tensorboardX, which "
                          f"is not installed: {INSTALL}") from error
    return tensorboardX


class TensorBoard(Callback):
    """Write the training's scalars (and optionally weight histograms and images) for
    TensorBoard under ``log_dir`` (see the module)."""

    def __init__(self, log_dir="logs", histogram_freq=0, write_graph=True, write_images=False,
                 write_steps_per_second=False, update_freq="epoch", profile_batch=0,
                 embeddings_freq=0, embeddings_metadata=None):
        super().__init__()
        self._tensorboardx = _tensorboardx()
        if not isinstance(log_dir, (str, os.PathLike)):
            raise TypeError(f"TensorBoard: `log_dir` must be a folder's path (a str or "
                            f"os.PathLike), got {log_dir!r}")
        check_int_at_least("TensorBoard", "histogram_freq", histogram_freq, 0)
        if update_freq not in ("batch", "epoch") and (
                isinstance(update_freq, bool) or
                not isinstance(update_freq, (int, np.integer)) or update_freq < 1):
            raise ValueError(f"TensorBoard: `update_freq` must be 'batch', 'epoch' or an int "
                             f">= 1 (every that many batches), got {update_freq!r}")
        if profile_batch not in (0, "0", (0, 0), [0, 0]):
            raise ValueError(f"TensorBoard(profile_batch={profile_batch!r}): fusegraph does not "
                             f"write profiles for TensorBoard; pass profile_batch=0, and use "
                             f"fit(profile=True) (or FUSEGRAPH_PROFILE=1) for the per-kernel "
                             f"profile of the numba_cpu steps")
        if embeddings_freq or embeddings_metadata is not None:
            raise ValueError(f"TensorBoard(embeddings_freq={embeddings_freq!r}, "
                             f"embeddings_metadata={embeddings_metadata!r}): the embedding "
                             f"projector is not supported; pass embeddings_freq=0 and no "
                             f"embeddings_metadata")
        self.log_dir = os.fspath(log_dir)
        self.histogram_freq, self.write_graph = int(histogram_freq), write_graph
        self.write_images, self.write_steps_per_second = write_images, write_steps_per_second
        self.update_freq = 1 if update_freq == "batch" else update_freq
        self.embeddings_freq, self.embeddings_metadata = embeddings_freq, embeddings_metadata
        self._writers: dict = {}
        self._global_train_batch = 0
        self._batch_start = self._epoch_start = 0.0
        self._epoch_start_iterations = 0

    # --- writers ------------------------------------------------------------------------
    def _writer(self, kind: str):
        """The event file writer of ``log_dir/<kind>`` (``train``, ``validation``), made at
        its first use (no event file without events); None off rank 0. Its file is
        named as TensorFlow names its own (``events.out.tfevents.<time>.<host>.<pid>.<n>``),
        so that no two writers share one."""
        if not distribute.is_writer():
            return None
        if kind not in self._writers:
            folder = os.path.join(self.log_dir, kind)
            os.makedirs(folder, exist_ok=True)
            self._writers[kind] = self._tensorboardx.event_file_writer.EventsWriter(
                os.path.join(folder, "events"), f".{os.getpid()}.{next(_writer_count)}")
        return self._writers[kind]

    def _write(self, kind: str, summaries: list, step: int) -> None:
        """Write the Summary protos ``summaries`` at ``step`` to ``kind``'s event file and
        flush it (synchronously: the events are in the file when this returns)."""
        writer = self._writer(kind) if summaries else None
        if writer is None:
            return
        event = self._tensorboardx.proto.event_pb2.Event
        for summary in summaries:
            writer.write_event(event(wall_time=time.time(), step=int(step), summary=summary))
        writer.flush()

    def _scalars(self, kind: str, tags: dict, step: int) -> None:
        """One scalar per tag; an array (a per-class metric) as one per element,
        ``<tag>/<index>``."""
        scalar = self._tensorboardx.summary.scalar
        summaries = []
        for tag, value in tags.items():
            if np.ndim(value):
                summaries += [scalar(f"{tag}/{i}", float(v))
                              for i, v in enumerate(np.ravel(value))]
            else:
                summaries.append(scalar(tag, float(value)))
        self._write(kind, summaries, step)

    # --- the hooks ----------------------------------------------------------------------
    def on_train_begin(self, logs=None):
        self._global_train_batch = 0

    def on_train_end(self, logs=None):
        for writer in self._writers.values():
            writer.close()
        self._writers = {}

    def on_train_batch_begin(self, batch, logs=None):
        self._global_train_batch += 1
        self._batch_start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        step = self._global_train_batch
        if self.update_freq == "epoch" or step % self.update_freq:
            return
        tags = {f"batch_{name}": value for name, value in (logs or {}).items()}
        if self.write_steps_per_second:
            tags["batch_steps_per_second"] = 1.0 / (time.perf_counter() - self._batch_start)
        self._scalars("train", tags, step)

    def on_test_end(self, logs=None):
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is None:
            return
        self._scalars("validation", {f"evaluation_{name}_vs_iterations": value
                                     for name, value in (logs or {}).items()},
                      int(optimizer.iterations.numpy()))

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.perf_counter()
        self._epoch_start_iterations = int(self.model.optimizer.iterations.numpy())

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        train = {k: v for k, v in logs.items() if not k.startswith("val_")}
        train["learning_rate"] = float(self.model.optimizer.learning_rate)
        if self.write_steps_per_second:
            steps = int(self.model.optimizer.iterations.numpy()) - self._epoch_start_iterations
            train["steps_per_second"] = steps / (time.perf_counter() - self._epoch_start)
        self._scalars("train", {f"epoch_{k}": v for k, v in train.items()}, epoch)
        self._scalars("validation", {f"epoch_{k[4:]}": v for k, v in logs.items()
                                     if k.startswith("val_")}, epoch)
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            self._log_weights(epoch)

    def _log_weights(self, epoch: int) -> None:
        """Each layer's weights as histograms and, with ``write_images``, images."""
        summaries = []
        for layer in self.model.layers:
            for weight in layer.weights:
                name, value = weight.path.replace(":", "_"), weight.numpy()
                summaries.append(self._tensorboardx.summary.histogram(
                    f"{name}/histogram", value, bins=HISTOGRAM_BUCKETS))
                image = weight_image(value) if self.write_images else None
                if image is not None:
                    summaries.append(self._image(f"{name}/image", image))
        self._write("train", summaries, epoch)

    def _image(self, tag: str, images: np.ndarray):
        """A Summary of the NHWC ``images`` (values in [0, 1], clipped) as one PNG image:
        several are tiled into a grid (:func:`.images.image_grid`)."""
        image = images[0] if len(images) == 1 else \
            image_grid(images, columns=math.ceil(math.sqrt(len(images))))
        summary = self._tensorboardx.proto.summary_pb2.Summary
        height, width, channels = image.shape
        return summary(value=[summary.Value(tag=tag, image=summary.Image(
            height=height, width=width, colorspace=channels,
            encoded_image_string=png_bytes(image)))])


def weight_image(weight: np.ndarray) -> np.ndarray | None:
    """``weight`` as the NHWC images Keras's TensorBoard writes of it, squeezed first: a
    vector is ``(1, n, 1, 1)``, a matrix ``(1, rows, cols, 1)`` with its longer side
    across (transposed when taller), a 3-D (channels-last) kernel one image per
    last-axis slice; None when that is not 4-D with 1, 3 or 4 channels (Keras then
    writes no image)."""
    image = np.squeeze(weight)
    if image.ndim == 1:
        image = image.reshape(1, image.shape[0], 1, 1)
    elif image.ndim == 2:
        if image.shape[0] > image.shape[1]:
            image = image.T
        image = image.reshape(1, image.shape[0], image.shape[1], 1)
    elif image.ndim == 3:
        image = np.transpose(image, (2, 0, 1))[..., np.newaxis]
    if image.ndim == 4 and image.shape[-1] in (1, 3, 4):
        return image
    return None
