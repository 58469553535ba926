"""The reference of issue 24's targets, measured in the same run: the `fer` package (25.10.3) on the astronaut.

`fer` is not a dependency of fer_keras: it is installed, without its dependencies, into a folder of its own
(``pip install --no-deps --target DIR fer==25.10.3 "setuptools<81"``; setuptools for its ``pkg_resources``) and run
with this environment's TensorFlow and OpenCV, its Haar cascade path (``FER(mtcnn=False)``, the default; MTCNN
needs PyTorch). Two numbers, as for fer_keras:

* ``detect_emotions`` on the astronaut PNG's path (decode + Haar + its classifier), p50 of ``--runs`` after warm-up;
* a whole one-photo process (``python -c "from fer.fer import FER; ..."``), median of ``--starts``.

Used by ``python benchmarks/serve.py --fer-path DIR`` (the reference rows of its table, same photo, same run).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

VERSION = "25.10.3"
ONE_PHOTO = "import sys; from fer.fer import FER; print(FER(mtcnn=False).detect_emotions(sys.argv[1]))"
LATENCY = """
import json, sys, time
import numpy as np
import fer
from fer.fer import FER
detector, photo, runs = FER(mtcnn=False), sys.argv[1], int(sys.argv[2])
faces = detector.detect_emotions(photo)
for _ in range(10):
    detector.detect_emotions(photo)
times, cpu = [], time.process_time()
for _ in range(runs):
    start = time.perf_counter()
    detector.detect_emotions(photo)
    times.append(time.perf_counter() - start)
ms = np.asarray(times) * 1000
print(json.dumps({"version": fer.__version__, "faces": len(faces), "p50_ms": float(np.percentile(ms, 50)),
                  "p95_ms": float(np.percentile(ms, 95)), "cpu_ms": (time.process_time() - cpu) * 1000 / runs}))
"""


def measure(fer_path: Path, png: bytes, runs: int, starts: int) -> dict:
    """The two numbers above for the photo ``png``, run in child processes that find `fer` on ``fer_path``."""
    env = {**os.environ, "PYTHONPATH": str(fer_path), "TF_CPP_MIN_LOG_LEVEL": "2"}
    with tempfile.TemporaryDirectory() as tmp:
        photo = Path(tmp) / "astronaut.png"
        photo.write_bytes(png)
        out = subprocess.run(
            [sys.executable, "-c", LATENCY, str(photo), str(runs)], env=env, check=True, capture_output=True, text=True
        )
        result = json.loads(out.stdout.strip().splitlines()[-1])
        times = []
        for _ in range(starts):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", ONE_PHOTO, str(photo)], env=env, check=True, capture_output=True)
            times.append((time.perf_counter() - start) * 1000)
    result["process_median_ms"] = float(np.median(times)) if times else None
    result["starts"] = starts
    return result
