"""The backend's deterministic-ops switch, and a record of the seed and switch this process used (for the card).

Seeds alone do not make a run repeatable: GPU kernels may sum in a different order each time
(atomics, cuDNN algorithm autotuning). Keras 3.15 has no backend-neutral switch for that
(``keras.config`` offers none), so :func:`enable_deterministic_ops` uses each backend's own.
"""

from __future__ import annotations

import os
from typing import Any

import keras

XLA_DETERMINISTIC_FLAG = "--xla_gpu_deterministic_ops=true"

_STATE: dict[str, Any] = {"seed": None, "deterministic": False, "how": None}


def _jax_started() -> bool:
    """Whether JAX has created its backends (then it has read ``XLA_FLAGS``); False when it cannot tell."""
    try:
        from jax._src import xla_bridge

        return bool(xla_bridge.backends_are_initialized())
    except Exception:  # noqa: BLE001 - an older or newer JAX without this function
        return False


def enable_deterministic_ops() -> str:
    """Switch on the active backend's deterministic ops for this process; returns how it was done.

    - TensorFlow: ``tf.config.experimental.enable_op_determinism()``. Process-wide and permanent; an op
      without a deterministic kernel then raises instead of running.
    - JAX: adds ``--xla_gpu_deterministic_ops=true`` to ``XLA_FLAGS``. XLA reads that variable once,
      when JAX starts its backends (its first computation), so call this before any JAX work, or set
      ``XLA_FLAGS`` in the environment before Python starts; raises ``RuntimeError`` when JAX has
      already started without the flag.
    - PyTorch: ``torch.use_deterministic_algorithms(True)`` with ``CUBLAS_WORKSPACE_CONFIG=:4096:8``.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf  # the backend's own switch; Keras has none

        tf.config.experimental.enable_op_determinism()
        return "tensorflow: tf.config.experimental.enable_op_determinism()"
    if backend == "jax":
        flags = os.environ.get("XLA_FLAGS", "")
        if XLA_DETERMINISTIC_FLAG not in flags.split():
            if _jax_started():
                raise RuntimeError(
                    f"JAX has already started, so it will not read XLA_FLAGS={XLA_DETERMINISTIC_FLAG} any more. "
                    f"Start Python with XLA_FLAGS={XLA_DETERMINISTIC_FLAG} in the environment, or switch "
                    "determinism on before the first JAX computation."
                )
            os.environ["XLA_FLAGS"] = f"{flags} {XLA_DETERMINISTIC_FLAG}".strip()
        return f"jax: XLA_FLAGS {XLA_DETERMINISTIC_FLAG}"
    if backend == "torch":
        import torch

        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        return "torch: torch.use_deterministic_algorithms(True)"
    raise ValueError(f"No deterministic-ops switch known for the Keras backend {backend!r}.")


def record_seed(seed: int, how: str | None) -> None:
    """Note the seed just set and, if ``how`` says so, that deterministic ops were switched on."""
    _STATE["seed"] = int(seed)
    if how:  # once on, the backend's switch stays on for the process
        _STATE["deterministic"], _STATE["how"] = True, how


def determinism_state() -> dict[str, Any]:
    """What this process did for repeatability: ``{"seed", "deterministic", "how", "backend"}``.

    ``seed`` is the last one :func:`fer_keras.training.set_seed` set (None if it was not called);
    ``deterministic`` whether the backend's deterministic ops are on, and ``how`` the switch used.
    """
    how = _STATE["how"] or "off: seeded only; the backend may choose non-deterministic kernels (GPU)"
    return {**_STATE, "how": how, "backend": keras.backend.backend()}
