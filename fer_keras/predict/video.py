"""Emotions over time in a video file: frames read with OpenCV, every face classified by a :class:`Predictor`."""

from __future__ import annotations

import os
import queue
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fer_keras.errors import BadVideoError, DataError
from fer_keras.predict.detectors.base import LANDMARK_NAMES
from fer_keras.predict.predictor import Predictor, get_predictor

if TYPE_CHECKING:  # pandas loads with the first video table, not with fer_keras.predict
    import pandas as pd

VIDEO_EXTENSIONS = frozenset(
    [
        ".mp4",
        ".m4v",
        ".mov",
        ".avi",
        ".mkv",
        ".webm",
        ".mpg",
        ".mpeg",
        ".wmv",
        ".flv",
        ".3gp",
        ".ogv",
        ".y4m",
        ".mjpeg",
        ".mjpg",
        ".ts",
        ".mts",
    ]
)
"""File name endings taken as videos by :func:`is_video` (besides recognised content)."""
PROGRESS_FRAMES = 250
"""Videos with more frames than this (10 s at 25 fps) get a progress bar when ``progress`` is None."""
PREFETCH = 4
"""Frames decoded ahead of the analysis by the reader thread (bounded: memory does not grow with length)."""

_SIGNATURES: tuple[tuple[int, bytes], ...] = (
    (4, b"ftyp"),  # MP4, MOV, M4V, 3GP
    (0, b"\x1a\x45\xdf\xa3"),  # Matroska, WebM
    (0, b"YUV4MPEG2"),
    (0, b"\x00\x00\x01\xba"),  # MPEG program stream
    (0, b"\x30\x26\xb2\x75\x8e\x66\xcf\x11"),  # ASF / WMV
    (0, b"FLV"),
    (0, b"OggS"),
)


_IMAGE_BRANDS = frozenset({b"avif", b"avis", b"heic", b"heix", b"heim", b"heis", b"mif1", b"msf1"})
"""ISO base media brands of still images (AVIF, HEIC), which start with ``ftyp`` like an MP4."""


def check_sampling(every: int, max_frames: int | None) -> None:
    """Raise ``ValueError`` unless ``every`` >= 1 and ``max_frames`` is None or >= 1."""
    if every < 1 or (max_frames is not None and max_frames < 1):
        raise ValueError(f"every and max_frames must be >= 1, got every={every}, max_frames={max_frames}")


def is_video(path: str | os.PathLike) -> bool:
    """Whether ``path`` holds a video: recognised by its first bytes (MP4/MOV, AVI, Matroska/WebM, Y4M,
    MPEG, WMV, FLV, Ogg), else by its extension (:data:`VIDEO_EXTENSIONS`)."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            head = handle.read(16)
    except OSError:
        head = b""
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return True
    if head[4:8] == b"ftyp" and head[8:12] in _IMAGE_BRANDS:  # HEIF/AVIF photos share MP4's box structure
        return False
    if any(head[at : at + len(magic)] == magic for at, magic in _SIGNATURES):
        return True
    return path.suffix.lower() in VIDEO_EXTENSIONS


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about a video: frames per second, frame count (0 when unknown), frame size."""

    path: str
    fps: float
    frame_count: int
    width: int
    height: int


@dataclass
class FrameResult:
    """One frame read: its index, time, BGR pixels and, for analysed frames, the faces found (else None)."""

    index: int
    time_s: float
    bgr: np.ndarray | None
    faces: list[dict[str, Any]] | None


