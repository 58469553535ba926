"""Emotions over time in a video: ``analyze_video`` and ``python -m fer_keras predict MODEL clip.mp4``.

The clip is generated here (tests/astronaut_video.py): the astronaut photo panned and zoomed for 50 frames,
then 20 frames with her face out of view, 640x480 at 25 fps, written with ``cv2.VideoWriter``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from astronaut_video import Frame, astronaut_frames, write_video
from PIL import Image

from fer_keras import cli
from fer_keras.constants import FER7_CLASSES
from fer_keras.predict import BadVideoError, Predictor, analyze_video, get_predictor, is_video
from fer_keras.predict.video_report import NO_FACE, video_report

REPO_ROOT = Path(__file__).resolve().parents[1]
SIZE = (640, 480)


@pytest.fixture(scope="module")
def predictor(fer7_model_file: Path) -> Predictor:
    return get_predictor(fer7_model_file)


@pytest.fixture(scope="module")
def frames() -> list[Frame]:
    return astronaut_frames(SIZE)


@pytest.fixture(scope="module")
def clip(frames: list[Frame], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_video(tmp_path_factory.mktemp("video") / "astronaut.mp4", frames)


def run_cli(*args: str | Path) -> subprocess.CompletedProcess:
    """``python -m fer_keras ARGS`` as a separate process."""
    return subprocess.run(
        [sys.executable, "-m", "fer_keras", *map(str, args)],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"},
        capture_output=True,
        text=True,
        timeout=600,
    )


def video_frames(path: Path) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            return frames
        frames.append(frame)


def is_red(bgr: np.ndarray) -> bool:
    """Whether the mean colour of a BGR patch is the boxes' red (annotate.BOX_COLOUR) more than anything else."""
    blue, green, red = bgr.reshape(-1, 3).mean(axis=0)
    return red > 150 and red - green > 80 and red - blue > 80


def assert_follows_the_face(table: pd.DataFrame, frames: list[Frame]) -> None:
    """One face per frame where the face is in view, at its place (centre within 6 px); none elsewhere."""
    for index, frame in enumerate(frames):
        rows = table[table["frame"] == index]
        if frame.face is None:
            assert rows.empty, (index, rows)
            continue
        assert len(rows) == 1, (index, rows)
        row = rows.iloc[0]
        x, y, w, h = frame.face
        assert abs(row.x + row.w / 2 - (x + w / 2)) <= 6 and abs(row.y + row.h / 2 - (y + h / 2)) <= 6, (index, row)
        assert abs(row.w - w) <= 0.15 * w, (index, row)


def test_analyze_video_follows_the_face(predictor: Predictor, clip: Path, frames: list[Frame]) -> None:
    table = analyze_video(predictor, clip)
    landmarks = [f"{n}_{a}" for n in ("right_eye", "left_eye", "nose", "mouth_right", "mouth_left") for a in "xy"]
    columns = ["frame", "time_s", "face", "x", "y", "w", "h", "score", *landmarks, "emotion", "confidence"]
    assert list(table.columns) == [*columns, *FER7_CLASSES]
    assert table.attrs["frames_read"] == table.attrs["frames_analysed"] == len(frames) == 70
    assert (table.attrs["fps"], table.attrs["width"], table.attrs["height"]) == (25.0, *SIZE)
    assert_follows_the_face(table, frames)
    assert table["face"].eq(0).all()
    np.testing.assert_allclose(table["time_s"], table["frame"] / 25.0)
    probabilities = table[list(FER7_CLASSES)].to_numpy()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-4)
    assert (table["emotion"] == np.asarray(FER7_CLASSES)[probabilities.argmax(axis=1)]).all()
    # A frame costs what a photo costs: the same answer as predict_faces on the decoded frame.
    decoded = video_frames(clip)[37]
    (face,) = predictor.predict(cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB))
    row = table[table["frame"] == 37].iloc[0]
    assert [row.x, row.y, row.w, row.h] == face["box"]
    assert row.score == face["score"] and [row.nose_x, row.nose_y] == face["landmarks"]["nose"]
    assert row.x < row.right_eye_x < row.left_eye_x < row.x + row.w  # the person's right eye is on the left
    np.testing.assert_allclose(row[list(FER7_CLASSES)].to_numpy(float), list(face["probabilities"].values()))


def test_every_and_max_frames(predictor: Predictor, clip: Path) -> None:
    table = analyze_video(predictor, clip, every=5, max_frames=4)
    assert table["frame"].tolist() == [0, 5, 10, 15]
    assert table.attrs["frames_analysed"] == 4 and table.attrs["frames_read"] == 16
    assert table.attrs["analysed_times"] == [0.0, 0.2, 0.4, 0.6]
    with pytest.raises(ValueError, match="every"):
        analyze_video(predictor, clip, every=0)


