"""Data-parallel training over every visible accelerator with ``keras.distribution`` (JAX backend).

One process with several devices: ``DataParallel`` replicates the weights and splits each global
batch across the devices. Several hosts: each process first joins the cluster with
``keras.distribution.initialize()``, which reads ``KERAS_DISTRIBUTION_JOB_ADDRESSES`` (the
coordinator's ``host:port``), ``KERAS_DISTRIBUTION_NUM_PROCESSES`` and ``KERAS_DISTRIBUTION_PROCESS_ID``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

import keras

from fer_keras.data.fast import loading_options

DISTRIBUTED_BACKENDS = ("jax",)
"""Backends whose ``keras.distribution`` implementation is complete (TensorFlow's is a prototype)."""

CLUSTER_ENV_VARS = (
    "KERAS_DISTRIBUTION_JOB_ADDRESSES",
    "KERAS_DISTRIBUTION_NUM_PROCESSES",
    "KERAS_DISTRIBUTION_PROCESS_ID",
)
"""Environment variables ``keras.distribution.initialize()`` reads on each host of a multi-host run."""

NO_DISTRIBUTION = {"strategy": "none", "devices": 1, "processes": 1}

_trained_with: dict[str, Any] | None = None  # the distribution the last training_run() released


class DistributionError(RuntimeError):
    """Data-parallel training was asked for where it cannot run (wrong backend, half-set cluster variables)."""


def cluster_from_env(environ: dict[str, str] | None = None) -> dict[str, str] | None:
    """The multi-host settings from the environment, None when none is set; raises when only some are set."""
    environ = dict(os.environ if environ is None else environ)
    found = {name: environ[name] for name in CLUSTER_ENV_VARS if environ.get(name)}
    if not found:
        return None
    missing = [name for name in CLUSTER_ENV_VARS if name not in found]
    if missing:
        raise DistributionError(
            f"Multi-host training needs all of {', '.join(CLUSTER_ENV_VARS)}; {', '.join(missing)} "
            f"not set (set: {', '.join(found)}). Set them on every host (see README, 'Scaling out')."
        )
    return found


def check_backend() -> None:
    """Raise :class:`DistributionError` unless the Keras backend implements ``keras.distribution``."""
    backend = keras.backend.backend()
    if backend not in DISTRIBUTED_BACKENDS:
        raise DistributionError(
            f"--distribute needs the JAX backend: keras.distribution (DataParallel) is not available on the "
            f"{backend!r} backend. Install JAX (it is pinned in requirements.txt; `pip install 'jax[cuda12]'` "
            "on NVIDIA GPUs) and run with KERAS_BACKEND=jax."
        )


def configure_distribution(enabled: bool) -> dict[str, Any]:
    """Turn on data-parallel training over every visible device; return :func:`current_distribution`.

    On a multi-host cluster (the ``KERAS_DISTRIBUTION_*`` variables set) the process joins it first,
    so the devices are those of all hosts. With one device and one process nothing is set up and
    ``{"strategy": "none", "devices": 1, "processes": 1}`` is returned. Call it before the model is built.
    """
    if not enabled:
        return current_distribution()
    check_backend()
    cluster = cluster_from_env()
    if cluster and keras.distribution.distribution() is None:
        keras.distribution.initialize()  # reads the KERAS_DISTRIBUTION_* variables
    devices = keras.distribution.list_devices()
    if len(devices) > 1:
        # auto_shard_dataset handles tf.data only; fer_keras' feeds are split by process_share().
        keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices, auto_shard_dataset=False))
    return current_distribution()


class ProcessShare(keras.utils.PyDataset):
    """This process's rows of every global batch of ``feed``, cut to a multiple of the device count.

    Keras' ``DataParallel`` splits each batch evenly over the devices and fails on a batch it cannot
    split, so a batch is first cut to a multiple of the (global) device count: an epoch's last batch
    loses at most ``devices - 1`` images, and a last batch smaller than that is skipped. On several
    hosts every host builds the same global batches (same data, same seed) and keeps the contiguous
    rows of its process id.
    """

    def __init__(self, feed: keras.utils.PyDataset, process_id: int, num_processes: int, devices: int) -> None:
        super().__init__(**loading_options(feed))
        self.feed, self.process_id, self.num_processes, self.devices = feed, process_id, num_processes, devices
        self._length = len(feed)
        last_batch = feed.n - (self._length - 1) * feed.batch_size  # ImageDataGenerator iterators, ArrayDataset
        if self._length and last_batch < devices:
            self._length -= 1

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, index: int) -> tuple:
        batch = self.feed[index]
        rows = len(batch[0]) - len(batch[0]) % self.devices
        share = rows // self.num_processes
        start = self.process_id * share
        return tuple(part[start : start + share] for part in batch)

    def on_epoch_begin(self) -> None:
        self.feed.on_epoch_begin()

    def on_epoch_end(self) -> None:
        self.feed.on_epoch_end()


def process_share(feed: Any) -> Any:
    """``feed`` as this process's :class:`ProcessShare` under data parallelism; unchanged otherwise."""
    distribution = keras.distribution.distribution()
    if distribution is None or not isinstance(feed, keras.utils.PyDataset):
        return feed
    return ProcessShare(
        feed, distribution.data_shard_id, distribution.num_processes, int(distribution.device_mesh.devices.size)
    )


@contextlib.contextmanager
def training_run() -> Iterator[None]:
    """Wrap one ``fit``; afterwards drop the distribution so that predictions see every test image.

    ``DataParallel`` cannot predict on a batch it cannot split over the devices, and on several
    hosts its predictions would be spread over them. The weights are replicated on every device, so
    each process evaluates and saves the model on its own copy; :func:`current_distribution` keeps
    reporting the distribution the model was trained with.
    """
    global _trained_with
    _trained_with = None
    yield
    if keras.distribution.distribution() is not None:
        _trained_with = current_distribution()
        keras.distribution.set_distribution(None)


def current_distribution() -> dict[str, Any]:
    """The distribution in force (or released after training), as recorded in metrics and cards."""
    distribution = keras.distribution.distribution()
    if distribution is None:
        return dict(_trained_with or NO_DISTRIBUTION)
    if isinstance(distribution, keras.distribution.DataParallel):
        strategy = "data_parallel"
    elif isinstance(distribution, keras.distribution.ModelParallel):
        strategy = "model_parallel"
    else:
        strategy = type(distribution).__name__
    return {
        "strategy": strategy,
        "devices": int(distribution.device_mesh.devices.size),
        "processes": int(distribution.num_processes),
    }
