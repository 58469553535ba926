"""Atomic writes and the run description recorded in cards."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import keras
import pytest

from fer_keras.io import atomic_write_bytes, atomic_write_json, atomic_write_text
from fer_keras.runinfo import backend_name, collect_run_info, device_description, has_accelerator


def test_atomic_writes_replace_whole_files_and_leave_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "dir" / "card.md"
    atomic_write_text(target, "old")
    atomic_write_text(target, "new ✓")
    assert target.read_text(encoding="utf-8") == "new ✓"
    atomic_write_json(tmp_path / "m.json", {"accuracy": 0.5, "classes": ["happy"]})
    assert json.loads((tmp_path / "m.json").read_text()) == {"accuracy": 0.5, "classes": ["happy"]}
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["card.md", "m.json"]
    mode = stat.S_IMODE(os.stat(target).st_mode)
    assert mode & stat.S_IRGRP and mode & stat.S_IROTH  # readable like any other file, not mkstemp's 0600


def test_failed_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "metrics.json"
    atomic_write_bytes(target, b"old")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_run_info_names_backend_device_and_versions() -> None:
    info = collect_run_info()
    assert info["backend"] == backend_name() == keras.backend.backend()
    assert info["keras_version"] == keras.__version__
    assert info["device"] == device_description()
    assert info["date"].endswith("UTC") and info["backend_version"] != ""
    # This project's CI machine has no accelerator; on one the device names it instead of the CPU.
    assert has_accelerator() == (not info["device"].startswith("CPU"))
