"""The outputs of ``predict`` on a video: per-frame CSV, timeline figure, annotated video and a JSON summary.

Everything is written into a hidden staging folder inside ``out`` and renamed into place at the end, so a
failed or interrupted run leaves nothing half-written.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

from fer_keras.data.paths import DataError
from fer_keras.io import atomic_write_json
from fer_keras.predict.annotate import annotate_bgr
from fer_keras.predict.predictor import Predictor
from fer_keras.predict.video import VideoReader, analyse_frames, face_rows, make_table, video_attrs

NO_FACE = "no face"
"""Key of :func:`summarise`'s ``time_share`` for analysed frames without a face."""
SMOOTH_S = 0.5
"""Width of the rolling mean of the timeline figure, in seconds of video."""


def output_paths(video: str | os.PathLike, out_dir: str | os.PathLike) -> dict[str, Path]:
    """Where the outputs for ``video`` go in ``out_dir``: ``csv``, ``timeline``, ``video``, ``summary``."""
    stem, out = Path(video).stem, Path(out_dir)
    return {
        "csv": out / f"{stem}_emotions.csv",
        "timeline": out / f"{stem}_timeline.png",
        "video": out / f"{stem}_annotated.mp4",
        "summary": out / f"{stem}_summary.json",
    }


def summarise(table: pd.DataFrame, class_names: list[str]) -> dict[str, Any]:
    """Counts and the share of analysed time per emotion of the largest face (and without a face)."""
    attrs = table.attrs
    analysed = attrs["frames_analysed"]
    largest = table[table["face"] == 0]
    counts = largest["emotion"].value_counts()
    share = {name: round(float(counts.get(name, 0)) / analysed, 4) for name in class_names}
    share[NO_FACE] = round((analysed - len(largest)) / analysed, 4)
    summary = {
        "video": attrs["video"],
        "width": attrs["width"],
        "height": attrs["height"],
        "fps": round(attrs["fps"], 3),
        "every": attrs["every"],
        "frames_read": attrs["frames_read"],
        "frames_analysed": analysed,
        "frames_with_face": int(largest["frame"].nunique()),
        "faces": len(table),
        "time_share": share,
        "seconds": round(attrs["seconds"], 3),
        "frames_per_s": round(analysed / attrs["seconds"], 2) if attrs["seconds"] > 0 else None,
    }
    if largest.empty:
        summary["message"] = "No face found in the video (the detector looks for upright, front-facing faces)."
    return summary


def video_report(
    predictor: Predictor,
    video: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    every: int = 1,
    max_frames: int | None = None,
    detect: bool = True,
    progress: bool | None = None,
) -> dict[str, Any]:
    """Analyse ``video`` and write :func:`output_paths` into ``out_dir``; returns the summary (also written).

    The video is opened and checked before anything is created (:class:`BadVideoError`).
    """
    import cv2

    from fer_keras.plots import plot_emotion_timeline, save_figure

    reader = VideoReader(video)
    info = reader.info
    final = output_paths(video, out_dir)
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out_dir, prefix=".partial-"))
    try:
        staged = {key: staging / path.name for key, path in final.items()}
        fps = info.fps or 25.0
        writer = cv2.VideoWriter(str(staged["video"]), cv2.VideoWriter_fourcc(*"mp4v"), fps, (info.width, info.height))
        if not writer.isOpened():
            raise DataError(f"OpenCV cannot write an MPEG-4 video into {staging}; check that the folder is writable.")
        rows: list[dict[str, Any]] = []
        times: list[float] = []
        shown: list[dict[str, Any]] = []
        frames_read, start = 0, time.perf_counter()
        try:
            for result in analyse_frames(
                predictor, reader, every=every, max_frames=max_frames, keep_all=True, detect=detect, progress=progress
            ):
                frames_read += 1
                if result.faces is not None:  # frames in between keep the last analysed frame's boxes
                    shown = result.faces
                    times.append(result.time_s)
                    rows.extend(face_rows(result))
                writer.write(annotate_bgr(result.bgr, shown))
        finally:
            writer.release()
        seconds = time.perf_counter() - start
        table = make_table(rows, predictor.class_names, video_attrs(info, frames_read, times, seconds, every))
        table.to_csv(staged["csv"], index=False)
        smooth = max(1, round(SMOOTH_S * fps / every))
        figure = plot_emotion_timeline(table, predictor.class_names, times, smooth=smooth, title=Path(video).name)
        save_figure(figure, staged["timeline"])
        summary = summarise(table, predictor.class_names)
        summary["outputs"] = {key: str(path) for key, path in final.items()}
        atomic_write_json(staged["summary"], summary)
        for key, path in final.items():
            os.replace(staged[key], path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return summary
