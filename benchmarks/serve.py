"""Benchmark a trained model on a real photo: ``predict_faces`` in-process and ``POST /predict`` over HTTP.

One run, on scikit-image's astronaut photo (512x512 RGB PNG, one face):

* in-process latency (p50/p95) of ``Predictor.predict`` on the PNG bytes, and of its pieces timed
  separately: decode, face detection (YuNet; the Haar cascade for comparison), align + model call, model call
  alone (the exported ONNX copy when it is beside the model; Keras for comparison);
* a whole ``python -m fer_keras predict MODEL astronaut.png`` process (median of ``--starts``), with the
  default runtime and with ``--runtime keras``;
* HTTP latency (p50/p95) of ``POST /predict`` against ``python -m fer_keras serve`` started as a separate
  process on 127.0.0.1 (one client, keep-alive);
* throughput (requests/s) and latency with 8 concurrent clients.

The model is ``--model PATH`` or, by default, the FER-7 CNN (``build_fer_cnn(7)``, 7.85 M parameters,
untrained: speed does not depend on the weights) saved to a temporary folder.

Usage::

    python benchmarks/serve.py [--model PATH] [--runs 200] [--clients 8] [--out FILE]
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import re
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from fer_keras.io import atomic_write_json, atomic_write_text
from fer_keras.predict import FaceDetector, Predictor

REPO_ROOT = Path(__file__).resolve().parents[1]
WARMUP = 10
REFERENCE = {
    "what": "`fer` 25.10.3, `FER(mtcnn=False).detect_emotions` (OpenCV Haar + 58 k-param Keras classifier)",
    "p50_ms": 54.3,
    "p95_ms": 55.6,
    "source": "measured by the author of issue 10 on this 2-core machine (not by this script)",
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="a .keras file saved by `train` (default: an untrained FER-7 CNN)")
    parser.add_argument("--runs", type=int, default=200, help="timed calls per latency row (after 10 warm-up)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent HTTP clients of the throughput row")
    parser.add_argument("--per-client", type=int, default=25, help="requests per concurrent client")
    parser.add_argument("--port", type=int, default=0, help="server port (default: a free one)")
    parser.add_argument("--runtime", default="auto", help="auto (the exported .onnx beside the model), keras, onnx")
    parser.add_argument("--starts", type=int, default=5, help="whole `predict` processes timed (median)")
    parser.add_argument("--out", help="JSON output (default benchmarks/results/serve-<machine>.json)")
    return parser.parse_args(argv)


def machine() -> dict[str, Any]:
    """CPU model, core count, load and library versions of this machine."""
    import cv2
    import keras

    cpu = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        found = re.search(r"^model name\s*:\s*(.+)$", cpuinfo.read_text(), re.MULTILINE)
        cpu = found.group(1).strip() if found else cpu
    return {
        "cpu": cpu,
        "nproc": os.cpu_count(),
        "load_average_start": [round(v, 2) for v in os.getloadavg()],
        "python": sys.version.split()[0],
        "keras": keras.__version__,
        "backend": keras.backend.backend(),
        "opencv": cv2.__version__,
        "platform": platform.platform(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def astronaut_png() -> bytes:
    """scikit-image's astronaut photo encoded as PNG."""
    from PIL import Image
    from skimage import data

    buffer = io.BytesIO()
    Image.fromarray(data.astronaut()).save(buffer, format="PNG")
    return buffer.getvalue()


def default_model(folder: Path) -> Path:
    """The FER-7 CNN (untrained) saved with its classes file."""
    from fer_keras.constants import FER7_CLASSES
    from fer_keras.models import build_fer_cnn
    from fer_keras.training import save_model

    return save_model(build_fer_cnn(len(FER7_CLASSES)), folder / "fer7.keras", FER7_CLASSES)


def latency(fn: Callable[[], Any], runs: int, pid: int | None = None) -> dict[str, float]:
    """p50/p95/mean wall milliseconds of ``runs`` calls of ``fn`` after :data:`WARMUP` untimed ones.

    ``cpu_ms`` is the mean CPU time per call (all threads) of this process, or of process ``pid``:
    the work itself, which other load on a shared machine does not inflate the way it does wall time.
    """
    for _ in range(WARMUP):
        fn()
    times = []
    cpu_start = cpu_seconds(pid)
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    cpu_ms = (cpu_seconds(pid) - cpu_start) * 1000 / runs
    ms = np.asarray(times) * 1000
    return {
        "p50_ms": float(np.percentile(ms, 50)),
        "p95_ms": float(np.percentile(ms, 95)),
        "mean_ms": float(ms.mean()),
        "cpu_ms": cpu_ms,
    }


def cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU seconds of this process (``pid`` None) or of process ``pid`` (Linux /proc)."""
    if pid is None:
        return time.process_time()
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def in_process_rows(model_path: Path, png: bytes, runs: int, runtime: str = "auto") -> list[dict[str, Any]]:
    """Latency of the whole ``predict`` and of each piece, in this process."""
    from fer_keras.predict.runtimes import load_runtime

    predictor = Predictor.from_file(model_path, runtime=runtime)
    predictor.warm_up()
    original = predictor.load_image(png)
    img = predictor.to_model_mode(original)
    faces = predictor.detect(original)
    crops = np.zeros((len(faces), *predictor.input_size), np.uint8)
    haar = FaceDetector()
    rgb = np.asarray(original.convert("RGB"))
    setup = f"{predictor.detector.name}, {predictor.runtime.name}"
    pieces = [
        (
            f"predict_faces (PNG bytes -> faces; {setup})",
            lambda: predictor.predict(png),
        ),
        ("  decode PNG", lambda: predictor.load_image(png)),
        (f"  detect faces ({predictor.detector.name})", lambda: predictor.detect(original)),
        ("  (detect with the Haar cascade, for comparison)", lambda: haar.detect_faces(rgb)),
        ("  align + model call", lambda: predictor.classify(img, faces)),
        (f"  model call alone ({predictor.runtime.name}, 1 face)", lambda: predictor.classify_crops(crops)),
    ]
    if predictor.runtime.name != "keras":
        keras_runtime = load_runtime(model_path, "keras")
        batch = np.zeros((1, *predictor.input_size, predictor.channels), np.float32)
        pieces.append(("  (model call alone with Keras, 1 face, for comparison)", lambda: keras_runtime(batch)))
    rows = []
    for name, fn in pieces:
        rows.append({"kind": "in-process", "what": name, **latency(fn, runs)})
        r = rows[-1]
        print(f"{name}: p50 {r['p50_ms']:.1f} ms, p95 {r['p95_ms']:.1f} ms, CPU {r['cpu_ms']:.1f} ms", flush=True)
    rows[0]["faces"] = len(faces)
    return rows


def start_up_rows(model_path: Path, png: bytes, starts: int, folder: Path) -> list[dict[str, Any]]:
    """Wall time of a whole ``python -m fer_keras predict MODEL astronaut.png`` process, median of ``starts``,
    with the default runtime and with ``--runtime keras``."""
    photo = folder / "astronaut.png"
    photo.write_bytes(png)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    rows = []
    for extra in ([], ["--runtime", "keras"]):
        command = [sys.executable, "-m", "fer_keras", "predict", str(model_path), str(photo), *extra]
        times = []
        for _ in range(starts):
            start = time.perf_counter()
            subprocess.run(command, cwd=REPO_ROOT, env=env, check=True, capture_output=True)
            times.append((time.perf_counter() - start) * 1000)
        ms = np.asarray(times)
        what = "fer-keras predict astronaut.png, whole process" + (f" ({' '.join(extra)})" if extra else "")
        row = {"kind": "process", "what": what, "p50_ms": float(np.median(ms)), "p95_ms": float(ms.max())}
        rows.append(row | {"mean_ms": float(ms.mean()), "cpu_ms": float("nan"), "starts": starts})
        print(f"{what}: median {row['p50_ms']:.0f} ms", flush=True)
    return rows


def start_server(model_path: Path, port: int, log_path: Path, runtime: str = "auto") -> tuple[subprocess.Popen, str]:
    """``python -m fer_keras serve`` as a separate process; returns it and its URL once /health answers."""
    import httpx

    if not port:
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    command = [sys.executable, "-m", "fer_keras", "serve", str(model_path), "--port", str(port), "--runtime", runtime]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [*command, "--log-level", "warning"], cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.25)
    process.kill()
    raise RuntimeError(f"server did not start:\n{log_path.read_text()}")


def http_rows(url: str, pid: int, png: bytes, runs: int, clients: int, per_client: int) -> list[dict[str, Any]]:
    """Sequential latency of ``POST /predict``, then throughput with ``clients`` concurrent clients.

    CPU times are the server process's.
    """
    import httpx

    files = {"file": ("astronaut.png", png, "image/png")}
    with httpx.Client(base_url=url, timeout=120) as client:
        row = {"kind": "HTTP", "what": "POST /predict, 1 client (keep-alive)"}
        row.update(latency(lambda: client.post("/predict", files=files).raise_for_status(), runs, pid))
    print(f"{row['what']}: p50 {row['p50_ms']:.1f} ms, p95 {row['p95_ms']:.1f} ms", flush=True)

    times: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        with httpx.Client(base_url=url, timeout=300) as own:
            own.post("/predict", files=files).raise_for_status()  # connect + warm
            barrier.wait()
            for _ in range(per_client):
                start = time.perf_counter()
                own.post("/predict", files=files).raise_for_status()
                with lock:
                    times.append(time.perf_counter() - start)

    barrier = threading.Barrier(clients + 1)
    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    start, cpu_start = time.perf_counter(), cpu_seconds(pid)
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    cpu_ms = (cpu_seconds(pid) - cpu_start) * 1000 / len(times)
    ms = np.asarray(times) * 1000
    concurrent = {
        "kind": "HTTP",
        "what": f"POST /predict, {clients} concurrent clients",
        "p50_ms": float(np.percentile(ms, 50)),
        "p95_ms": float(np.percentile(ms, 95)),
        "mean_ms": float(ms.mean()),
        "cpu_ms": cpu_ms,
        "requests_per_s": len(times) / elapsed,
    }
    print(f"{concurrent['what']}: {concurrent['requests_per_s']:.1f} req/s, p50 {concurrent['p50_ms']:.1f} ms")
    return [row, concurrent]


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """The rows plus the reference as a Markdown table."""
    lines = [
        "| kind | what | p50 ms | p95 ms | CPU ms per call | requests/s |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        rate = f"{r['requests_per_s']:.1f}" if "requests_per_s" in r else ""
        cpu = "" if r["cpu_ms"] != r["cpu_ms"] else f"{r['cpu_ms']:.1f}"  # NaN: not measured
        cells = f"{r['p50_ms']:.1f} | {r['p95_ms']:.1f} | {cpu} | {rate}"
        lines.append(f"| {r['kind']} | {r['what']} | {cells} |")
    ref = REFERENCE
    lines.append(f"| reference | {ref['what']} | {ref['p50_ms']} | {ref['p95_ms']} |  |  |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> Path:
    """Run every measurement, print the table, write JSON + Markdown; return the JSON path."""
    args = parse_args(argv)
    info = machine()
    print(f"{info['cpu']} ({info['nproc']} CPUs), load {info['load_average_start']}", flush=True)
    png = astronaut_png()
    with tempfile.TemporaryDirectory() as tmp:
        model_path = Path(args.model) if args.model else default_model(Path(tmp))
        rows = in_process_rows(model_path, png, args.runs, args.runtime)
        if args.starts:
            rows += start_up_rows(model_path, png, args.starts, Path(tmp))
        process, url = start_server(model_path, args.port, Path(tmp) / "server.log", args.runtime)
        try:
            rows += http_rows(url, process.pid, png, args.runs, args.clients, args.per_client)
        finally:
            process.terminate()
            process.wait(timeout=30)
    info["load_average_end"] = [round(v, 2) for v in os.getloadavg()]
    table = markdown_table(rows)
    print("\n" + table)
    slug = re.sub(r"[^a-z0-9]+", "-", f"cpu-{info['nproc']}-cores-{info['backend']}".lower())
    out = Path(args.out or REPO_ROOT / "benchmarks" / "results" / f"serve-{slug}.json")
    command = "python " + " ".join(shlex.quote(a) for a in ["benchmarks/serve.py", *(argv or sys.argv[1:])])
    run = {**info, "command": command, "model": args.model or "untrained build_fer_cnn(7)", "args": vars(args)}
    atomic_write_json(out, {"run": run, "rows": rows, "reference": REFERENCE})
    header = f"{info['cpu']}, {info['nproc']} CPUs, {info['backend']}, {info['date']}"
    header += f", load average {info['load_average_start']} -> {info['load_average_end']}"
    atomic_write_text(out.with_suffix(".md"), f"{header}\n\n{table}")
    print(f"Wrote {out} and {out.with_suffix('.md')}")
    return out


if __name__ == "__main__":
    main()
