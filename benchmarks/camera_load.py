"""Load test of ``serve`` by camera clients: N clients each POST a 640x480 JPEG frame to ``/predict`` every
~150 ms (the page's Camera mode), with a share of malformed bodies mixed in.

For each N (default 1, 4, 16), after a short warm-up, for ``--seconds``: requests/s answered, p50/p95 latency
of the good frames, the count of each status code (5xx must be 0), transport errors (must be 0), and the
server's resident memory (VmRSS) at the start and end of the level and its maximum (sampled every second).
The frames are the astronaut clip of the tests (tests/astronaut_video.py), JPEG-encoded as the page sends
them. Malformed bodies rotate through: a truncated JPEG, random bytes, an empty file, a multipart body cut
short, a form without the ``file`` field, and a JSON body.

Usage::

    python benchmarks/camera_load.py [--model PATH] [--clients 1 4 16] [--seconds 60] [--bad 0.1] [--out FILE]
    python benchmarks/camera_load.py --url http://127.0.0.1:8000 --pid PID ...   # a server already running

Without ``--url`` it starts ``python -m fer_keras serve`` (``--model`` or an untrained FER-7 CNN) itself.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import shlex
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO_ROOT), str(REPO_ROOT / "tests")]  # run as a script from anywhere

from fer_keras.io import atomic_write_json, atomic_write_text  # noqa: E402

BAD_KINDS = ("truncated jpeg", "random bytes", "empty file", "cut multipart", "no file field", "json body")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="a .keras file saved by `train` (default: an untrained FER-7 CNN)")
    parser.add_argument("--url", help="use this running server instead of starting one (give --pid too)")
    parser.add_argument("--pid", type=int, help="process id of the --url server (for its memory)")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4, 16], help="concurrent clients per level")
    parser.add_argument("--seconds", type=float, default=60.0, help="measured seconds per level")
    parser.add_argument("--warmup", type=float, default=5.0, help="unmeasured seconds before each level")
    parser.add_argument("--interval-ms", type=float, default=150.0, help="each client's time between frames")
    parser.add_argument("--bad", type=float, default=0.1, help="share of malformed bodies")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="JSON output (default benchmarks/results/camera-load-<machine>.json)")
    return parser.parse_args(argv)


def camera_frames(count: int = 30) -> list[bytes]:
    """JPEG bytes (quality 85, as the page sends) of the astronaut clip's frames with the face in view."""
    import cv2
    from astronaut_video import astronaut_frames

    frames = astronaut_frames(pan=count // 2, zoom=count - count // 2, no_face=0)
    return [
        cv2.imencode(".jpg", cv2.cvtColor(f.rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes()
        for f in frames
    ]


def bad_request(kind: str, jpeg: bytes) -> dict[str, Any]:
    """``httpx`` request arguments of one malformed body."""
    if kind == "truncated jpeg":
        return {"files": {"file": ("camera.jpg", jpeg[: len(jpeg) // 3], "image/jpeg")}}
    if kind == "random bytes":
        return {"files": {"file": ("camera.jpg", os.urandom(2048), "image/jpeg")}}
    if kind == "empty file":
        return {"files": {"file": ("camera.jpg", b"", "image/jpeg")}}
    if kind == "cut multipart":
        body = b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="camera.jpg"\r\n\r\n' + jpeg[:500]
        return {"content": body, "headers": {"content-type": "multipart/form-data; boundary=xyz"}}
    if kind == "no file field":
        return {"data": {"image": "camera.jpg"}}
    if kind == "json body":
        return {"json": {"file": "camera.jpg"}}
    raise ValueError(kind)


def rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` in MiB (Linux /proc)."""
    found = re.search(r"^VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.MULTILINE)
    return int(found.group(1)) / 1024 if found else float("nan")


async def client(
    url: str, frames: list[bytes], until: float, interval: float, bad: float, rng: random.Random, log: list
) -> None:
    """One camera client: a frame every ``interval`` seconds (the next once the answer is back) until ``until``."""
    import httpx

    async with httpx.AsyncClient(base_url=url, timeout=120) as http:
        sent = 0
        while (start := time.perf_counter()) < until:
            jpeg = frames[sent % len(frames)]
            kind = rng.choice(BAD_KINDS) if rng.random() < bad else None
            args = bad_request(kind, jpeg) if kind else {"files": {"file": ("camera.jpg", jpeg, "image/jpeg")}}
            try:
                status = (await http.post("/predict", **args)).status_code
            except httpx.HTTPError as err:
                status = type(err).__name__
            log.append((start, time.perf_counter() - start, kind, status))
            sent += 1
            await asyncio.sleep(max(0.0, interval - (time.perf_counter() - start)))


def run_level(url: str, pid: int | None, frames: list[bytes], clients: int, args: argparse.Namespace) -> dict:
    """Warm up, then drive ``clients`` clients for ``args.seconds``; the level's figures."""
    rng = random.Random(args.seed + clients)

    def drive(seconds: float, log: list) -> None:
        until = time.perf_counter() + seconds
        rngs = [random.Random(rng.random()) for _ in range(clients)]

        async def all_clients() -> None:
            interval = args.interval_ms / 1000
            await asyncio.gather(*(client(url, frames, until, interval, args.bad, r, log) for r in rngs))

        asyncio.run(all_clients())

    drive(args.warmup, [])
    memory = [rss_mb(pid)] if pid else []
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(1.0):
            memory.append(rss_mb(pid))

    sampler = threading.Thread(target=sample, daemon=True)
    if pid:
        sampler.start()
    log: list[tuple] = []
    start = time.perf_counter()
    drive(args.seconds, log)
    elapsed = time.perf_counter() - start
    stop.set()
    if pid:
        sampler.join()
        memory.append(rss_mb(pid))
    statuses = Counter(str(status) for *_, status in log)
    good = np.asarray([dt for _, dt, kind, status in log if kind is None and status == 200]) * 1000
    bad_statuses = Counter(f"{kind}: {status}" for _, _, kind, status in log if kind)
    row = {
        "clients": clients,
        "seconds": round(elapsed, 2),
        "requests": len(log),
        "requests_per_s": round(len(log) / elapsed, 2),
        "good_frames": int(sum(kind is None for _, _, kind, _ in log)),
        "good_200": len(good),
        "p50_ms": round(float(np.percentile(good, 50)), 1) if len(good) else None,
        "p95_ms": round(float(np.percentile(good, 95)), 1) if len(good) else None,
        "status_counts": dict(sorted(statuses.items())),
        "malformed": dict(sorted(bad_statuses.items())),
        "5xx": sum(n for s, n in statuses.items() if s.startswith("5")),
        "transport_errors": sum(n for s, n in statuses.items() if not s.isdigit()),
    }
    if memory:
        row |= {"rss_start_mb": round(memory[0], 1), "rss_end_mb": round(memory[-1], 1)}
        row["rss_max_mb"] = round(max(memory), 1)
    print(
        f"{clients} clients: {row['requests_per_s']} req/s, p50 {row['p50_ms']} ms, p95 {row['p95_ms']} ms, "
        f"5xx {row['5xx']}, errors {row['transport_errors']}, RSS {row.get('rss_start_mb')} -> "
        f"{row.get('rss_end_mb')} MiB (max {row.get('rss_max_mb')})",
        flush=True,
    )
    return row


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """The levels as a Markdown table."""
    lines = [
        "| clients | requests/s | p50 ms | p95 ms | requests | 5xx | transport errors | RSS start -> end (max) MiB |",
        "|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        memory = f"{r.get('rss_start_mb')} -> {r.get('rss_end_mb')} ({r.get('rss_max_mb')})"
        lines.append(
            f"| {r['clients']} | {r['requests_per_s']} | {r['p50_ms']} | {r['p95_ms']} | {r['requests']} | "
            f"{r['5xx']} | {r['transport_errors']} | {memory} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> Path:
    """Run every level, print the table, write JSON + Markdown; return the JSON path."""
    args = parse_args(argv)
    frames = camera_frames()
    with tempfile.TemporaryDirectory() as tmp:
        process = None
        url, pid = args.url, args.pid
        if not url:
            from serve import default_model, start_server  # benchmarks/serve.py

            model = Path(args.model) if args.model else default_model(Path(tmp))
            process, url = start_server(model, 0, Path(tmp) / "server.log")
            pid = process.pid
        try:
            load = [round(v, 2) for v in os.getloadavg()]
            rows = [run_level(url, pid, frames, n, args) for n in args.clients]
        finally:
            if process is not None:
                process.terminate()
                process.wait(timeout=30)
    table = markdown_table(rows)
    print("\n" + table)
    out = Path(args.out or REPO_ROOT / "benchmarks" / "results" / f"camera-load-cpu-{os.cpu_count()}-cores.json")
    command = "python " + " ".join(shlex.quote(a) for a in ["benchmarks/camera_load.py", *(argv or sys.argv[1:])])
    run = {
        "command": command,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "nproc": os.cpu_count(),
        "load_average_start": load,
        "load_average_end": [round(v, 2) for v in os.getloadavg()],
        "args": vars(args),
    }
    atomic_write_json(out, {"run": run, "rows": rows})
    atomic_write_text(out.with_suffix(".md"), f"{run['date']}, {run['nproc']} CPUs, `{command}`\n\n{table}")
    print(f"Wrote {out} and {out.with_suffix('.md')}")
    return out


if __name__ == "__main__":
    main()
