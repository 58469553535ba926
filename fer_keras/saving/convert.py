"""Export a ``.keras`` model for inference with Keras' own ``model.export`` (ONNX or LiteRT), after a parity check.

:func:`export_model` writes ``<stem>.onnx`` (or ``.tflite``) with ``<stem>.classes.json`` beside it only when,
on the labelled images given, the exported file's top-1 answer agrees with the Keras model's on at least
:data:`MIN_AGREEMENT` of them and its accuracy is within :data:`MAX_ACCURACY_GAP` of the Keras model's.
Exporting needs TensorFlow (and ``tf2onnx`` for ONNX); running the file needs only the runtime's package.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from fer_keras.errors import DataError
from fer_keras.io import atomic_write_bytes, atomic_write_json
from fer_keras.predict.runtimes import SOURCE_KEY, file_sha256
from fer_keras.presets import CHECKSUMS

FORMATS = {"onnx": ".onnx", "litert": ".tflite"}
"""Export format -> file suffix (and the runtime of the same name that runs it)."""
MIN_AGREEMENT = 0.999
MAX_ACCURACY_GAP = 0.001
PARITY_BATCH = 256


def export_file(model: Any, path: Path, fmt: str, source: Path | None = None) -> None:
    """``model.export(path, format=fmt)`` with a batch of any size; ONNX weights that are exactly float16
    numbers (as in compact models) are stored as float16 (:func:`store_float16`), and the SHA-256 of the
    ``source`` ``.keras`` file is recorded in the ONNX metadata (``fer_keras_source_sha256``)."""
    import keras

    spec = keras.InputSpec(shape=(None, *model.input_shape[1:]), dtype="float32")
    model.export(str(path), format=fmt, input_signature=[spec], verbose=False)
    if fmt == "onnx":
        store_float16(path, file_sha256(source) if source else None)


def store_float16(path: Path, source_sha256: str | None = None) -> int:
    """Rewrite the ONNX file at ``path`` so that every float32 weight exactly representable in float16 is stored
    as float16 followed by a ``Cast`` back to float32: half the size, the same numbers. Returns how many."""
    import onnx
    from onnx import helper, numpy_helper

    graph_model = onnx.load(str(path))
    if source_sha256:
        onnx.helper.set_model_props(graph_model, {SOURCE_KEY: source_sha256})
    graph = graph_model.graph
    casts, kept = [], []
    for init in graph.initializer:
        array = numpy_helper.to_array(init)
        if array.dtype == np.float32 and array.size >= 64 and np.array_equal(array.astype(np.float16), array):
            half = numpy_helper.from_array(array.astype(np.float16), f"{init.name}__float16")
            kept.append(half)
            casts.append(helper.make_node("Cast", [half.name], [init.name], to=onnx.TensorProto.FLOAT))
        else:
            kept.append(init)
    del graph.initializer[:]
    graph.initializer.extend(kept)
    nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend(casts + nodes)
    onnx.checker.check_model(graph_model)
    onnx.save(graph_model, str(path))
    return len(casts)


def labelled_images(data_dir: str | os.PathLike, class_names: list[str], size: tuple[int, int]) -> tuple:
    """``(pixels uint8 (N, H, W), labels (N,))`` of ``data_dir/<class>/*`` as the training loader decodes them."""
    from fer_keras.data.decode import decode_images
    from fer_keras.folder_eval import folder_frame, match_data_folders

    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataError(f"Data folder {data_dir} does not exist: pass a folder of class sub-folders with --data.")
    frame = folder_frame(data_dir, match_data_folders(data_dir, class_names))
    pixels = decode_images(list(frame["filename"]), size)
    labels = np.array([class_names.index(c) for c in frame["class"]])
    return pixels, labels


def parity(model: Any, runtime: Any, pixels: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """Top-1 agreement, both accuracies and the largest probability difference of ``runtime`` vs ``model``."""
    keras_probs, exported_probs = [], []
    for start in range(0, len(pixels), PARITY_BATCH):
        batch = pixels[start : start + PARITY_BATCH].astype(np.float32)[..., None] / 255.0
        keras_probs.append(np.asarray(model.predict_on_batch(batch)))
        exported_probs.append(np.concatenate([runtime(batch[i : i + 32]) for i in range(0, len(batch), 32)]))
    k, e = np.concatenate(keras_probs), np.concatenate(exported_probs)
    agree = k.argmax(1) == e.argmax(1)
    return {
        "images": len(labels),
        "top1_agreement": float(agree.mean()),
        "disagreements": int((~agree).sum()),
        "keras_accuracy": float((k.argmax(1) == labels).mean()),
        "exported_accuracy": float((e.argmax(1) == labels).mean()),
        "max_abs_probability_difference": float(np.abs(k - e).max()),
    }


def export_model(
    model_path: str | os.PathLike,
    fmt: str,
    data_dir: str | os.PathLike,
    *,
    out: str | os.PathLike | None = None,
    report: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Export the ``.keras`` model at ``model_path`` to ``fmt`` (``onnx`` or ``litert``), check parity on the
    labelled images in ``data_dir`` and only then write ``out`` (default: beside the model, its suffix changed)
    with its classes file; returns the parity report (also written to ``report`` when given)."""
    from fer_keras.predict.predictor import load_checked_model
    from fer_keras.predict.runtimes import RUNTIMES, classes_file

    if fmt not in FORMATS:
        raise DataError(f"Unknown export format {fmt!r}: choose one of {', '.join(FORMATS)}.")
    model_path = Path(model_path)
    model, class_names = load_checked_model(model_path)
    if model.input_shape[-1] != 1:
        raise DataError(f"{model_path} takes colour images: the parity check reads grayscale faces (FER models).")
    target = Path(out) if out else model_path.with_suffix(FORMATS[fmt])
    if target.suffix != FORMATS[fmt]:
        raise DataError(f"An exported {fmt} file must end in {FORMATS[fmt]}, got {target}.")
    pixels, labels = labelled_images(data_dir, class_names, tuple(model.input_shape[1:3]))
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{target.stem}.export.") as tmp:
        staged = Path(tmp) / target.name
        started = time.perf_counter()
        export_file(model, staged, fmt, model_path)
        seconds = time.perf_counter() - started
        module, cls, _ = RUNTIMES[fmt]
        import importlib

        runtime = getattr(importlib.import_module(module), cls).from_file(staged)
        result = {"model": str(model_path), "format": fmt, "file": str(target), "data": str(data_dir)}
        result |= parity(model, runtime, pixels, labels)
        result |= {"bytes": staged.stat().st_size, "export_seconds": round(seconds, 1)}
        gap = abs(result["exported_accuracy"] - result["keras_accuracy"])
        result["passed"] = result["top1_agreement"] >= MIN_AGREEMENT and gap <= MAX_ACCURACY_GAP
        if report:
            atomic_write_json(report, result)
        if not result["passed"]:
            raise DataError(
                f"The exported {fmt} model answers unlike {model_path} on {data_dir}: top-1 agreement "
                f"{result['top1_agreement']:.2%} (needs {MIN_AGREEMENT:.1%}), accuracy "
                f"{result['exported_accuracy']:.2%} vs {result['keras_accuracy']:.2%}; nothing written. "
                "Try the other format."
            )
        os.replace(staged, target)
    if classes_file(target) != classes_file(model_path):
        atomic_write_bytes(classes_file(target), classes_file(model_path).read_bytes())
    if (target.parent / CHECKSUMS).is_file():  # a published model's folder: its inventory gains the file
        from fer_keras.export import record_checksums

        record_checksums(target.parent, [target.name])
    return result
