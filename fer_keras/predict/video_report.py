"""The outputs of ``predict`` on a video: per-frame CSV, timeline figure, annotated video and a JSON summary.

Everything is written into a hidden staging folder inside ``out`` and renamed into place at the end, so a
failed or interrupted run leaves nothing half-written.
"""

from __future__ import annotations

import os
import queue
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fer_keras.errors import DataError
from fer_keras.io import atomic_write_json
from fer_keras.predict.annotate import annotate_bgr
from fer_keras.predict.predictor import Predictor
from fer_keras.predict.video import (
    PREFETCH,
    VideoReader,
    analyse_frames,
    check_sampling,
    face_rows,
    make_table,
    video_attrs,
)

NO_FACE = "no face"
"""Key of :func:`summarise`'s ``time_share`` for analysed frames without a face."""
SMOOTH_S = 0.5
"""Width of the rolling mean of the timeline figure, in seconds of video."""


class AnnotatedVideoWriter:
    """Frames with their faces drawn, encoded by ``cv2.VideoWriter`` (MPEG-4 part 2) in a thread of its own.

    Drawing and encoding (OpenCV releases the GIL) overlap the analysis of the next frame; at most
    :data:`PREFETCH` frames wait. :meth:`close` finishes the file and raises any error met while writing.
    """

    def __init__(self, path: Path, fps: float, size: tuple[int, int]) -> None:
        import cv2

        self._writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
        if not self._writer.isOpened():
            raise DataError(f"OpenCV cannot write an MPEG-4 video to {path}; check that the folder is writable.")
        self._queue: queue.Queue = queue.Queue(maxsize=PREFETCH)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="video-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            if self._error is None:
                try:
                    self._writer.write(annotate_bgr(*item))
                except BaseException as err:  # raised by write() or close() in the caller's thread
                    self._error = err

    def write(self, frame: np.ndarray, faces: list[dict[str, Any]]) -> None:
        """Queue ``frame`` (BGR) to be written with ``faces``' boxes and labels drawn on it."""
        if self._error is not None:
            raise self._error
        self._queue.put((frame, faces))

    def close(self) -> None:
        """Write the frames still queued, then finish the file."""
        self._queue.put(None)
        self._thread.join()
        self._writer.release()
        if self._error is not None:
            raise self._error


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

    The video is opened and checked before anything is created (:class:`BadVideoError`), and closed on every path.
    """
    check_sampling(every, max_frames)
    reader = VideoReader(video)
    try:
        return _write_report(predictor, video, reader, out_dir, every, max_frames, detect, progress)
    finally:
        reader.close()


def _write_report(
    predictor: Predictor,
    video: str | os.PathLike,
    reader: VideoReader,
    out_dir: str | os.PathLike,
    every: int,
    max_frames: int | None,
    detect: bool,
    progress: bool | None,
) -> dict[str, Any]:
    """:func:`video_report`'s work once ``reader`` is open: stage every output, then rename them into place."""
    from fer_keras.predict.timeline import plot_emotion_timeline, save_png

    info = reader.info
    final = output_paths(video, out_dir)
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out_dir, prefix=".partial-"))
    try:
        staged = {key: staging / path.name for key, path in final.items()}
        fps = info.fps or 25.0
        rows: list[dict[str, Any]] = []
        times: list[float] = []
        shown: list[dict[str, Any]] = []
        frames_read, start = 0, time.perf_counter()
        writer = AnnotatedVideoWriter(staged["video"], fps, (info.width, info.height))
        try:
            for result in analyse_frames(
                predictor, reader, every=every, max_frames=max_frames, keep_all=True, detect=detect, progress=progress
            ):
                frames_read += 1
                if result.faces is not None:  # frames in between keep the last analysed frame's boxes
                    shown = result.faces
                    times.append(result.time_s)
                    rows.extend(face_rows(result))
                writer.write(result.bgr, shown)
        finally:
            writer.close()
        seconds = time.perf_counter() - start
        table = make_table(rows, predictor.class_names, video_attrs(info, frames_read, times, seconds, every))
        table.to_csv(staged["csv"], index=False)
        smooth = max(1, round(SMOOTH_S * fps / every))
        figure = plot_emotion_timeline(table, predictor.class_names, times, smooth=smooth, title=Path(video).name)
        save_png(figure, staged["timeline"])
        summary = summarise(table, predictor.class_names)
        summary["outputs"] = {key: str(path) for key, path in final.items()}
        atomic_write_json(staged["summary"], summary)
        for key, path in final.items():
            os.replace(staged[key], path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return summary
