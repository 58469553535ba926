"""OpenCV's thread count for YuNet, measured as ratios in one run: one thread against two (OpenCV's default here).

On the astronaut PNG (512x512, one face), for each ``cv2.setNumThreads`` value, alternating, ``--repeats`` times:

* YuNet alone, run by OpenCV's ``cv2.FaceDetectorYN`` (``YuNetDetector(engine="opencv")``; the default engine,
  ONNX Runtime, does not use OpenCV's threads): wall and CPU milliseconds per photo;
* the whole photo path (``Predictor.predict`` on the PNG bytes, ONNX runtime): photos/s and CPU per photo with one
  caller and with ``--callers`` threads calling at once (as ``serve`` does under load).

Usage::

    python benchmarks/opencv_threads.py [--repeats 2] [--callers 8] [--out FILE]
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from fer_keras.io import atomic_write_json

REPO_ROOT = Path(__file__).resolve().parents[1]


def per_call(fn, runs: int) -> tuple[float, float]:
    """Mean wall and CPU milliseconds of ``fn`` over ``runs`` calls after 5 untimed ones."""
    for _ in range(5):
        fn()
    cpu, start = time.process_time(), time.perf_counter()
    for _ in range(runs):
        fn()
    return (time.perf_counter() - start) * 1000 / runs, (time.process_time() - cpu) * 1000 / runs


def rate(fn, callers: int, per_caller: int) -> tuple[float, float]:
    """Calls/s and CPU milliseconds per call of ``callers`` threads each calling ``fn`` ``per_caller`` times."""
    threads = [threading.Thread(target=lambda: [fn() for _ in range(per_caller)]) for _ in range(callers)]
    cpu, start = time.process_time(), time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    calls = callers * per_caller
    return calls / (time.perf_counter() - start), (time.process_time() - cpu) * 1000 / calls


def main(argv: list[str] | None = None) -> Path:
    """Measure, print and write the JSON."""
    import cv2
    from serve import astronaut_png, machine

    from fer_keras.predict import Predictor
    from fer_keras.predict.detectors import YuNetDetector
    from fer_keras.predict.images import read_image

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--callers", type=int, default=8)
    parser.add_argument("--out", default=str(REPO_ROOT / "benchmarks" / "results" / "opencv-threads.json"))
    args = parser.parse_args(argv)
    png = astronaut_png()
    model = REPO_ROOT / "fer_keras" / "assets" / "fer7.keras"
    predictor = Predictor.from_file(model, detector=YuNetDetector(engine="opencv"))  # OpenCV's threads run it
    rgb = np.asarray(read_image(png))
    rows = []
    for repeat in range(args.repeats):
        for threads in (2, 1):
            cv2.setNumThreads(threads)
            detect_ms, detect_cpu = per_call(lambda: predictor.detector.detect_faces(rgb), 100)
            predictor.predict(png)
            one, one_cpu = rate(lambda: predictor.predict(png), 1, 60)
            many, many_cpu = rate(lambda: predictor.predict(png), args.callers, 15)
            rows.append(
                {
                    "repeat": repeat,
                    "opencv_threads": threads,
                    "detect_ms": detect_ms,
                    "detect_cpu_ms": detect_cpu,
                    "photos_per_s_1_caller": one,
                    "cpu_ms_per_photo_1_caller": one_cpu,
                    f"photos_per_s_{args.callers}_callers": many,
                    f"cpu_ms_per_photo_{args.callers}_callers": many_cpu,
                }
            )
            print(
                f"cv2 threads {threads}: YuNet {detect_ms:.1f} ms (CPU {detect_cpu:.1f}); photo path 1 caller "
                f"{one:.1f}/s (CPU {one_cpu:.1f} ms), {args.callers} callers {many:.1f}/s (CPU {many_cpu:.1f} ms)",
                flush=True,
            )
    out = Path(args.out)
    atomic_write_json(out, {"run": machine(), "callers": args.callers, "rows": rows})
    print(f"Wrote {out}")
    return out


if __name__ == "__main__":
    main()
