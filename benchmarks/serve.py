"""Benchmark a trained model on a real photo: ``predict_faces`` in-process and ``POST /predict`` over HTTP.

One run, on scikit-image's astronaut photo (512x512 RGB PNG, one face):

* in-process latency (p50/p95) of ``Predictor.predict`` on the PNG bytes, and of its pieces timed
  separately: decode, face detection (YuNet on ONNX Runtime; YuNet on OpenCV's
  ``cv2.FaceDetectorYN`` and the Haar cascade for comparison), align + model call, model call
  alone (the exported ONNX copy when it is beside the model; Keras for comparison);
* a whole ``python -m fer_keras predict MODEL astronaut.png`` process (median of ``--starts``), with the
  default runtime and with ``--runtime keras``;
* HTTP latency (p50/p95) of ``POST /predict`` against ``python -m fer_keras serve`` started as a separate
  process on 127.0.0.1 (one client, keep-alive);
* throughput (requests/s) and latency with 8 concurrent clients: light ``http.client`` clients posting a form
  encoded once (the target's row), and ``httpx`` clients for comparison.

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
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from fer_keras.io import atomic_write_json, atomic_write_text
from fer_keras.predict import FaceDetector, Predictor
from fer_keras.predict.detectors import YuNetDetector

REPO_ROOT = Path(__file__).resolve().parents[1]
WARMUP = 10


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
    parser.add_argument(
        "--fer-path", help="a folder holding the `fer` package (benchmarks/fer_reference.py): measured as the reference"
    )
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
    engine = getattr(predictor.detector, "engine", None)
    setup = f"{predictor.detector.name}{f' on {engine}' if engine else ''}, {predictor.runtime.name}"
    pieces = [
        (
            f"predict_faces (PNG bytes -> faces; {setup})",
            lambda: predictor.predict(png),
        ),
        ("  decode PNG", lambda: predictor.load_image(png)),
        (f"  detect faces ({predictor.detector.name})", lambda: predictor.detect(original)),
        ("  (detect with the Haar cascade, for comparison)", lambda: haar.detect_faces(rgb)),
    ]
    if isinstance(predictor.detector, YuNetDetector) and predictor.detector.engine != "opencv":
        opencv = replace(predictor.detector, engine="opencv")
        pieces.append(
            (
                "  (detect with YuNet run by OpenCV's cv2.FaceDetectorYN, for comparison)",
                lambda: opencv.detect_faces(rgb),
            )
        )
    pieces += [
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


def multipart_body(png: bytes) -> tuple[bytes, str]:
    """``POST /predict``'s form body (one ``file`` field, the PNG) and its Content-Type, encoded once."""
    boundary = "fer-keras-benchmark-boundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="astronaut.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode()
    return head + png + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def stdlib_poster(url: str, png: bytes) -> Callable[[], Callable[[], None]]:
    """A factory of light clients: each opens one keep-alive ``http.client`` connection and posts the same
    pre-encoded form (as load generators such as wrk or hey do), so that the client's own CPU, which shares
    the machine with the server, stays small."""
    import http.client
    from urllib.parse import urlsplit

    body, content_type = multipart_body(png)
    where = urlsplit(url)

    def connect() -> Callable[[], None]:
        connection = http.client.HTTPConnection(where.hostname, where.port, timeout=300)

        def post() -> None:
            connection.request("POST", "/predict", body=body, headers={"Content-Type": content_type})
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"POST /predict answered {response.status}")

        return post

    return connect


def httpx_poster(url: str, png: bytes) -> Callable[[], Callable[[], None]]:
    """A factory of ``httpx.Client`` clients (keep-alive), each encoding the form on every request."""
    import httpx

    files = {"file": ("astronaut.png", png, "image/png")}

    def connect() -> Callable[[], None]:
        client = httpx.Client(base_url=url, timeout=300)
        return lambda: client.post("/predict", files=files).raise_for_status()

    return connect


