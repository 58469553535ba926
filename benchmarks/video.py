"""Frames per second of a trained model on a video, and what each part of a frame costs.

The clip is generated (tests/astronaut_video.py): 640x480, 25 fps, one face (the astronaut photo panned and
zoomed), ``--frames`` frames written with ``cv2.VideoWriter`` (MPEG-4 part 2, ``mp4v``). Rows:

* ``analyze_video`` (Python: table only) and ``predict MODEL clip.mp4`` (``video_report``: table, annotated
  video, CSV and timeline figure), end to end: frames analysed per second (``every=1``);
* the parts of one frame, timed one after the other over every frame of the clip: decode
  (``VideoCapture.read``), colour conversion (BGR -> RGB -> the model's grayscale), face detection (Haar
  cascade), model (crop + ``predict_on_batch``), drawing (boxes and labels, ``annotate_bgr``) and encoding
  (``VideoWriter.write``): p50 and mean milliseconds per frame.

The model is ``--model PATH`` or the FER-7 CNN (``build_fer_cnn(7)``, untrained: speed does not depend on
the weights).

Usage::

    python benchmarks/video.py [--model PATH] [--frames 250] [--out FILE]
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO_ROOT), str(REPO_ROOT / "tests")]  # run as a script from anywhere

from fer_keras.io import atomic_write_json, atomic_write_text  # noqa: E402
from fer_keras.predict import Predictor, analyze_video  # noqa: E402
from fer_keras.predict.annotate import annotate_bgr  # noqa: E402
from fer_keras.predict.video_report import video_report  # noqa: E402

TARGET_FPS = 25.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="a .keras file saved by `train` (default: an untrained FER-7 CNN)")
    parser.add_argument("--frames", type=int, default=250, help="frames in the generated clip (25 fps)")
    parser.add_argument("--out", help="JSON output (default benchmarks/results/video-cpu-<cores>-cores-<backend>.json)")
    return parser.parse_args(argv)


def make_clip(path: Path, frames: int) -> Path:
    """A 640x480 25 fps clip of ``frames`` frames with the astronaut's face always in view."""
    from astronaut_video import astronaut_frames, write_video

    return write_video(path, astronaut_frames((640, 480), pan=frames - frames // 3, zoom=frames // 3, no_face=0))


def end_to_end(name: str, run: Callable[[], int], frames: int) -> dict[str, Any]:
    """Frames per second of ``run`` (which returns the frames it analysed) and its CPU time per frame."""
    wall, cpu = time.perf_counter(), time.process_time()
    analysed = run()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    if analysed != frames:
        raise RuntimeError(f"{name}: analysed {analysed} frames, expected {frames}")
    row = {"kind": "end to end", "what": name, "frames": analysed, "frames_per_s": analysed / wall}
    row |= {"ms_per_frame": 1000 * wall / analysed, "cpu_ms_per_frame": 1000 * cpu / analysed}
    print(f"{name}: {row['frames_per_s']:.1f} frames/s ({row['ms_per_frame']:.1f} ms per frame)", flush=True)
    return row


def parts(predictor: Predictor, clip: Path, out: Path) -> list[dict[str, Any]]:
    """Each part of a frame timed alone, one after the other, over every frame of ``clip``."""
    import cv2
    from PIL import Image

    names = ["decode", "colour conversion", "detect faces", "model (grayscale + align + call)", "drawing", "encoding"]
    times: dict[str, list[float]] = {n: [] for n in names}
    cpu: dict[str, float] = dict.fromkeys(names, 0.0)
    capture = cv2.VideoCapture(str(clip))
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (640, 480))
    state: dict[str, Any] = {}

    def timed(name: str, fn: Callable[[], Any]) -> Any:
        wall, used = time.perf_counter(), time.process_time()
        value = fn()
        times[name].append(time.perf_counter() - wall)
        cpu[name] += time.process_time() - used
        return value

    try:
        while True:
            ok, bgr = timed("decode", capture.read)
            if not ok:
                times["decode"].pop()
                break
            rgb = timed("colour conversion", lambda b=bgr: Image.fromarray(b[..., ::-1]))
            faces = timed("detect faces", lambda i=rgb: predictor.detect(i))
            model_step = lambda r=rgb, f=faces: predictor.classify(predictor.to_model_mode(r), f)  # noqa: E731
            probabilities = timed("model (grayscale + align + call)", model_step)
            state["faces"] = predictor.describe(faces, probabilities)
            drawn = timed("drawing", lambda b=bgr: annotate_bgr(b, state["faces"]))
            timed("encoding", lambda d=drawn: writer.write(d))
    finally:
        capture.release()
        writer.release()
    rows = []
    for name in names:
        ms = np.asarray(times[name]) * 1000
        row = {"kind": "part", "what": name, "frames": len(ms), "p50_ms": float(np.percentile(ms, 50))}
        row |= {"mean_ms": float(ms.mean()), "cpu_ms_per_frame": 1000 * cpu[name] / len(ms)}
        rows.append(row)
        print(f"  {name}: p50 {row['p50_ms']:.2f} ms, mean {row['mean_ms']:.2f} ms", flush=True)
    return rows


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """The rows as a Markdown table."""
    lines = [
        "| kind | what | frames/s | ms per frame (p50) | ms per frame (mean) | CPU ms per frame |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        fps = f"{r['frames_per_s']:.1f}" if "frames_per_s" in r else ""
        p50 = f"{r['p50_ms']:.2f}" if "p50_ms" in r else ""
        mean = f"{r.get('mean_ms', r.get('ms_per_frame')):.2f}"
        lines.append(f"| {r['kind']} | {r['what']} | {fps} | {p50} | {mean} | {r['cpu_ms_per_frame']:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> Path:
    """Run every measurement, print the table, write JSON + Markdown; return the JSON path."""
    import cv2
    import keras

    args = parse_args(argv)
    load_start = [round(v, 2) for v in os.getloadavg()]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if args.model:
            model = Path(args.model)
        else:
            from serve import default_model  # benchmarks/serve.py

            model = default_model(folder)
        predictor = Predictor.from_file(model)
        predictor.warm_up()
        clip = make_clip(folder / "clip.mp4", args.frames)
        analyze_video(predictor, clip, max_frames=10, progress=False)  # warm: first calls, thread start
        rows = [
            end_to_end(
                "analyze_video (table)",
                lambda: analyze_video(predictor, clip, progress=False).attrs["frames_analysed"],
                args.frames,
            ),
            end_to_end(
                "predict on a video (table, annotated video, CSV, figure)",
                lambda: video_report(predictor, clip, folder / "out", progress=False)["frames_analysed"],
                args.frames,
            ),
        ]
        rows += parts(predictor, clip, folder / "parts.mp4")
    load_end = [round(v, 2) for v in os.getloadavg()]
    table = markdown_table(rows)
    print("\n" + table)
    backend = keras.backend.backend()
    out = Path(args.out or REPO_ROOT / "benchmarks" / "results" / f"video-cpu-{os.cpu_count()}-cores-{backend}.json")
    command = "python " + " ".join(shlex.quote(a) for a in ["benchmarks/video.py", *(argv or sys.argv[1:])])
    cpu = "unknown"
    if Path("/proc/cpuinfo").exists():
        found = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.MULTILINE)
        cpu = found.group(1).strip() if found else cpu
    run = {
        "command": command,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpu": cpu,
        "nproc": os.cpu_count(),
        "backend": backend,
        "keras": keras.__version__,
        "opencv": cv2.__version__,
        "load_average_start": load_start,
        "load_average_end": load_end,
        "model": args.model or "untrained build_fer_cnn(7)",
        "clip": f"{args.frames} frames, 640x480, 25 fps, mp4v, one face",
        "target_frames_per_s": TARGET_FPS,
    }
    atomic_write_json(out, {"run": run, "rows": rows})
    header = f"{cpu}, {run['nproc']} CPUs, {backend}, {run['date']}, load average {load_start} -> {load_end}"
    atomic_write_text(out.with_suffix(".md"), f"{header}\n\n`{command}`\n\n{table}")
    print(f"Wrote {out} and {out.with_suffix('.md')}")
    return out


if __name__ == "__main__":
    main()
