"""Run a model exported to ONNX (``fer-keras export --format onnx``) with ONNX Runtime, without Keras."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from fer_keras.errors import DataError

DEFAULT_THREADS = 2
"""Threads per model call, not spinning while idle: on the 2-core CPU one face takes 3.5 ms against 5.7 with one
thread, and eight threads calling at once get as many calls through as with one (benchmarks/README.md)."""


class OnnxRuntime:
    """An ``onnxruntime.InferenceSession`` on the CPU; calls are thread-safe and run concurrently.

    Example:
        >>> runtime = OnnxRuntime.from_file("fer_keras/assets/fer7.onnx")  # doctest: +SKIP
        >>> runtime(np.zeros((1, 48, 48, 1), np.float32)).shape  # doctest: +SKIP
        (1, 7)
    """

    name = "onnx"

    def __init__(self, session, path: str) -> None:
        self.session, self.path = session, path
        (given,), (output,) = session.get_inputs(), session.get_outputs()
        self._input = given.name
        self.metadata = dict(session.get_modelmeta().custom_metadata_map)
        self.input_shape = (None, *(d if isinstance(d, int) else None for d in given.shape[1:]))
        self.output_shape = (None, *(d if isinstance(d, int) else None for d in output.shape[1:]))

    @classmethod
    def from_file(cls, path: str | os.PathLike, threads: int = DEFAULT_THREADS) -> OnnxRuntime:
        """Open the ONNX file at ``path``; a :class:`DataError` names a file ONNX Runtime cannot load."""
        session = cpu_session(
            path,
            threads,
            missing="--runtime onnx needs ONNX Runtime: `pip install onnxruntime` (or pass --runtime keras).",
            fix="Write it again with `fer-keras export MODEL.keras --format onnx`.",
        )
        if len(session.get_inputs()) != 1 or len(session.get_outputs()) != 1:
            raise DataError(f"{path} has {len(session.get_inputs())} inputs: an image classifier has one.")
        return cls(session, str(Path(path)))

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """Probabilities ``(N, classes)`` for a float32 batch ``(N, H, W, C)`` scaled to 0-1."""
        return self.session.run(None, {self._input: np.ascontiguousarray(batch, dtype=np.float32)})[0]


def cpu_session(path: str | os.PathLike, threads: int, *, missing: str, fix: str, what: str = ""):
    """An ``onnxruntime.InferenceSession`` on the CPU for the ONNX file at ``path``: ``threads`` intra-op threads
    that do not spin while idle (concurrent calls: no busy-wait), one inter-op thread, warnings off.

    A :class:`DataError` says ``missing`` when ONNX Runtime is not installed, and names a file it cannot load
    (as ``what``, e.g. " as a YuNet face detector") followed by ``fix``.
    """
    try:
        import onnxruntime
    except ImportError as err:
        raise DataError(missing) from err
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime raises its own Fail/InvalidGraph/... for a bad file
        raise DataError(f"ONNX Runtime cannot load {path}{what} ({type(err).__name__}: {err}). {fix}") from err