class VideoReader:
    """Frames of a video file read with ``cv2.VideoCapture``, checked before any work starts.

    Opening raises :class:`BadVideoError` when OpenCV cannot read the file or when it has no frame.
    Iterating yields ``(index, time_s, bgr)``; frames are decoded a few ahead by a thread (OpenCV
    releases the GIL while decoding), so decoding overlaps the analysis of the previous frame.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        import cv2

        self.path = Path(path)
        if not self.path.is_file():
            raise DataError(f"Video file {self.path} does not exist. Check the path.")
        capture = cv2.VideoCapture(str(self.path))
        if not capture.isOpened():
            capture.release()
            raise BadVideoError(
                f"Cannot read {self.path} as a video: OpenCV (FFmpeg) does not recognise it, or it is truncated. "
                "Give a complete video file (MP4, AVI, MOV, MKV, WebM, ...)."
            )
        ok, first = capture.read()
        if not ok or first is None:
            capture.release()
            raise BadVideoError(f"The video {self.path} has no frames that can be decoded. Record or export it again.")
        fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
        self.info = VideoInfo(
            path=str(self.path),
            fps=fps if np.isfinite(fps) and fps > 0 else 0.0,
            frame_count=max(0, int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)),
            width=int(first.shape[1]),
            height=int(first.shape[0]),
        )
        self._capture, self._first = capture, first

    def _time(self, index: int) -> float:
        import cv2

        if self.info.fps:
            return index / self.info.fps
        return float(self._capture.get(cv2.CAP_PROP_POS_MSEC)) / 1000.0

    def frames(self, *, every: int = 1, max_frames: int | None = None, keep_all: bool = True) -> Iterator[tuple]:
        """Yield ``(index, time_s, bgr)`` for every frame, to the end or to the ``max_frames``-th frame to
        analyse (frames ``0, every, 2 * every, ...``). With ``keep_all`` False the frames in between are only
        grabbed, not converted (their ``bgr`` is None). A reader is iterated once; it is closed at the end."""
        try:
            check_sampling(every, max_frames)
        except ValueError:
            self.close()
            raise
        stop = threading.Event()
        slots: queue.Queue = queue.Queue(maxsize=PREFETCH)

        def read() -> None:
            try:
                index, frame, analysed = 0, self._first, 0
                self._first = None
                while frame is not None and not stop.is_set():
                    wanted = index % every == 0
                    slots.put((index, self._time(index), frame if wanted or keep_all else None))
                    analysed += wanted
                    if max_frames is not None and analysed >= max_frames:
                        break
                    index += 1
                    frame = self._next(keep_all or index % every == 0)
            except BaseException as err:  # handed to the consumer, raised there
                slots.put(err)
            finally:
                slots.put(None)

        reader = threading.Thread(target=read, name="video-reader", daemon=True)
        reader.start()
        try:
            while (item := slots.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            while reader.is_alive():  # unblock a reader waiting on a full queue
                try:
                    slots.get_nowait()
                except queue.Empty:
                    reader.join(0.05)
            self.close()

    def _next(self, decode: bool) -> np.ndarray | None:
        """The next frame (None at the end); ``decode`` False only grabs it (no colour conversion)."""
        if not decode:
            return np.empty(0, np.uint8) if self._capture.grab() else None
        ok, frame = self._capture.read()
        return frame if ok else None

    def close(self) -> None:
        """Release the capture."""
        self._capture.release()


def analyse_frames(
    predictor: Predictor,
    reader: VideoReader,
    *,
    every: int = 1,
    max_frames: int | None = None,
    keep_all: bool = False,
    detect: bool = True,
    progress: bool | None = None,
) -> Iterator[FrameResult]:
    """Each frame read, with the faces of every ``every``-th frame (largest first) found and classified in one
    model call per frame. Frames are not kept: memory stays constant whatever the video's length."""
    import cv2
    from tqdm.auto import tqdm

    info = reader.info
    total = info.frame_count
    if max_frames is not None:  # reading stops at the max_frames-th analysed frame
        last = (max_frames - 1) * every + 1
        total = min(total, last) if total else last
    show = progress if progress is not None else (not total or total > PROGRESS_FRAMES)
    with tqdm(total=total or None, unit="frame", desc=reader.path.name, disable=not show, file=sys.stderr) as bar:
        for index, time_s, bgr in reader.frames(every=every, max_frames=max_frames, keep_all=keep_all):
            faces = None
            if index % every == 0:
                rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                faces = predictor.predict(rgb, detect=detect)
            bar.update(1)
            yield FrameResult(index, time_s, bgr if keep_all else None, faces)


LANDMARK_COLUMNS: tuple[str, ...] = tuple(f"{name}_{axis}" for name in LANDMARK_NAMES for axis in "xy")
"""The landmark columns of :func:`analyze_video`'s table: ``right_eye_x``, ``right_eye_y``, ... (pixels)."""


