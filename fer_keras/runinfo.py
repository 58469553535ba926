"""Describe the software and hardware a run used, for cards and notebooks."""

from __future__ import annotations

import datetime as _dt
import os
import platform
import sys


def backend_name() -> str:
    """The active Keras backend (``tensorflow``, ``jax`` or ``torch``)."""
    import keras

    return keras.backend.backend()


def device_description() -> str:
    """A human-readable name of the device Keras computes on, e.g. ``GPU (NVIDIA H100 80GB HBM3)``."""
    try:
        import keras

        accelerators = [d for d in keras.distribution.list_devices() if not d.lower().startswith("cpu")]
    except Exception:  # noqa: BLE001 - naming the device must never break a run
        accelerators = []
    if accelerators:
        kind = accelerators[0].split(":")[0].upper()
        return f"{kind} ({_accelerator_model()}) x{len(accelerators)}"
    return f"CPU ({os.cpu_count()} cores, {platform.machine()})"


def _accelerator_model() -> str:
    """The accelerator's product name where the backend can tell it (JAX), else ``unknown``."""
    try:
        if backend_name() == "jax":
            import jax

            return jax.devices()[0].device_kind
    except Exception:  # noqa: BLE001
        pass
    return "unknown"


def has_accelerator() -> bool:
    """True when Keras runs on a GPU/TPU rather than the CPU."""
    return not device_description().startswith("CPU")


def collect_run_info() -> dict:
    """Backend, device, library versions, host and UTC date of this process."""
    import keras

    info = {
        "backend": backend_name(),
        "device": device_description(),
        "keras_version": keras.__version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }
    try:
        module = __import__({"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}[info["backend"]])
        info["backend_version"] = module.__version__
    except Exception:  # noqa: BLE001
        info["backend_version"] = "unknown"
    return info
