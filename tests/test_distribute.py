"""Data-parallel training (keras.distribution on JAX) and keras-tuner's distributed search, on the CPU.

The CPU is shown to JAX as 2 devices (``XLA_FLAGS``, set before JAX is imported, so in subprocesses),
and two processes on 127.0.0.1 form a 2-host JAX cluster. The search runs a chief and two workers
as separate processes talking gRPC on 127.0.0.1. Every process is killed at teardown.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fer_keras.distribute import DistributionError, cluster_from_env, current_distribution
from fer_keras.tuning import parse_address, worker_id

REPO_ROOT = Path(__file__).resolve().parents[1]
TWO_CPU_DEVICES = {"KERAS_BACKEND": "jax", "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
STEP_RTOL = 1e-5
"""Small CNN, plain SGD, one epoch of 3 batches: 1 device vs 2 vs 2 processes agree to float32 rounding (measured
2e-7 relative on the loss; the 2-device and 2-process runs are bit-identical)."""
WEIGHTS_RTOL = 1e-3
"""The same runs' weights (sum of |w| per array) after the epoch. Measured 2e-7 on the machine of 2026-11-26; on
2026-12-04's machine 8.3e-5 on 4 of the 28 arrays (BatchNorm offsets, whose sums are small) at every commit back
to the one that last passed, with the same packages (XLA's CPU reductions add in another order on this processor);
the loss of the same runs still agrees within STEP_RTOL."""
CHECK_SCRIPT = str(REPO_ROOT / "tests" / "data_parallel_check.py")


def python(*args: str, env: dict[str, str] | None = None, **kwargs) -> subprocess.Popen:
    """Start ``python *args`` in the repo root with ``env`` added to the environment."""
    # A file, not a pipe, so nothing blocks on a full stderr pipe; it lives as long as the Popen object.
    stderr = tempfile.TemporaryFile("w+")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, *args],
        cwd=REPO_ROOT,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})},
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        **kwargs,
    )
    proc.stderr_file = stderr
    return proc


def stderr_of(proc: subprocess.Popen) -> str:
    proc.stderr_file.seek(0)
    return proc.stderr_file.read()


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen]]:
    """Processes a test starts; any still running at teardown (the test failed or timed out) are killed."""
    started: list[subprocess.Popen] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=30)


def finish(proc: subprocess.Popen, timeout: float) -> tuple[str, str]:
    """Wait for ``proc``; fail the test with its stderr unless it exits 0."""
    out, _ = proc.communicate(timeout=timeout)
    err = stderr_of(proc)
    assert proc.returncode == 0, f"{proc.args} exited {proc.returncode}:\n{err[-3000:]}"
    return out, err


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_no_distribution_is_recorded_as_none() -> None:
    assert current_distribution() == {"strategy": "none", "devices": 1, "processes": 1}


def test_half_set_cluster_variables_are_an_error() -> None:
    assert cluster_from_env({}) is None
    with pytest.raises(DistributionError, match="KERAS_DISTRIBUTION_NUM_PROCESSES.*not set"):
        cluster_from_env({"KERAS_DISTRIBUTION_JOB_ADDRESSES": "10.0.0.1:1234", "KERAS_DISTRIBUTION_PROCESS_ID": "0"})


def test_oracle_address_and_worker_ids() -> None:
    assert parse_address("10.0.0.1:8000") == ("10.0.0.1", 8000)
    assert worker_id(1) == "tuner1"
    with pytest.raises(ValueError, match="HOST:PORT"):
        parse_address("10.0.0.1")


def test_distribute_on_tensorflow_names_the_backend_to_use(data_root: Path, tmp_path: Path) -> None:
    args = ["train", "fashion_cnn", "--distribute", "--out", str(tmp_path), "--data", str(data_root)]
    proc = python("-m", "fer_keras", *args, env={"KERAS_BACKEND": "tensorflow"})
    proc.communicate(timeout=300)
    err = stderr_of(proc)
    assert proc.returncode == 2, err[-2000:]
    assert "error: --distribute needs the JAX backend" in err and "KERAS_BACKEND=jax" in err
    assert not (tmp_path / "metrics").exists()


def test_train_distribute_runs_data_parallel_and_says_so(
    data_root: Path, tmp_path: Path, processes: list[subprocess.Popen]
) -> None:
    """``train fashion_cnn --distribute`` over 2 CPU devices: the metrics and the card record the strategy and the
    global batch. (That it trains as one device does, loss and weights, is checked on ``training.train`` below.)"""
    command = ["-m", "fer_keras", "train", "fashion_cnn", "--epochs", "1", "--data", str(data_root), "--quiet"]
    processes.append(python(*command, "--distribute", "--out", str(tmp_path), env=TWO_CPU_DEVICES))
    finish(processes[-1], timeout=540)

    metrics = (tmp_path / "metrics" / "fashion_cnn.json").read_text()
    result = json.loads(metrics)
    assert result["distribution"] == {"strategy": "data_parallel", "devices": 2, "processes": 1}
    card = (tmp_path / "model_cards" / "fashion_cnn.md").read_text()
    assert "- Distribution: data_parallel (2 devices, 1 process)" in card
    assert result["training"]["batch_size"] == 128
    assert result["history"]["loss"][0] < 2.3  # it learnt: below ln(10), the loss of a uniform guess


def test_two_devices_and_two_processes_train_like_one_device(
    fashion_root: Path, tmp_path: Path, processes: list[subprocess.Popen]
) -> None:
    """``training.train`` on 1 device, 2 devices, and 2 processes joined by keras.distribution.initialize()."""
    data = str(fashion_root.parent)
    processes.append(python(CHECK_SCRIPT, data, str(tmp_path / "local"), "--compare", env=TWO_CPU_DEVICES))
    cluster = {"KERAS_BACKEND": "jax", "KERAS_DISTRIBUTION_JOB_ADDRESSES": f"127.0.0.1:{free_port()}"}
    cluster["KERAS_DISTRIBUTION_NUM_PROCESSES"] = "2"
    for index in (0, 1):
        env = {**cluster, "KERAS_DISTRIBUTION_PROCESS_ID": str(index)}
        processes.append(python(CHECK_SCRIPT, data, str(tmp_path / f"host{index}"), "--distribute", env=env))
    local, *hosts = (json.loads(finish(proc, timeout=540)[0].strip().splitlines()[-1]) for proc in processes)

    single, runs = local["single"], [local["parallel"], *(host["parallel"] for host in hosts)]
    assert single["distribution"] == {"strategy": "none", "devices": 1, "processes": 1}
    assert runs[0]["distribution"] == {"strategy": "data_parallel", "devices": 2, "processes": 1}
    for host in runs[1:]:
        assert host["distribution"] == {"strategy": "data_parallel", "devices": 2, "processes": 2}
    for run in runs:
        assert run["num_test"] == single["num_test"] == 13  # the 8 + 5 test batches: every image predicted
        assert run["loss"] == pytest.approx(single["loss"], rel=STEP_RTOL)
        assert run["weights"] == pytest.approx(single["weights"], rel=WEIGHTS_RTOL)


def wait_for_line(proc: subprocess.Popen, text: str, timeout: float) -> None:
    """Wait until ``proc``'s stderr (where the command line prints progress) holds ``text``; fail if it exits
    or ``timeout`` passes first. Read with ``pread``: the file offset is shared with the writing process."""
    deadline, fd = time.monotonic() + timeout, proc.stderr_file.fileno()
    while time.monotonic() < deadline:
        if text.encode() in os.pread(fd, os.fstat(fd).st_size, 0):
            return
        if proc.poll() is not None:
            pytest.fail(f"{proc.args} exited {proc.returncode} before {text!r}:\n{stderr_of(proc)[-3000:]}")
        time.sleep(0.2)
    pytest.fail(f"{proc.args} did not print {text!r} within {timeout} s")


def test_distributed_search_chief_and_two_workers(
    fashion_root: Path, tmp_path: Path, processes: list[subprocess.Popen]
) -> None:
    """One chief and two workers on 127.0.0.1; each worker runs a trial; the chief's card lists all four."""
    oracle = f"127.0.0.1:{free_port()}"
    common = ["-m", "fer_keras", "tune", "fashion_mlp", "--oracle", oracle, "--data", str(fashion_root.parent)]
    common += ["--out", str(tmp_path), "--quiet"]
    workers: list[subprocess.Popen] = []
    for index in (0, 1):
        workers.append(python(*common, "--worker", str(index), "--tuner-epochs", "1"))
        processes.append(workers[-1])
    # Both workers wait for the oracle before the chief starts, so each gets a first trial.
    for proc in workers:
        wait_for_line(proc, "asking the oracle", timeout=300)
    chief = python(*common, "--chief", "--max-trials", "4", "--epochs", "1")
    processes.append(chief)
    out, _ = finish(chief, timeout=540)
    ran = {}
    for proc in workers:
        line = finish(proc, timeout=120)[0].strip().splitlines()[-1]
        report = json.loads(line)
        ran[report["tuner_id"]] = report["trials"]

    result = json.loads((tmp_path / "metrics" / "fashion_mlp.json").read_text())
    trials = result["tuning"]["trials"]
    assert sorted(t["trial_id"] for t in trials) == ["0", "1", "2", "3"]
    assert all(t["status"] == "COMPLETED" and t["val_accuracy"] is not None for t in trials)
    for tuner_id in ("tuner0", "tuner1"):
        by_chief = sorted(t["trial_id"] for t in trials if t["tuner_id"] == tuner_id)
        assert by_chief, f"{tuner_id} ran no trial"
        assert by_chief == ran[tuner_id], "the chief's record disagrees with the worker's trial folders"
    assert result["tuning"]["distributed"]["trials_per_tuner"] == {k: len(v) for k, v in ran.items()}
    assert result["tuning"]["best_hyperparameters"] == trials[0]["hyperparameters"]
    assert result["distribution"] == {"strategy": "none", "devices": 1, "processes": 1}
    assert json.loads(out.strip().splitlines()[-1])["trials_per_tuner"] == {k: len(v) for k, v in ran.items()}
    card = (tmp_path / "model_cards" / "fashion_mlp.md").read_text()
    for trial in trials:  # one table row per trial: id, then its hyperparameters
        assert f"| {trial['trial_id']} | {trial['hyperparameters']['units_1']} |" in card