def throughput(connect: Callable[[], Callable[[], None]], clients: int, per_client: int, pid: int) -> dict[str, Any]:
    """Requests/s and latency of ``clients`` threads, each posting ``per_client`` times on its own connection;
    ``cpu_ms`` is the server's CPU per request and ``client_cpu_ms`` this (client) process's."""
    times: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        post = connect()
        post()  # connect + warm
        barrier.wait()
        for _ in range(per_client):
            start = time.perf_counter()
            post()
            with lock:
                times.append(time.perf_counter() - start)

    barrier = threading.Barrier(clients + 1)
    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    start, cpu_start, client_start = time.perf_counter(), cpu_seconds(pid), time.process_time()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    ms = np.asarray(times) * 1000
    return {
        "p50_ms": float(np.percentile(ms, 50)),
        "p95_ms": float(np.percentile(ms, 95)),
        "mean_ms": float(ms.mean()),
        "cpu_ms": (cpu_seconds(pid) - cpu_start) * 1000 / len(times),
        "client_cpu_ms": (time.process_time() - client_start) * 1000 / len(times),
        "requests_per_s": len(times) / elapsed,
    }


def http_rows(url: str, pid: int, png: bytes, runs: int, clients: int, per_client: int) -> list[dict[str, Any]]:
    """Sequential latency of ``POST /predict``, then throughput with ``clients`` concurrent clients, once with
    light ``http.client`` clients (the target's row) and once with ``httpx`` clients (heavier on the CPU the
    server shares). CPU times are the server process's."""
    post = stdlib_poster(url, png)()
    row = {"kind": "HTTP", "what": "POST /predict, 1 client (keep-alive)"}
    row.update(latency(post, runs, pid))
    print(f"{row['what']}: p50 {row['p50_ms']:.1f} ms, p95 {row['p95_ms']:.1f} ms", flush=True)
    rows = [row]
    for client, poster in (("http.client", stdlib_poster), ("httpx", httpx_poster)):
        result = throughput(poster(url, png), clients, per_client, pid)
        rows.append({"kind": "HTTP", "what": f"POST /predict, {clients} concurrent clients ({client})", **result})
        print(
            f"{rows[-1]['what']}: {result['requests_per_s']:.1f} req/s, p50 {result['p50_ms']:.1f} ms, "
            f"client CPU {result['client_cpu_ms']:.1f} ms per request",
            flush=True,
        )
    return rows


def markdown_table(rows: list[dict[str, Any]], reference: dict[str, Any] | None) -> str:
    """The rows plus the reference (when measured in this run) as a Markdown table."""
    lines = [
        "| kind | what | p50 ms | p95 ms | CPU ms per call | requests/s |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        rate = f"{r['requests_per_s']:.1f}" if "requests_per_s" in r else ""
        cpu = "" if r["cpu_ms"] != r["cpu_ms"] else f"{r['cpu_ms']:.1f}"  # NaN: not measured
        cells = f"{r['p50_ms']:.1f} | {r['p95_ms']:.1f} | {cpu} | {rate}"
        lines.append(f"| {r['kind']} | {r['what']} | {cells} |")
    if reference:
        what = reference["what"]
        cells = f"{reference['p50_ms']:.1f} | {reference['p95_ms']:.1f} | {reference['cpu_ms']:.1f} |"
        lines.append(f"| reference | {what}, same photo, same run | {cells}  |")
        if reference.get("process_median_ms"):
            ms = reference["process_median_ms"]
            lines.append(f"| reference | `fer` one-photo script, whole process | {ms:.1f} | | | |")
    else:
        lines.append("| reference | `fer` not measured in this run (--fer-path) | | | | |")
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
    reference = None
    if args.fer_path:
        from fer_reference import VERSION, measure

        reference = {"what": f"`fer` {VERSION}, `FER(mtcnn=False).detect_emotions`"}
        reference.update(measure(Path(args.fer_path), png, args.runs, args.starts))
    table = markdown_table(rows, reference)
    print("\n" + table)
    slug = re.sub(r"[^a-z0-9]+", "-", f"cpu-{info['nproc']}-cores-{info['backend']}".lower())
    out = Path(args.out or REPO_ROOT / "benchmarks" / "results" / f"serve-{slug}.json")
    command = "python " + " ".join(shlex.quote(a) for a in ["benchmarks/serve.py", *(argv or sys.argv[1:])])
    run = {**info, "command": command, "model": args.model or "untrained build_fer_cnn(7)", "args": vars(args)}
    atomic_write_json(out, {"run": run, "rows": rows, "reference": reference})
    header = f"{info['cpu']}, {info['nproc']} CPUs, {info['backend']}, {info['date']}"
    header += f", load average {info['load_average_start']} -> {info['load_average_end']}"
    atomic_write_text(out.with_suffix(".md"), f"{header}\n\n{table}")
    print(f"Wrote {out} and {out.with_suffix('.md')}")
    return out


if __name__ == "__main__":
    main()
