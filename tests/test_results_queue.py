"""`make results` (tools/results.sh): the queue that makes the published results, run as a real script."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def checkout(tmp_path: Path) -> Path:
    """A folder laid out like the repository with the script, for queues that must not train."""
    (tmp_path / "tools").mkdir()
    shutil.copy(ROOT / "tools" / "results.sh", tmp_path / "tools" / "results.sh")
    (tmp_path / "fer_keras").mkdir()  # the queue reads the published models' names from fer_keras.presets
    for name in ("__init__.py", "errors.py", "presets.py"):
        shutil.copy(ROOT / "fer_keras" / name, tmp_path / "fer_keras" / name)
    return tmp_path


def queue(checkout: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PYTHON": sys.executable, "FER_KERAS_HOME": str(checkout / "home"), **env}
    return subprocess.run(
        ["bash", str(checkout / "tools" / "results.sh"), *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=300,
    )


def test_recorded_steps_are_skipped(checkout: Path) -> None:
    (checkout / "metrics").mkdir()
    (checkout / "notebooks").mkdir()
    (checkout / "metrics" / "fer7.json").write_text(json.dumps({"profile": "cpu"}))
    (checkout / "notebooks" / "02_fer7_all_emotions.ipynb").write_text('"Profile:  cpu\\n"')
    done = queue(checkout, "cpu", "notebook:02")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "notebook:02: already recorded for cpu, skipped" in done.stdout
    assert "cpu queue finished: 0 failed" in done.stdout
    # the backup of an interrupted fit lives outside the work tree, reached through the artifacts link
    assert (checkout / "artifacts").resolve() == (checkout / "home" / "artifacts").resolve()
    # a run of another profile is not a cpu result: the step would run (here it fails: no papermill kernel)
    (checkout / "metrics" / "fer7.json").write_text(json.dumps({"profile": "smoke"}))
    (checkout / "notebooks" / "02_fer7_all_emotions.ipynb").write_text("{}")
    redo = queue(checkout, "cpu", "notebook:02")
    assert "notebook:02: started" in redo.stdout and redo.returncode == 1
    assert "run the same command again to resume" in redo.stdout


def test_bad_profile_and_a_second_queue_are_refused(checkout: Path) -> None:
    bad = queue(checkout, "smoke")
    assert bad.returncode == 2 and "PROFILE must be cpu or full (got 'smoke')" in bad.stderr
    (checkout / "home").mkdir()
    with open(checkout / "home" / "results-cpu.lock", "w") as lock:
        holder = subprocess.Popen(["flock", str(lock.name), "sleep", "30"])
        try:
            for _ in range(50):  # until flock holds the lock
                if subprocess.run(["flock", "-n", lock.name, "true"]).returncode != 0:
                    break
                subprocess.run(["sleep", "0.1"])
            second = queue(checkout, "cpu", "notebook:02")
        finally:
            holder.kill()
    assert second.returncode == 2 and "a cpu queue is already running" in second.stderr


def test_detach_returns_at_once_and_logs(checkout: Path) -> None:
    unknown = queue(checkout, "full", "compact:fer9")
    assert unknown.returncode == 2 and "'fer9' is not a published model" in unknown.stderr  # before anything runs
    assert "add it to fer_keras/presets.py (now: fer7 fer4" in unknown.stderr
    assert queue(checkout, "full", "train:fer9").returncode == 2
    started = queue(checkout, "--detach", "full", "compact:fer4")  # fails: no recorded run to publish
    assert started.returncode == 0 and "tail -f runs/results/full.log" in started.stdout
    log = checkout / "runs" / "results" / "full.log"
    for _ in range(100):
        if log.exists() and "queue finished" in log.read_text():
            break
        subprocess.run(["sleep", "0.1"])
    text = log.read_text()
    assert "compact:fer4: started" in text and "full queue finished: 1 failed" in text
    assert (checkout / "full" / "artifacts").resolve() == (checkout / "home" / "full" / "artifacts").resolve()
