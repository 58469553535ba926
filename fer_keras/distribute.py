"""Data-parallel training over every visible accelerator with ``keras.distribution`` (JAX backend).

One process with several devices: ``DataParallel`` replicates the weights and splits each global
batch across the devices. Several hosts: each process first joins the cluster with
``keras.distribution.initialize()``, which reads ``KERAS_DISTRIBUTION_JOB_ADDRESSES`` (the
coordinator's ``host:port``), ``KERAS_DISTRIBUTION_NUM_PROCESSES`` and ``KERAS_DISTRIBUTION_PROCESS_ID``.
"""

from __future__ import annotations

import os
from typing import Any

import keras

DISTRIBUTED_BACKENDS = ("jax",)
"""Backends whose ``keras.distribution`` implementation is complete (TensorFlow's is a prototype)."""

CLUSTER_ENV_VARS = (
    "KERAS_DISTRIBUTION_JOB_ADDRESSES",
    "KERAS_DISTRIBUTION_NUM_PROCESSES",
    "KERAS_DISTRIBUTION_PROCESS_ID",
)
"""Environment variables ``keras.distribution.initialize()`` reads on each host of a multi-host run."""

NO_DISTRIBUTION = {"strategy": "none", "devices": 1, "processes": 1}


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
        # Each host feeds its own shard of every batch (fer_keras.distribute.process_batches).
        keras.distribution.set_distribution(
            keras.distribution.DataParallel(devices=devices, auto_shard_dataset=not cluster)
        )
    return current_distribution()


def current_distribution() -> dict[str, Any]:
    """The distribution in force, as recorded in metrics and cards: strategy, devices, processes."""
    distribution = keras.distribution.distribution()
    if distribution is None:
        return dict(NO_DISTRIBUTION)
    strategy = {"DataParallel": "data_parallel", "ModelParallel": "model_parallel"}.get(
        type(distribution).__name__, type(distribution).__name__
    )
    return {
        "strategy": strategy,
        "devices": int(distribution.device_mesh.devices.size),
        "processes": int(getattr(distribution, "_num_processes", 1)),
    }
