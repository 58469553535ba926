"""Which dtype policy a run uses: ``mixed_bfloat16`` where the hardware executes bf16 natively, else float32."""

from __future__ import annotations

from pathlib import Path

from fer_keras.runinfo import backend_name, has_accelerator

BF16_CPU_FLAGS: tuple[str, ...] = ("avx512_bf16", "amx_bf16")
"""CPU flags (``/proc/cpuinfo``) of instructions that compute in bf16 natively."""

BF16_CPU_BACKENDS: tuple[str, ...] = ("tensorflow",)
"""Backends whose CPU kernels use those instructions (oneDNN); on the 2-core development CPU bf16 trains the
FER CNN faster than float32 under TensorFlow (benchmarks/README.md, "bf16 on this CPU"), while issue 16 found
JAX's CPU backend no faster in bf16 (32 vs 33 images/s)."""


def cpu_flags(cpuinfo: str | Path = "/proc/cpuinfo") -> set[str]:
    """The flags of the first processor listed in ``cpuinfo`` (empty where the file does not exist)."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            return set(line.split(":", 1)[1].split())
    return set()


def cpu_executes_bf16(flags: set[str] | None = None) -> bool:
    """True when the CPU has an instruction set that computes in bf16 (see :data:`BF16_CPU_FLAGS`)."""
    flags = cpu_flags() if flags is None else flags
    return any(flag in flags for flag in BF16_CPU_FLAGS)


def bf16_is_native() -> bool:
    """True on accelerators, and on CPUs that execute bf16 under a backend that uses it."""
    return has_accelerator() or (backend_name() in BF16_CPU_BACKENDS and cpu_executes_bf16())


def mixed_precision_policy(wanted: bool) -> str:
    """``mixed_bfloat16`` when mixed precision is ``wanted`` and :func:`bf16_is_native`, else ``float32``."""
    return "mixed_bfloat16" if wanted and bf16_is_native() else "float32"
