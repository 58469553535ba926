"""Atomic writes and the run description recorded in cards: software, device, code commit, data fingerprints."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import random
import stat
import subprocess
from pathlib import Path

import keras
import numpy as np
import pytest

from fer_keras.io import atomic_write_bytes, atomic_write_json, atomic_write_text
from fer_keras.runinfo import (
    accelerator_model,
    backend_name,
    collect_run_info,
    device_description,
    fingerprint_arrays,
    fingerprint_files,
    git_state,
    has_accelerator,
    library_versions,
)

REPO_ROOT = Path(__file__).resolve().parents[1]


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


# ---------------------------------------------------------------- versions, commit, accelerator


def test_run_info_records_versions_and_commit() -> None:
    info = collect_run_info()
    versions = info["versions"]
    assert versions == library_versions()
    for name in ("keras", "numpy", "scikit-learn", "pillow", "pandas", "keras-tuner"):
        assert versions[name] == importlib.metadata.version(name)
    assert versions["keras"] == keras.__version__
    assert info["backend_version"] == versions[backend_name()] != "unknown"
    if backend_name() == "tensorflow":  # installed as tensorflow-cpu here, tensorflow elsewhere
        installed = [_version(d) for d in ("tensorflow", "tensorflow-cpu")]
        assert versions["tensorflow"] in installed
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True)
    if head.returncode == 0:  # a git checkout (as in CI); an unpacked archive says unknown
        assert info["git_commit"] == head.stdout.strip() and isinstance(info["git_dirty"], bool)
    else:
        assert info["git_commit"] == info["git_dirty"] == "unknown"


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _git(repo: Path, *args: str) -> str:
    command = ["git", "-c", "user.name=test", "-c", "user.email=test@example.org", "-c", "commit.gpgsign=false"]
    return subprocess.run([*command, *args], cwd=repo, check=True, capture_output=True, text=True).stdout.strip()


def test_git_state_in_a_repository(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "pkg").mkdir(parents=True)
    assert git_state(repo / "pkg") == {"commit": "unknown", "dirty": "unknown"}  # not a checkout
    _git(repo, "init", "-q")
    (repo / "pkg" / "module.py").write_text("x = 1\n")
    assert git_state(repo / "pkg") == {"commit": "unknown", "dirty": "unknown"}  # no commit yet
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "first")
    head = _git(repo, "rev-parse", "HEAD")
    assert len(head) == 40 and git_state(repo / "pkg") == {"commit": head, "dirty": False}
    (repo / "notes.txt").write_text("untracked files do not make the tree dirty")
    assert git_state(repo / "pkg") == {"commit": head, "dirty": False}
    (repo / "pkg" / "module.py").write_text("x = 2\n")
    assert git_state(repo / "pkg") == {"commit": head, "dirty": True}
    _git(repo, "commit", "-q", "-am", "second")
    assert git_state(repo / "pkg") == {"commit": _git(repo, "rev-parse", "HEAD"), "dirty": False} != head
    # an ignored folder inside a checkout (e.g. a virtual environment's site-packages) is not that checkout
    (repo / ".gitignore").write_text(".venv/\n")
    (repo / ".venv" / "fer_keras").mkdir(parents=True)
    (repo / ".venv" / "fer_keras" / "runinfo.py").write_text("")
    assert git_state(repo / ".venv" / "fer_keras") == {"commit": "unknown", "dirty": "unknown"}


def test_git_state_without_git_or_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert git_state(tmp_path / "missing") == {"commit": "unknown", "dirty": "unknown"}
    monkeypatch.setenv("PATH", str(tmp_path))  # no git on PATH
    assert git_state(REPO_ROOT) == {"commit": "unknown", "dirty": "unknown"}
    info = collect_run_info()  # never fails a run
    assert info["git_commit"] == "unknown" and info["versions"]["numpy"] == np.__version__


@pytest.mark.skipif(backend_name() == "jax", reason="JAX names its devices itself")
def test_accelerator_model_from_nvidia_smi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert accelerator_model() == "unknown"  # no nvidia-smi
    tool = tmp_path / "nvidia-smi"
    tool.write_text(
        "#!/bin/sh\n"
        '[ "$1 $2" = "--query-gpu=name --format=csv,noheader" ] || exit 9\n'
        "printf 'NVIDIA H100 80GB HBM3\\nNVIDIA H100 80GB HBM3\\n'\n"
    )
    tool.chmod(0o755)
    assert accelerator_model() == "NVIDIA H100 80GB HBM3"
    tool.write_text("#!/bin/sh\necho 'NVIDIA-SMI has failed' >&2; exit 9\n")
    assert accelerator_model() == "unknown"


# ---------------------------------------------------------------- data fingerprints


def test_fingerprint_files_is_the_documented_manifest_hash(copy_real_images, tmp_path: Path) -> None:
    root = tmp_path / "fer2013"
    paths = copy_real_images("test", "happy", root / "test" / "happy", 4)
    paths += copy_real_images("test", "sad", root / "test" / "sad", 3)
    lines = sorted(
        f"{p.relative_to(root).as_posix()}\t{p.stat().st_size}\t{hashlib.sha256(p.read_bytes()).hexdigest()}\n"
        for p in paths
    )
    expected = hashlib.sha256("".join(lines).encode()).hexdigest()
    result = fingerprint_files(paths, root)
    assert result == {"sha256": f"sha256:{expected}", "files": 7, "bytes": sum(p.stat().st_size for p in paths)}


def test_fingerprint_files_changes_with_content_and_names_not_order(copy_real_images, tmp_path: Path) -> None:
    root = tmp_path / "data"
    paths = copy_real_images("test", "neutral", root / "neutral", 5)
    base = fingerprint_files(paths, root)["sha256"]
    shuffled = list(paths)
    random.Random(0).shuffle(shuffled)
    assert fingerprint_files(shuffled, root)["sha256"] == base
    assert fingerprint_files([str(p) for p in reversed(paths)], str(root), workers=1)["sha256"] == base
    assert fingerprint_files(paths + paths[:2], root)["sha256"] == base  # a file listed twice is one file
    assert fingerprint_files(paths[:4], root)["sha256"] != base  # one file fewer

    data = bytearray(paths[2].read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit of one file, same size
    paths[2].write_bytes(bytes(data))
    changed = fingerprint_files(paths, root)["sha256"]
    assert changed != base
    data[len(data) // 2] ^= 0x01
    paths[2].write_bytes(bytes(data))
    assert fingerprint_files(paths, root)["sha256"] == base  # restored

    renamed = paths[0].rename(paths[0].with_name("renamed.jpg"))
    assert fingerprint_files([renamed, *paths[1:]], root)["sha256"] != base
    with pytest.raises(ValueError, match="not under the fingerprint root"):
        fingerprint_files(paths[1:], root / "neutral" / "sub")


def test_fingerprint_arrays() -> None:
    rng = np.random.default_rng(0)
    arrays = {"x_train": rng.integers(0, 256, (20, 28, 28), dtype=np.uint8), "y_train": np.arange(20) % 10}
    base = fingerprint_arrays(arrays)
    assert base["sha256"].startswith("sha256:") and len(base["sha256"]) == 7 + 64
    assert base["arrays"] == {
        "x_train": {"shape": [20, 28, 28], "dtype": "uint8"},
        "y_train": {"shape": [20], "dtype": str(arrays["y_train"].dtype)},
    }
    assert fingerprint_arrays(dict(reversed(arrays.items())))["sha256"] == base["sha256"]  # order of keys
    assert fingerprint_arrays({k: v.copy(order="F") for k, v in arrays.items()})["sha256"] == base["sha256"]
    changed = {**arrays, "x_train": arrays["x_train"].copy()}
    changed["x_train"][3, 4, 5] ^= 1
    assert fingerprint_arrays(changed)["sha256"] != base["sha256"]
    assert fingerprint_arrays({**arrays, "y_train": arrays["y_train"].astype(np.int16)})["sha256"] != base["sha256"]
    assert fingerprint_arrays({"x_test": arrays["x_train"], "y_train": arrays["y_train"]}) != base
    assert fingerprint_arrays({**arrays, "x_train": arrays["x_train"].reshape(20, 784)})["sha256"] != base["sha256"]
    assert fingerprint_arrays({"n": np.array(5)})["sha256"] != fingerprint_arrays({"n": np.array([5])})["sha256"]
    assert fingerprint_arrays({"n": np.array(5)})["arrays"] == {"n": {"shape": [], "dtype": "int64"}}
    with pytest.raises(TypeError, match="Python objects"):
        fingerprint_arrays({"names": np.array(["a", None], dtype=object)})


def test_run_outputs_do_not_make_the_code_dirty(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    for path in ("pkg/module.py", "model_cards/fer7.md", "metrics/fer7.json", "notebooks/02.ipynb", "models/a.keras"):
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text("first\n")
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "first")
    for path in ("model_cards/fer7.md", "metrics/fer7.json", "notebooks/02.ipynb", "models/a.keras"):
        (repo / path).write_text("a recorded run rewrote this\n")
    assert git_state(repo / "pkg")["dirty"] is False  # a card written after another run is still clean
    (repo / "pkg" / "module.py").write_text("x = 2\n")
    assert git_state(repo / "pkg")["dirty"] is True
