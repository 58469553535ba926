"""Which runtime runs the classifier fastest on this CPU: Keras, ONNX Runtime or LiteRT, measured in one run.

For the published ``fer_keras/assets/fer7.keras`` and its copies exported by ``fer-keras export`` (``--onnx`` /
``--litert``, made in a temporary folder when not given):

* model call p50 for 1 face and for 8 faces (random 48x48 faces; speed does not depend on the pixels), after
  warm-up, each runtime with one thread and with its default threads;
* a fresh process's ``import`` of what the runtime needs with OpenCV (median of ``--starts``);
* load time of the model file.

Ratios are to Keras in the same run. Usage::

    python benchmarks/runtimes.py [--model fer_keras/assets/fer7.keras] [--runs 200] [--out FILE]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from benchmarks.serve import latency, machine  # noqa: E402
from fer_keras.io import atomic_write_json  # noqa: E402

IMPORTS = {
    "keras": "import keras, cv2",
    "onnx": "import onnxruntime, cv2",
    "litert": "from ai_edge_litert.interpreter import Interpreter; import cv2",
}


def import_seconds(statement: str, starts: int) -> float:
    """Median wall seconds of a fresh ``python -c statement`` (the interpreter's own start-up included)."""
    times = []
    for _ in range(starts):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", statement], check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def load(name: str, path: Path, threads: int | None):
    """The runtime ``name`` on ``path`` with ``threads`` (None: the runtime's default)."""
    from fer_keras.predict.runtimes.keras import KerasRuntime
    from fer_keras.predict.runtimes.litert import LiteRTRuntime
    from fer_keras.predict.runtimes.onnx import OnnxRuntime

    if name == "keras":
        return KerasRuntime.from_file(path)
    if name == "onnx":
        return OnnxRuntime.from_file(path, threads=threads or 0)  # 0: ONNX Runtime's default, one per core
    return LiteRTRuntime.from_file(path, threads=threads or 2)  # the cores of this machine


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=str(REPO_ROOT / "fer_keras" / "assets" / "fer7.keras"))
    parser.add_argument("--onnx", help="its ONNX export (default: exported now)")
    parser.add_argument("--litert", help="its LiteRT export (default: exported now)")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--starts", type=int, default=5)
    parser.add_argument("--out", default=str(REPO_ROOT / "benchmarks" / "results" / "runtimes-cpu-2-cores.json"))
    args = parser.parse_args(argv)

    import keras

    from fer_keras.saving.convert import export_file
    from fer_keras.training import load_model

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        files = {"keras": Path(args.model), "onnx": args.onnx, "litert": args.litert}
        model = load_model(args.model)
        for name, suffix in (("onnx", ".onnx"), ("litert", ".tflite")):
            if not files[name]:
                files[name] = Path(tmp) / f"fer7{suffix}"
                export_file(model, files[name], name)
        rng = np.random.default_rng(0)
        one, eight = (rng.random((n, 48, 48, 1), dtype=np.float32) for n in (1, 8))
        info = machine()
        for name in ("keras", "onnx", "litert"):
            for threads in (None,) if name == "keras" else (1, None):
                start = time.perf_counter()
                runtime = load(name, Path(files[name]), threads)
                loaded = time.perf_counter() - start
                row = {"runtime": name, "threads": threads or "default", "load_s": round(loaded, 3)}
                row["one_face"] = latency(lambda r=runtime: r(one), args.runs)
                row["eight_faces"] = latency(lambda r=runtime: r(eight), args.runs // 4)
                rows.append(row)
                print(name, row["threads"], f"{row['one_face']['p50_ms']:.2f} ms", flush=True)
        starts = {name: round(import_seconds(stmt, args.starts), 3) for name, stmt in IMPORTS.items()}
    base = rows[0]["one_face"]["p50_ms"]
    for row in rows:
        row["one_face_speed_vs_keras"] = round(base / row["one_face"]["p50_ms"], 2)
        row["eight_faces_speed_vs_keras"] = round(rows[0]["eight_faces"]["p50_ms"] / row["eight_faces"]["p50_ms"], 2)
    result = {
        "machine": info | {"load_average_end": [round(v, 2) for v in __import__("os").getloadavg()]},
        "keras_version": keras.__version__,
        "rows": rows,
        "import_seconds_median": starts,
        "model": args.model,
    }
    atomic_write_json(args.out, result)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
