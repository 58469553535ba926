"""YuNet (OpenCV Zoo, MIT): boxes, five landmarks and a score per face.

Run by ONNX Runtime and decoded as OpenCV's ``cv2.FaceDetectorYN`` decodes it (the same faces for about 40 % less
CPU time on the 2-core CPU, at the same latency), or by ``cv2.FaceDetectorYN`` itself (``engine="opencv"``).
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from fer_keras.errors import DataError
from fer_keras.predict.detectors.base import Detection, largest_first
from fer_keras.predict.runtimes.onnx import cpu_session

YUNET_FILE = "face_detection_yunet_2026may.onnx"
"""The YuNet model shipped in ``fer_keras/assets/`` (with its license, ``face_detection_yunet.LICENSE``)."""
YUNET_SHA256 = "ebafce4e3c118d6554634be5c27ab333b4c047a9a8c3faf1d7cf93101c22f0f0"


@lru_cache(maxsize=1)
def yunet_path() -> Path:
    """The packaged YuNet file, checked against :data:`YUNET_SHA256`; a :class:`DataError` names a bad install."""
    path = Path(str(resources.files("fer_keras").joinpath("assets", YUNET_FILE)))
    if not path.is_file():
        raise DataError(
            f"The YuNet face detector {path} is missing from the installed package: reinstall fer_keras "
            "(`pip install -e .`), or pick the Haar cascade with detector='haar' / --detector haar."
        )
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != YUNET_SHA256:
        raise DataError(
            f"The YuNet face detector {path} is damaged (SHA-256 {digest[:12]}..., expected {YUNET_SHA256[:12]}...): "
            "reinstall fer_keras."
        )
    return path


YUNET_STRIDES = (8, 16, 32)
"""The strides of YuNet's three output grids; its input is padded to a multiple of the largest."""
ENGINES = ("onnx", "opencv")
"""What runs YuNet: ONNX Runtime (the default: a whole detection takes about 40 % less CPU time than with
OpenCV's DNN module on the 2-core CPU, at the same latency; benchmarks/README.md) or OpenCV's own
``cv2.FaceDetectorYN``; both give the same faces."""