def test_every_n_frames_in_the_report_keeps_the_boxes_between(predictor: Predictor, clip: Path, tmp_path) -> None:
    summary = video_report(predictor, clip, tmp_path, every=3, max_frames=5, progress=False)
    assert (summary["frames_read"], summary["frames_analysed"], summary["frames_with_face"]) == (13, 5, 5)
    table = pd.read_csv(summary["outputs"]["csv"])
    assert table["frame"].tolist() == [0, 3, 6, 9, 12]
    annotated = video_frames(Path(summary["outputs"]["video"]))
    assert len(annotated) == 13
    row = table.iloc[0]  # frame 1 is not analysed: it shows frame 0's box
    assert is_red(annotated[1][row.y + row.h // 4 : row.y + 3 * row.h // 4, row.x : row.x + 3])


def test_cli_writes_table_timeline_and_annotated_video(fer7_model_file: Path, clip: Path, frames, tmp_path) -> None:
    out = tmp_path / "out"
    result = run_cli("predict", fer7_model_file, clip, "--out", out)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    names = {"csv": "astronaut_emotions.csv", "timeline": "astronaut_timeline.png"}
    names |= {"video": "astronaut_annotated.mp4", "summary": "astronaut_summary.json"}
    assert summary["outputs"] == {key: str(out / name) for key, name in names.items()}
    assert sorted(p.name for p in out.iterdir()) == sorted(names.values())  # no staging folder left
    assert json.loads((out / names["summary"]).read_text()) == summary

    table = pd.read_csv(out / names["csv"])
    assert_follows_the_face(table, frames)
    with_face = sum(f.face is not None for f in frames)
    assert summary["frames_read"] == summary["frames_analysed"] == len(frames)
    assert summary["frames_with_face"] == table["frame"].nunique() == with_face == 50
    assert summary["faces"] == len(table)
    share = summary["time_share"]
    assert list(share) == [*FER7_CLASSES, NO_FACE]
    assert share[NO_FACE] == pytest.approx(20 / 70, abs=1e-4)
    for name in FER7_CLASSES:
        assert share[name] == pytest.approx((table["emotion"] == name).sum() / 70, abs=1e-4)
    assert summary["frames_per_s"] > 0

    annotated = video_frames(out / names["video"])
    assert len(annotated) == len(frames) and annotated[0].shape == (SIZE[1], SIZE[0], 3)
    row = table[table["frame"] == 10].iloc[0]  # the box's left edge is drawn in red (mp4v blurs it a little)
    assert is_red(annotated[10][row.y + row.h // 4 : row.y + 3 * row.h // 4, row.x : row.x + 3])
    assert not is_red(video_frames(clip)[10][row.y + row.h // 4 : row.y + 3 * row.h // 4, row.x : row.x + 3])
    assert np.abs(annotated[60].astype(int) - video_frames(clip)[60]).mean() < 3  # no face: nothing drawn
    timeline = Image.open(out / names["timeline"])
    assert timeline.format == "PNG" and timeline.width > 600


def test_video_is_recognised_by_content_or_extension(clip: Path, tmp_path: Path, astronaut_png: Path) -> None:
    renamed = tmp_path / "clip.bin"
    renamed.write_bytes(clip.read_bytes())
    assert is_video(clip) and is_video(renamed)
    assert not is_video(astronaut_png)
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    assert is_video(text)  # by its name: then reported as not readable


@pytest.fixture(scope="module")
def bad_videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A text file named .mp4, an AVI without frames, and a 10-frame video of a coffee cup (no face)."""
    from skimage import data

    folder = tmp_path_factory.mktemp("bad")
    text = folder / "notes.mp4"
    text.write_text("this is not a video\n")
    empty = folder / "empty.avi"
    cv2.VideoWriter(str(empty), cv2.VideoWriter_fourcc(*"MJPG"), 25, SIZE).release()
    coffee = np.asarray(Image.fromarray(data.coffee()).resize(SIZE))
    no_face = write_video(folder / "coffee.mp4", [Frame(coffee, None)] * 10)
    return {"text": text, "empty": empty, "no_face": no_face}


def test_bad_videos_in_python(predictor: Predictor, bad_videos: dict[str, Path]) -> None:
    with pytest.raises(BadVideoError, match=f"Cannot read {bad_videos['text']} as a video"):
        analyze_video(predictor, bad_videos["text"])
    with pytest.raises(BadVideoError, match=f"The video {bad_videos['empty']} has no frames"):
        analyze_video(predictor, bad_videos["empty"])
    table = analyze_video(predictor, bad_videos["no_face"])
    assert table.empty and list(table.columns)[:3] == ["frame", "time_s", "face"]
    assert table.attrs["frames_analysed"] == 10


@pytest.mark.parametrize(
    ("case", "expected"), [("text", "as a video: OpenCV (FFmpeg) does not recognise it"), ("empty", "has no frames")]
)
def test_bad_videos_on_the_command_line(
    fer7_model_file: Path, bad_videos: dict[str, Path], tmp_path: Path, case: str, expected: str
) -> None:
    out = tmp_path / "out"
    result = run_cli("predict", fer7_model_file, bad_videos[case], "--out", out)
    assert result.returncode == 2, result.stderr
    assert "error: " in result.stderr and str(bad_videos[case]) in result.stderr and expected in result.stderr
    assert result.stdout == "" and not out.exists()


def test_video_without_faces_on_the_command_line(
    fer7_model_file: Path, bad_videos: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = run_cli("predict", fer7_model_file, bad_videos["no_face"], "--out", out, "--quiet")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["frames_analysed"] == 10 and summary["frames_with_face"] == 0 and summary["faces"] == 0
    assert summary["time_share"][NO_FACE] == 1.0
    assert "No face found" in summary["message"] and "No face found" in result.stderr
    table = pd.read_csv(out / "coffee_emotions.csv")
    assert table.empty and "emotion" in table.columns
    assert len(video_frames(out / "coffee_annotated.mp4")) == 10


def test_one_video_per_call(fer7_model_file: Path, clip: Path, astronaut_png: Path, capsys) -> None:
    assert cli.main(["predict", str(fer7_model_file), str(astronaut_png), str(clip)]) == 2
    assert "give one video per `predict` call" in capsys.readouterr().err
