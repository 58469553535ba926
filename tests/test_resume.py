"""A run killed with SIGKILL and started again ends with the history and weights of the uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest

import fer_keras.data.augment  # noqa: F401 - registers RandomAffine for loading best.keras
from fer_keras.cli import build_parser
from fer_keras.constants import FER4_CLASSES
from fer_keras.data.fer import flow_frame, list_fer_images, load_fer
from fer_keras.profiles import get_settings
from fer_keras.resume import STREAM_STRIDE, random_streams, set_feed_epoch, set_random_streams, with_resume_state
from fer_keras.training import make_callbacks, read_history, set_seed

REPO_ROOT = Path(__file__).resolve().parents[1]
WORKER = Path(__file__).with_name("resume_worker.py")
KILL_AT = "2:1"  # after the 2nd training batch of the 3rd epoch: epochs 0 and 1 are backed up, epoch 2 is half done


PIPELINES = ("imagegenerator", "fast")


def _start(data: Path, out: Path, pipelines: tuple[str, ...], *extra: str) -> subprocess.Popen:
    """Start ``resume_worker.py`` training each of ``pipelines`` in turn into ``out/<pipeline>``."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(REPO_ROOT)}
    command = [sys.executable, str(WORKER), "--data", str(data), "--out", str(out), *extra]
    command += [arg for pipeline in pipelines for arg in ("--pipeline", pipeline)]
    return subprocess.Popen(
        command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def _finish(process: subprocess.Popen, timeout: float = 300) -> None:
    output, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, f"worker failed ({process.returncode}):\n{output[-3000:]}"


def _kill_when_hanging(process: subprocess.Popen, marker: Path, timeout: float = 300) -> None:
    """SIGKILL ``process`` as soon as it reports (``marker``) that it reached the kill point."""
    deadline = time.monotonic() + timeout
    while not marker.exists():
        if process.poll() is not None:
            output, _ = process.communicate()
            pytest.fail(f"worker exited ({process.returncode}) before the kill point:\n{output[-3000:]}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("worker did not reach the kill point in time")
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.communicate()
    assert process.returncode == -signal.SIGKILL


def _weights(path: Path) -> list[np.ndarray]:
    return keras.saving.load_model(path).get_weights()


def test_killed_and_resumed_runs_match_the_uninterrupted_runs(
    make_fer_tree: Callable[..., Path], tmp_path: Path
) -> None:
    """Same seed, same data: a run SIGKILLed in its 3rd epoch and started again ends where the uninterrupted run ends.

    For the ImageDataGenerator feed and the fast feed (ArrayDataset, augmentation by RandomAffine in the
    model). Checked: every history column (loss, accuracy, learning rate, validation) of every epoch, the
    epoch early stopping stopped at, the final (best-restored) weights and ``best.keras``. The tolerance
    allows float round-off (rtol 1e-5); on the TensorFlow CPU backend the runs agree to the last bit.
    The uninterrupted runs share one process, the resumed ones too, in the same order, so leftover
    process state would show as a difference rather than hide one.
    """
    data = make_fer_tree(per_class=12)
    reference_dir, resumed_dir = tmp_path / "reference", tmp_path / "resumed"
    reference = _start(data, reference_dir, PIPELINES)  # runs alongside the ones we kill
    killed = {p: _start(data, resumed_dir, (p,), "--hang-at", KILL_AT) for p in PIPELINES}
    for pipeline, process in killed.items():
        _kill_when_hanging(process, resumed_dir / pipeline / "hanging")
        assert list(pd.read_csv(resumed_dir / pipeline / "history.csv")["epoch"]) == [0, 1]
        assert json.loads((resumed_dir / pipeline / "backup" / "training_metadata.json").read_text())["epoch"] == 2

    _finish(_start(data, resumed_dir, PIPELINES))  # the same runs again: each resumes at epoch index 2
    _finish(reference)

    for pipeline in PIPELINES:
        expected_dir, got_dir = reference_dir / pipeline, resumed_dir / pipeline
        expected, got = read_history(expected_dir / "history.csv"), read_history(got_dir / "history.csv")
        # The workload makes the callbacks' state run across the kill (see resume_worker.py): early
        # stopping after epoch index 3, the learning rate halved at the end of every epoch from index 1.
        np.testing.assert_allclose(expected["learning_rate"], [1e-3, 1e-3, 5e-4, 2.5e-4], rtol=1e-6)
        assert list(pd.read_csv(got_dir / "history.csv")["epoch"]) == [0, 1, 2, 3], pipeline  # each epoch once
        assert set(got) == set(expected)
        for column, values in expected.items():
            np.testing.assert_allclose(got[column], values, rtol=1e-5, atol=1e-7, err_msg=f"{pipeline} {column}")
        summaries = [json.loads((d / "summary.json").read_text()) for d in (expected_dir, got_dir)]
        # the resumed process ran (and timed) epochs 2 and 3 only; the card says so (TrainResult.epochs_timed)
        assert [s.pop("epochs_timed") for s in summaries] == [4, 2], pipeline
        assert summaries[0]["epochs_run"] == 4 and summaries[1] == summaries[0], pipeline
        final = [np.load(d / "final_weights.npz") for d in (expected_dir, got_dir)]
        for name in final[0].files:
            np.testing.assert_allclose(final[1][name], final[0][name], rtol=1e-5, atol=1e-7, err_msg=pipeline)
        best = [_weights(d / "best.keras") for d in (expected_dir, got_dir)]
        for a, b in zip(*best, strict=True):
            np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-7, err_msg=pipeline)
        assert not (got_dir / "backup").exists() and not (got_dir / "resume").exists()  # cleaned up at the end


# ---------------------------------------------------------------- the parts, in process


def _epoch_batches(feed, epoch: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The batches ``fit`` draws in ``epoch``: ResumeState places the feed, then batches 0.. in order."""
    set_feed_epoch(feed, epoch)
    batches = [feed[i] for i in range(len(feed))]
    feed.on_epoch_end()
    return batches


def _assert_same_batches(a, b) -> None:
    for (xa, ya), (xb, yb) in zip(a, b, strict=True):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_a_feed_placed_at_an_epoch_serves_that_epochs_batches(pipeline: str, fer_tree: Path) -> None:
    """Epoch 2 of a feed that went through epochs 0 and 1 equals epoch 2 of a new feed placed there directly."""

    def feed():
        data = load_fer(
            FER4_CLASSES,
            fer_tree,
            batch_size=8,
            validation_split=0.25,
            augmentation=True,
            seed=5,
            pipeline=pipeline,
            augment_on="cpu",
        )
        return data.train

    continuous, resumed = feed(), feed()
    first, second, third = (_epoch_batches(continuous, epoch) for epoch in range(3))
    _assert_same_batches(_epoch_batches(resumed, 2), third)
    assert not np.array_equal(first[0][0], third[0][0]) and not np.array_equal(second[0][0], third[0][0])
    assert resumed.seed == 5 and (resumed.shuffle, len(resumed)) == (True, 3)


def test_unseeded_image_iterator_is_left_alone(fer_tree: Path) -> None:
    iterator = flow_frame(list_fer_images("train", data_dir=str(fer_tree)), FER4_CLASSES, shuffle=True, seed=None)
    assert set_feed_epoch(iterator, 3) is False and iterator.total_batches_seen == 0
    assert set_feed_epoch(object(), 3) is False


def test_random_streams_depend_on_the_epoch_only() -> None:
    def model(seed: int) -> keras.Model:
        set_seed(seed)
        inputs = keras.Input((64,))
        outputs = keras.layers.Dropout(0.5)(keras.layers.Dropout(0.5, seed=3)(inputs))
        return keras.Model(inputs, outputs)

    x = np.ones((4, 64), dtype=np.float32)
    fresh, used = model(11), model(11)
    for _ in range(5):  # draws that a killed run made and its resumed process never sees
        used(x, training=True)
    assert len(random_streams(fresh)) == 2 and random_streams(fresh)[0].path.endswith("seed_generator_state")
    assert set_random_streams(fresh, 4) == set_random_streams(used, 4) == 2
    np.testing.assert_array_equal(fresh(x, training=True), used(x, training=True))
    assert [keras.ops.convert_to_numpy(v)[1] for v in random_streams(fresh)] == [4 * STREAM_STRIDE + 1] * 2
    set_random_streams(fresh, 5)
    assert not np.array_equal(fresh(x, training=True), used(x, training=True))


def test_with_resume_state_goes_before_the_backup(tmp_path: Path) -> None:
    callbacks = make_callbacks(tmp_path)
    placed = with_resume_state(callbacks, tmp_path / "resume")
    assert [type(cb).__name__ for cb in placed][-2:] == ["ResumeState", "BackupAndRestore"]
    assert [i for i, _ in placed[-2].tracked] == [0, 1, 2]  # checkpoint, early stopping, reduce-on-plateau
    backup_first = [callbacks[-1], *callbacks[:-1]]  # an older order: the state is saved last
    assert type(with_resume_state(backup_first, tmp_path)[-1]).__name__ == "ResumeState"


# ---------------------------------------------------------------- --deterministic


def test_set_seed_switches_on_the_backends_deterministic_ops() -> None:
    """In a fresh process (the switch is process-wide and permanent): off by default, on when asked, recorded."""
    code = (
        "import json; from tensorflow.python.framework import config\n"
        "from fer_keras.determinism import determinism_state\n"
        "from fer_keras.training import set_seed\n"
        "set_seed(3); before = (determinism_state(), config.is_op_determinism_enabled())\n"
        "set_seed(4, deterministic=True); after = (determinism_state(), config.is_op_determinism_enabled())\n"
        "set_seed(5); still = determinism_state()\n"
        "print(json.dumps([before, after, still]))"
    )
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(REPO_ROOT)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    before, after, still = json.loads(out.stdout.strip().splitlines()[-1])
    assert before[0]["seed"] == 3 and before[0]["deterministic"] is False and before[1] is False
    assert before[0]["backend"] == "tensorflow" and before[0]["how"].startswith("off")
    assert after[1] is True and after[0]["seed"] == 4 and after[0]["deterministic"] is True
    assert after[0]["how"] == "tensorflow: tf.config.experimental.enable_op_determinism()"
    assert still["seed"] == 5 and still["deterministic"] is True  # cannot be switched off again


def test_deterministic_setting_and_flag() -> None:
    assert get_settings("fer4").deterministic is False
    assert get_settings("fer4", deterministic=True).deterministic is True
    assert "deterministic" in get_settings("fashion_cnn").as_dict()
    parser = build_parser()
    assert parser.parse_args(["train", "fer4", "--deterministic"]).deterministic is True
    assert parser.parse_args(["train", "fer4"]).deterministic is None  # the profile decides