@dataclass
class YuNetDetector:
    """YuNet face detection (``detector="yunet"``, the default); safe to share between threads.

    Args:
        score_threshold: smallest face score kept (0-1).
        nms_threshold: boxes overlapping a better one by more than this IoU are dropped.
        min_size: smallest face kept, in pixels of the given image (box width and height).
        max_side: images are searched shrunk so that their longer side is at most this: 320, the OpenCV
            Zoo demo's input size, is faster than 640 but misses faces much smaller than a tenth of the
            longer side (benchmarks/README.md); raise it for small faces in large photos.
        retry_side: when nothing is found in an image larger than ``max_side``, it is searched once more at
            this size (None: no second search); costs time only on photos without a face.
        model: an ONNX YuNet file (default: the packaged one).
        engine: ``"onnx"`` (ONNX Runtime, one thread per call) or ``"opencv"`` (``cv2.FaceDetectorYN``).

    Example:
        >>> import numpy as np
        >>> YuNetDetector().detect_faces(np.zeros((120, 160, 3), np.uint8))
        []
    """

    score_threshold: float = 0.8
    nms_threshold: float = 0.3
    min_size: int = 20
    max_side: int = 320
    retry_side: int | None = 640
    top_k: int = 100
    model: str | None = None
    engine: str = "onnx"
    name = "yunet"
    _local: threading.local = field(default_factory=threading.local, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not (0.0 < self.score_threshold < 1.0 and 0.0 < self.nms_threshold < 1.0):
            raise ValueError(
                f"YuNetDetector needs score_threshold and nms_threshold between 0 and 1, got "
                f"{self.score_threshold} and {self.nms_threshold}"
            )
        if self.min_size < 1 or self.max_side < 32 or self.top_k < 1:
            raise ValueError(f"YuNetDetector needs min_size >= 1, max_side >= 32 and top_k >= 1, got {self}")
        if self.engine not in ENGINES:
            raise ValueError(f"YuNetDetector runs on engine 'onnx' or 'opencv', not {self.engine!r}")
        self._path = Path(self.model) if self.model else yunet_path()
        if not self._path.is_file():
            raise DataError(f"YuNet model file {self._path} does not exist: pass model=None for the packaged one.")
        if self.engine == "onnx":  # one session, shared by all threads (ONNX Runtime's run() is thread-safe)
            self._session = _onnx_session(self._path)
            self._outputs = [o.name for o in self._session.get_outputs()]
            self._input = self._session.get_inputs()[0].name
        else:
            self._detector((64, 64))  # fail now (a bad file), not at the first request

    def _detector(self, size: tuple[int, int]):
        """This thread's ``cv2.FaceDetectorYN`` set to input ``size`` (width, height); it keeps state."""
        import cv2

        detector = getattr(self._local, "detector", None)
        if detector is None:
            try:
                detector = cv2.FaceDetectorYN.create(
                    str(self._path), "", size, self.score_threshold, self.nms_threshold, self.top_k
                )
            except cv2.error as err:
                raise DataError(f"OpenCV cannot load {self._path} as a YuNet face detector ({err}).") from err
            self._local.detector, self._local.size = detector, size
        if self._local.size != size:
            detector.setInputSize(size)
            self._local.size = size
        return detector

    def detect_faces(self, image: np.ndarray) -> list[Detection]:
        """Faces in a uint8 RGB ``(H, W, 3)`` or grayscale ``(H, W)`` image, largest first."""
        found = self._search(image, self.max_side)
        if not found and self.retry_side and max(image.shape[:2]) > self.max_side:
            found = self._search(image, self.retry_side)
        return largest_first(found)

    def _search(self, image: np.ndarray, max_side: int) -> list[Detection]:
        """The faces YuNet finds in ``image`` shrunk to at most ``max_side``, in ``image``'s pixels."""
        import cv2

        height, width = image.shape[:2]
        scale = max(1.0, max(width, height) / max_side)
        small = image
        if scale > 1.0:
            size = (max(1, round(width / scale)), max(1, round(height / scale)))
            small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        # YuNet reads BGR; converting after the resize is exact (resizing treats channels alike) and cheaper
        bgr = cv2.cvtColor(small, cv2.COLOR_GRAY2BGR if small.ndim == 2 else cv2.COLOR_RGB2BGR)
        small_h, small_w = bgr.shape[:2]
        rows = self._run_onnx(bgr) if self.engine == "onnx" else self._detector((small_w, small_h)).detect(bgr)[1]
        found = []
        sx, sy = width / small_w, height / small_h
        for row in np.reshape(rows if rows is not None else [], (-1, 15)):
            x, y, w, h = row[0] * sx, row[1] * sy, row[2] * sx, row[3] * sy
            left, top = max(0, round(x)), max(0, round(y))  # YuNet's boxes may leave the image
            right, bottom = min(width, round(x + w)), min(height, round(y + h))
            if min(right - left, bottom - top) < self.min_size:
                continue
            landmarks = row[4:14].reshape(5, 2) * [sx, sy]
            found.append(Detection((left, top, right - left, bottom - top), landmarks, float(row[14])))
        return found

    def _run_onnx(self, bgr: np.ndarray) -> np.ndarray:
        """``cv2.FaceDetectorYN.detect``'s rows ``(n, 15)`` for a BGR image, with ONNX Runtime: the image padded
        with zeros to a multiple of 32, each grid cell decoded, then OpenCV's non-maximum suppression."""
        import cv2

        height, width = bgr.shape[:2]
        step = YUNET_STRIDES[-1]
        pad_h, pad_w = -(-height // step) * step, -(-width // step) * step
        blob = np.zeros((1, 3, pad_h, pad_w), np.float32)
        blob[0, :, :height, :width] = bgr.transpose(2, 0, 1)
        outputs = dict(zip(self._outputs, self._session.run(self._outputs, {self._input: blob}), strict=True))
        threshold = np.float32(self.score_threshold)
        decoded = []
        for stride in YUNET_STRIDES:
            cls = np.clip(outputs[f"cls_{stride}"].reshape(-1), 0, 1)
            obj = np.clip(outputs[f"obj_{stride}"].reshape(-1), 0, 1)
            score = np.sqrt(cls * obj)
            cells = np.flatnonzero(score >= threshold)
            if not cells.size:
                continue
            grid = np.stack(np.divmod(cells, pad_w // stride)[::-1], axis=1).astype(np.float32)  # (x, y) cells
            bbox = outputs[f"bbox_{stride}"].reshape(-1, 4)[cells]
            kps = outputs[f"kps_{stride}"].reshape(-1, 5, 2)[cells]
            size = np.exp(bbox[:, 2:]) * stride
            corner = (grid + bbox[:, :2]) * stride - size / 2
            points = (kps + grid[:, None, :]) * stride
            decoded.append(np.column_stack([corner, size, points.reshape(-1, 10), score[cells]]))
        if not decoded:
            return np.zeros((0, 15), np.float32)
        faces = np.concatenate(decoded).astype(np.float32)
        if len(faces) > 1:  # OpenCV's own NMS on integer boxes, as cv2.FaceDetectorYN does
            boxes = [tuple(int(v) for v in face[:4]) for face in faces]
            scores = faces[:, 14].tolist()
            keep = cv2.dnn.NMSBoxes(boxes, scores, self.score_threshold, self.nms_threshold, 1.0, self.top_k)
            faces = faces[np.asarray(keep, dtype=int).reshape(-1)]
        return faces


@lru_cache(maxsize=4)
def _onnx_session(path: Path):
    """An ONNX Runtime session on YuNet at ``path``: one intra-op thread (a second one does not make a 320-pixel
    image faster), no spinning; a :class:`DataError` names a file it cannot load."""
    session = cpu_session(
        path,
        1,
        missing="YuNet runs on ONNX Runtime by default: `pip install onnxruntime`, or pass engine='opencv'.",
        fix="Pass model=None for the packaged YuNet file.",
        what=" as a YuNet face detector",
    )
    names = {o.name for o in session.get_outputs()}
    missing = {f"{kind}_{s}" for kind in ("cls", "obj", "bbox", "kps") for s in YUNET_STRIDES} - names
    if missing:
        raise DataError(f"{path} is not a YuNet face detector: it lacks the outputs {', '.join(sorted(missing))}.")
    return session
