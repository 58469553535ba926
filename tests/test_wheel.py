"""fer_keras as people install it: the wheel, installed with ``pip install --no-deps --target`` into an empty
folder and run from a temporary folder outside the checkout (that folder on ``PYTHONPATH``): the published
models travel inside it, ``predict`` answers on the astronaut photo with JSON on stdout, no TensorFlow
start-up line on stderr, ``--version``, and ``fer-keras`` behaves as ``python -m fer_keras``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
MAX_WHEEL_BYTES = 64 * 1024 * 1024
STARTUP_LINES = ("absl::InitializeLog", "oneDNN custom operations", "This TensorFlow binary", "cpu_feature_guard")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from a copy of the package's sources (the checkout gets no build/ folder)."""
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO_ROOT / name, source / name)
    shutil.copytree(REPO_ROOT / "fer_keras", source / "fer_keras", ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("dist")
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), "."]
    done = subprocess.run(command, cwd=source, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    (built,) = out.glob("fer_keras-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty folder the wheel is installed into, without dependencies (they are this environment's)."""
    target = tmp_path_factory.mktemp("site")
    command = [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return target


def run_installed(target: Path, cwd: Path, *command: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "FER_KERAS_DATA")}
    return subprocess.run(
        list(command), cwd=cwd, env={**env, "PYTHONPATH": str(target)}, capture_output=True, text=True, timeout=600
    )


def test_wheel_carries_the_published_models(wheel: Path) -> None:
    size = wheel.stat().st_size
    print(f"{wheel.name}: {size:,} bytes")
    assert size < MAX_WHEEL_BYTES
    names = set(zipfile.ZipFile(wheel).namelist())
    published = ("fer7.keras", "fer7.classes.json", "fer4.keras", "fer4.classes.json", "SHA256SUMS", "fer7.onnx")
    for name in (*published, "face_detection_yunet_2026may.onnx", "face_detection_yunet.LICENSE"):
        assert f"fer_keras/assets/{name}" in names
    assert "fer_keras/templates/model_card.md" in names and "fer_keras/predict/page.html" in names


def test_installed_predict_answers_outside_the_checkout(installed: Path, astronaut_png: Path, tmp_path: Path) -> None:
    photo = str(shutil.copy(astronaut_png, tmp_path / "astronaut.png"))
    where = run_installed(installed, tmp_path, sys.executable, "-c", "import fer_keras; print(fer_keras.__file__)")
    assert Path(where.stdout.strip()).is_relative_to(installed), where.stdout + where.stderr
    version = run_installed(installed, tmp_path, sys.executable, "-m", "fer_keras", "--version")
    assert version.returncode == 0 and version.stdout.startswith("fer_keras ")
    runs = {
        "python -m fer_keras": run_installed(installed, tmp_path, sys.executable, "-m", "fer_keras", "predict", photo),
        "fer-keras": run_installed(installed, tmp_path, str(installed / "bin" / "fer-keras"), "predict", photo),
    }
    answers = []
    for how, done in runs.items():
        assert done.returncode == 0, f"{how}: {done.stderr[-3000:]}"
        (listed,) = json.loads(done.stdout)  # the whole of stdout is the JSON
        (face,) = listed["faces"]
        assert face["emotion"] == "happy", face
        assert not [line for line in done.stderr.splitlines() if any(s in line for s in STARTUP_LINES)], done.stderr
        answers.append(listed)
    assert answers[0] == answers[1]  # the console script and python -m fer_keras behave the same


def test_installed_serve_answers_over_http_with_its_page(installed: Path, astronaut_png: Path, tmp_path: Path) -> None:
    import socket
    import time

    import httpx

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    server = subprocess.Popen(  # a real server process of the installed package, from outside the checkout
        [sys.executable, "-m", "fer_keras", "serve", "--port", str(port), "--log-level", "warning"],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(installed)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:  # until the model is loaded and the server listens
            try:
                health = httpx.get(f"{url}/health", timeout=5).json()
                break
            except httpx.TransportError:
                assert server.poll() is None, server.stderr.read()[-3000:]
                assert time.monotonic() < deadline, "serve did not answer within 180 s"
                time.sleep(0.5)
        assert health["status"] == "ok" and health["model"] == "fer7.keras"
        assert "<html" in httpx.get(f"{url}/", timeout=10).text.lower()  # the demo page travels in the wheel
        files = {"file": ("astronaut.png", astronaut_png.read_bytes(), "image/png")}
        answer = httpx.post(f"{url}/predict", files=files, timeout=60).json()
        assert answer["emotion"] == "happy" and len(answer["faces"]) == 1
    finally:
        server.terminate()
        server.wait(timeout=30)