def table_columns(class_names: Sequence[str]) -> list[str]:
    """Columns of :func:`analyze_video`'s table."""
    box = ["x", "y", "w", "h", "score", *LANDMARK_COLUMNS]
    return ["frame", "time_s", "face", *box, "emotion", "confidence", *class_names]


def face_rows(result: FrameResult) -> list[dict[str, Any]]:
    """One table row per face of an analysed frame (``face`` 0 = the largest); the detector's score and the five
    landmarks are NaN where the detector gives none (the Haar cascade)."""
    rows = []
    for number, face in enumerate(result.faces or []):
        x, y, w, h = face["box"]
        row = {"frame": result.index, "time_s": round(result.time_s, 6), "face": number}
        row |= {"x": x, "y": y, "w": w, "h": h, "score": face["score"]}
        points = face["landmarks"] or {}
        for name in LANDMARK_NAMES:
            row[f"{name}_x"], row[f"{name}_y"] = points.get(name, (None, None))
        row |= {"emotion": face["emotion"], "confidence": face["confidence"]}
        rows.append(row | face["probabilities"])
    return rows


def make_table(rows: list[dict[str, Any]], class_names: Sequence[str], attrs: dict[str, Any]) -> pd.DataFrame:
    """The rows as a DataFrame with :func:`table_columns` (typed even when empty) and ``attrs`` attached."""
    import pandas as pd

    columns = table_columns(class_names)
    table = pd.DataFrame(rows, columns=columns)
    types = {c: "int64" for c in ("frame", "face", "x", "y", "w", "h")}
    types |= {"time_s": "float64", "confidence": "float64"} | {c: "float64" for c in class_names}
    types |= {c: "float64" for c in ("score", *LANDMARK_COLUMNS)}
    table = table.astype(types)
    table.attrs.update(attrs)
    return table


def analyze_video(
    model_or_predictor: Predictor | Any,
    path: str | os.PathLike,
    every: int = 1,
    max_frames: int | None = None,
    *,
    class_names: Sequence[str] | None = None,
    detect: bool = True,
    progress: bool | None = None,
) -> pd.DataFrame:
    """The expression of every face in a video, frame by frame, as a pandas DataFrame.

    One row per face per analysed frame (every ``every``-th frame, at most ``max_frames`` of them):
    ``frame``, ``time_s``, ``face`` (0 = largest), the box ``x, y, w, h``, the detector's ``score`` and the five
    landmarks (``right_eye_x``, ``right_eye_y``, ... as :data:`LANDMARK_COLUMNS`; NaN for the Haar cascade),
    ``emotion``, ``confidence`` and one probability column per class. A video without faces gives an empty
    table. ``table.attrs``
    holds the video's ``fps``, ``width``, ``height``, ``frames_read``, ``frames_analysed``,
    ``analysed_times`` and ``seconds`` (wall time). ``model_or_predictor`` is as in ``predict_faces``.
    Raises :class:`BadVideoError` for a file that is not a readable video or has no frames.
    """
    check_sampling(every, max_frames)
    predictor = get_predictor(model_or_predictor, class_names)
    reader = VideoReader(path)
    rows: list[dict[str, Any]] = []
    times: list[float] = []
    frames_read = 0
    start = time.perf_counter()
    for result in analyse_frames(
        predictor, reader, every=every, max_frames=max_frames, keep_all=False, detect=detect, progress=progress
    ):
        frames_read += 1
        if result.faces is not None:
            times.append(result.time_s)
            rows.extend(face_rows(result))
    attrs = video_attrs(reader.info, frames_read, times, time.perf_counter() - start, every)
    return make_table(rows, predictor.class_names, attrs)


def video_attrs(info: VideoInfo, frames_read: int, times: list[float], seconds: float, every: int) -> dict:
    """What :func:`analyze_video` records in ``table.attrs``."""
    return {
        "video": info.path,
        "fps": info.fps,
        "width": info.width,
        "height": info.height,
        "every": every,
        "frames_read": frames_read,
        "frames_analysed": len(times),
        "analysed_times": [round(t, 6) for t in times],
        "seconds": seconds,
    }
