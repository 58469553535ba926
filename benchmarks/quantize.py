"""Would int8 make the classifier fast enough, and does it keep its answers? (A script, not a test.)

The published model's convolutions already run near this CPU's float32 peak under ONNX Runtime, so the one
lever left for the model call is fewer bits. This quantizes the exported ``fer7.onnx`` to int8 with ONNX
Runtime's static quantization (QDQ, weights per channel, activations calibrated on ``--calibration`` FER-2013
training faces, several calibration methods), then, in one run:

* the model call for one face, p50 wall and CPU ms, one and two threads, float32 against each int8 copy;
* issue 24's parity bar on the whole test split: top-1 agreement with the Keras model (>= 99.9 % required)
  and accuracy, with the same :func:`fer_keras.saving.convert.parity` that ``fer-keras export`` applies.

Usage::

    python benchmarks/quantize.py --data ../shared/data/fer2013 [--calibration 512] [--out FILE]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from benchmarks.serve import latency, machine  # noqa: E402
from fer_keras.io import atomic_write_json, atomic_write_text  # noqa: E402

PARITY_BAR = 0.999
"""Issue 24: an exported model must agree with the Keras model on >= 99.9 % of the test split."""


def calibration_faces(train_dir: Path, class_names: list[str], count: int, seed: int) -> np.ndarray:
    """``count`` training faces drawn at random (all classes pooled), float32 ``(N, 48, 48, 1)`` in 0-1."""
    from fer_keras.data.decode import decode_images
    from fer_keras.folder_eval import folder_frame, match_data_folders

    files = sorted(folder_frame(train_dir, match_data_folders(train_dir, class_names))["filename"])
    chosen = random.Random(seed).sample(files, min(count, len(files)))
    return decode_images(chosen, (48, 48)).astype(np.float32)[..., None] / 255.0


def quantize(source: Path, target: Path, faces: np.ndarray, method: str, op_types: list[str] | None) -> None:
    """Static int8 QDQ quantization of ``source`` (activations uint8, weights int8 per channel) into ``target``."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class Faces(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter([{"args_0": faces[i : i + 32]} for i in range(0, len(faces), 32)])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.batches, None)

    quantize_static(
        str(source),
        str(target),
        Faces(),
        quant_format=QuantFormat.QDQ,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        per_channel=True,
        calibrate_method=getattr(CalibrationMethod, method),
        op_types_to_quantize=op_types,
        extra_options={"CalibPercentile": 99.99} if method == "Percentile" else {},
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="the FER-2013 folder (train/ and test/ of class folders)")
    parser.add_argument("--model", default=str(REPO_ROOT / "fer_keras" / "assets" / "fer7.keras"))
    parser.add_argument("--calibration", type=int, default=512, help="training faces for calibration")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(REPO_ROOT / "benchmarks" / "results" / "quantize-int8-fer7.json"))
    args = parser.parse_args(argv)

    from onnxruntime.quantization.shape_inference import quant_pre_process

    from fer_keras.predict.runtimes import read_class_names
    from fer_keras.predict.runtimes.onnx import DEFAULT_THREADS, OnnxRuntime
    from fer_keras.saving import load_model
    from fer_keras.saving.convert import labelled_images, parity

    info = machine()
    model_path = Path(args.model)
    float_onnx = model_path.with_suffix(".onnx")
    class_names = list(read_class_names(model_path))
    model = load_model(model_path)
    data = Path(args.data)
    pixels, labels = labelled_images(data / "test", class_names, (48, 48))
    faces = calibration_faces(data / "train", class_names, args.calibration, args.seed)
    variants: dict[str, tuple[str, list[str] | None]] = {
        "int8, min-max calibration": ("MinMax", None),
        "int8, 99.99th-percentile calibration": ("Percentile", None),
        "int8, entropy calibration": ("Entropy", None),
        "int8 convolutions only (dense layers float32), min-max": ("MinMax", ["Conv"]),
    }
    one_face = pixels[:1].astype(np.float32)[..., None] / 255.0
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as folder:
        prepared = Path(folder) / "prepared.onnx"
        quant_pre_process(str(float_onnx), str(prepared), skip_symbolic_shape=True)
        files = {"float32 (the shipped fer7.onnx)": float_onnx}
        for i, (name, (method, op_types)) in enumerate(variants.items()):
            files[name] = Path(folder) / f"int8-{i}.onnx"
            quantize(prepared, files[name], faces, method, op_types)
        for name, path in files.items():
            row: dict[str, Any] = {"model": name, "file_bytes": path.stat().st_size}
            runtimes = {threads: OnnxRuntime.from_file(path, threads=threads) for threads in (1, 2)}
            row.update(parity(model, runtimes[DEFAULT_THREADS], pixels, labels))  # as the shipped runtime runs
            for threads, runtime in runtimes.items():
                timed = latency(lambda runtime=runtime: runtime(one_face), args.runs)
                row[f"p50_ms_{threads}_threads"] = timed["p50_ms"]
                row[f"cpu_ms_{threads}_threads"] = timed["cpu_ms"]
            row["meets_parity_bar"] = row["top1_agreement"] >= PARITY_BAR
            rows.append(row)
            print(
                f"{name}: agreement {row['top1_agreement']:.2%} ({row['disagreements']} of {row['images']} differ), "
                f"accuracy {row['exported_accuracy']:.2%}, 1 face p50 {row['p50_ms_1_threads']:.2f} ms "
                f"(1 thread) {row['p50_ms_2_threads']:.2f} ms (2 threads)",
                flush=True,
            )
    base = rows[0]
    for row in rows:
        row["speed_up_1_thread"] = base["p50_ms_1_threads"] / row["p50_ms_1_threads"]
    info.update(calibration_faces=len(faces), seed=args.seed, test_images=len(labels), parity_bar=PARITY_BAR)
    out = Path(args.out)
    atomic_write_json(out, {"machine": info, "rows": rows})
    lines = [
        "| model | top-1 agreement with Keras | differ | accuracy | 1 face p50 ms, 1 thread (x float32) "
        "| 1 face p50 ms, 2 threads | CPU ms, 1 thread |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['model']} | {row['top1_agreement']:.2%} | {row['disagreements']} | "
            f"{row['exported_accuracy']:.1%} | {row['p50_ms_1_threads']:.2f} (x{row['speed_up_1_thread']:.2f}) | "
            f"{row['p50_ms_2_threads']:.2f} | {row['cpu_ms_1_threads']:.2f} |"
        )
    atomic_write_text(out.with_suffix(".md"), "\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"Wrote {out} and {out.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
