"""bf16 where the hardware executes it natively (fer_keras.precision)."""

from __future__ import annotations

from pathlib import Path

import keras
import pytest

from fer_keras import precision
from fer_keras.experiments import dtype_policy_for
from fer_keras.profiles import get_settings


def test_cpu_flags_are_read_from_cpuinfo(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx512f avx512_bf16\n\nprocessor\t: 1\nflags\t: fpu\n")
    assert precision.cpu_flags(cpuinfo) == {"fpu", "sse2", "avx512f", "avx512_bf16"}
    assert precision.cpu_flags(tmp_path / "missing") == set()


def test_native_bf16_flags() -> None:
    assert precision.cpu_executes_bf16({"avx512f", "avx512_bf16"})
    assert precision.cpu_executes_bf16({"amx_bf16", "amx_tile"})
    assert not precision.cpu_executes_bf16({"avx512f", "avx2", "fma"})


@pytest.mark.parametrize(
    ("accelerator", "backend", "flags", "expected"),
    [
        (True, "jax", set(), "mixed_bfloat16"),  # every accelerator: as before
        (False, "tensorflow", {"avx512f", "avx512_bf16"}, "mixed_bfloat16"),  # this development CPU
        (False, "tensorflow", {"amx_bf16"}, "mixed_bfloat16"),
        (False, "tensorflow", {"avx512f", "avx2"}, "float32"),  # no native bf16: emulated, slower
        (False, "jax", {"avx512_bf16"}, "float32"),  # JAX's CPU backend does not use it
    ],
)
def test_policy_rule(
    monkeypatch: pytest.MonkeyPatch, accelerator: bool, backend: str, flags: set[str], expected: str
) -> None:
    monkeypatch.setattr(precision, "has_accelerator", lambda: accelerator)
    monkeypatch.setattr(precision, "backend_name", lambda: backend)
    monkeypatch.setattr(precision, "cpu_flags", lambda cpuinfo="/proc/cpuinfo": flags)
    assert precision.mixed_precision_policy(True) == expected
    assert precision.mixed_precision_policy(False) == "float32"
    assert dtype_policy_for(get_settings("fer7", "cpu")) == expected  # the cpu profile asks for bf16
    assert dtype_policy_for(get_settings("fer7", "smoke")) == "float32"  # the smoke profile does not


def test_a_model_built_under_the_cpu_policy_computes_in_it() -> None:
    from fer_keras import training
    from fer_keras.models import build_fer_cnn

    policy = dtype_policy_for(get_settings("fer4", "cpu"))
    with training.dtype_policy(policy):
        model = build_fer_cnn(4, conv_blocks=((8, 1),), dense_units=(16,))
    assert model.dtype_policy.name == policy
    assert model.get_layer("block1_conv1").compute_dtype == ("bfloat16" if policy == "mixed_bfloat16" else "float32")
    assert model.output.dtype == "float32"  # the softmax stays in float32
    assert keras.config.dtype_policy().name == "float32"  # the global policy is restored
