"""The HTTP service as a real ``python -m fer_keras serve`` process on 127.0.0.1, spoken to with httpx."""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest
from conftest import SERVE_MAX_UPLOAD_MB
from PIL import Image

from fer_keras import cli
from fer_keras.constants import FER7_CLASSES
from fer_keras.predict import get_predictor
from fer_keras.predict.service import DEFAULT_MAX_UPLOAD_MB

LIMIT = int(SERVE_MAX_UPLOAD_MB * 2**20)
REPO_ROOT = Path(__file__).resolve().parents[1]


def post_file(url: str, data: bytes, name: str = "photo.png", mime: str = "image/png") -> httpx.Response:
    return httpx.post(f"{url}/predict", files={"file": (name, data, mime)}, timeout=60)


def still_serving(url: str, astronaut_png: Path) -> None:
    """The server answers /health and a good photo after a bad request."""
    assert httpx.get(f"{url}/health", timeout=30).status_code == 200
    response = post_file(url, astronaut_png.read_bytes())
    assert response.status_code == 200 and len(response.json()["faces"]) == 1


def test_health_names_model_and_classes(served_model: str) -> None:
    response = httpx.get(f"{served_model}/health", timeout=30)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["model"] == "model.keras"
    assert body["classes"] == list(FER7_CLASSES)
    assert body["input_shape"] == [48, 48, 1]
    assert body["max_upload_bytes"] == LIMIT
    assert (body["detector"], body["runtime"]) == ("yunet", "keras")  # no model.onnx beside model.keras


def test_predict_astronaut_matches_the_library(served_model: str, astronaut_png: Path, fer7_model_file: Path) -> None:
    response = post_file(served_model, astronaut_png.read_bytes(), "astronaut.png")
    assert response.status_code == 200
    body = response.json()
    assert (body["width"], body["height"]) == (512, 512)
    (face,) = body["faces"]
    assert all(abs(a - b) <= 6 for a, b in zip(face["box"], (178, 63, 90, 113), strict=True))  # YuNet's box
    assert set(face["landmarks"]) == {"right_eye", "left_eye", "nose", "mouth_right", "mouth_left"}
    assert (body["emotion"], body["confidence"]) == (face["emotion"], face["confidence"])
    assert "message" not in body
    # The server (another process, same model file) answers what predict_faces answers here.
    assert body["faces"] == json.loads(json.dumps(get_predictor(fer7_model_file).predict(astronaut_png)))


def test_photo_without_face_is_200_with_message(served_model: str) -> None:
    from skimage import data

    buffer = io.BytesIO()
    Image.fromarray(data.coffee()).save(buffer, format="JPEG")
    response = post_file(served_model, buffer.getvalue(), "coffee.jpg", "image/jpeg")
    assert response.status_code == 200
    body = response.json()
    assert body["faces"] == [] and body["emotion"] is None and body["confidence"] is None
    assert "No face found" in body["message"]


@pytest.mark.parametrize(
    ("case", "expected"),
    [("not an image", "not an image or is truncated"), ("truncated", "truncated"), ("empty", "is empty")],
)
def test_bad_image_is_400_and_server_keeps_serving(
    served_model: str, astronaut_png: Path, case: str, expected: str
) -> None:
    png = astronaut_png.read_bytes()
    data = {"not an image": b"%PDF-1.4 definitely not a photo", "truncated": png[: len(png) // 3], "empty": b""}[case]
    response = post_file(served_model, data, "upload.png")
    assert response.status_code == 400
    assert expected in response.json()["detail"] and "'upload.png'" in response.json()["detail"]
    still_serving(served_model, astronaut_png)


def test_missing_file_field_is_422(served_model: str) -> None:
    response = httpx.post(f"{served_model}/predict", data={"image": "x"}, timeout=30)
    assert response.status_code == 422
    assert "file" in json.dumps(response.json()["detail"])


def test_upload_over_the_limit_is_413(served_model: str, astronaut_png: Path) -> None:
    big = np.random.default_rng(0).integers(0, 256, LIMIT + 1000, dtype=np.uint8).tobytes()
    response = post_file(served_model, big, "big.png")  # Content-Length declared: refused before parsing
    assert response.status_code == 413
    assert f"over the limit of {SERVE_MAX_UPLOAD_MB:g} MB" in response.json()["detail"]

    def chunks():  # no Content-Length: counted while it arrives
        yield b"--b\r\nContent-Disposition: form-data; name=file; filename=big.png\r\n\r\n"
        for start in range(0, len(big), 65536):
            yield big[start : start + 65536]
        yield b"\r\n--b--\r\n"

    response = httpx.post(
        f"{served_model}/predict",
        content=chunks(),
        headers={"content-type": "multipart/form-data; boundary=b"},
        timeout=60,
    )
    assert response.status_code == 413
    # Just under the limit: the file itself is checked, then decoded (random bytes: 400).
    assert post_file(served_model, big[: LIMIT - 10], "almost.png").status_code == 400
    still_serving(served_model, astronaut_png)


def test_100_concurrent_requests_get_identical_answers(served_model: str, astronaut_png: Path) -> None:
    png = astronaut_png.read_bytes()

    async def burst() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=100)
        async with httpx.AsyncClient(base_url=served_model, timeout=300, limits=limits) as client:
            requests = [client.post("/predict", files={"file": ("a.png", png, "image/png")}) for _ in range(100)]
            return await asyncio.gather(*requests)

    responses = asyncio.run(burst())
    assert [r.status_code for r in responses] == [200] * 100
    bodies = {r.content for r in responses}
    assert len(bodies) == 1
    assert len(json.loads(bodies.pop())["faces"]) == 1


def test_page_and_docs_are_served(served_model: str) -> None:
    page = httpx.get(f"{served_model}/", timeout=30)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert 'type="file"' in html and "<canvas" in html and 'fetch("predict"' in html
    assert 'id="mode-camera"' in html and "getUserMedia" in html and "<video" in html  # Camera mode
    for external in ("http://", "https://", "<script src", "<link", "@import", "url("):
        assert external not in html  # self-contained: no CDN script, stylesheet, font or image
    assert httpx.get(f"{served_model}/docs", timeout=30).status_code == 200
    schema = httpx.get(f"{served_model}/openapi.json", timeout=30).json()
    assert {"/health", "/predict"} <= set(schema["paths"])


def test_default_upload_limit_is_10_mb() -> None:
    from fer_keras.cli import build_parser

    assert DEFAULT_MAX_UPLOAD_MB == 10.0
    assert build_parser().parse_args(["serve", "m.keras"]).max_upload_mb == 10.0


def test_serve_refuses_to_start_with_a_bad_model(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """`serve` with a missing or unloadable model exits 2 naming the file, before anything listens."""
    missing = tmp_path / "missing.keras"
    assert cli.main(["serve", str(missing), "--port", "1"]) == 2
    assert f"error: Model file {missing} does not exist" in capsys.readouterr().err
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    bad.with_name("bad.classes.json").write_text(json.dumps({"class_names": list(FER7_CLASSES)}))
    assert cli.main(["serve", str(bad), "--port", "1"]) == 2
    assert f"error: Cannot load model file {bad}" in capsys.readouterr().err


def test_camera_clients_with_malformed_frames_get_no_5xx(served_process: tuple[str, int], tmp_path: Path) -> None:
    """A short run of benchmarks/camera_load.py: 4 camera clients, a frame every 150 ms each for 5 s, 10 % of the
    bodies malformed. Every good frame is answered 200, every malformed one 400 or 422, none 5xx, no connection
    drops, and the server's memory stays flat."""
    url, pid = served_process
    out = tmp_path / "load.json"
    command = [sys.executable, str(REPO_ROOT / "benchmarks" / "camera_load.py"), "--url", url, "--pid", str(pid)]
    command += ["--clients", "4", "--seconds", "5", "--warmup", "1", "--bad", "0.1", "--out", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    (row,) = json.loads(out.read_text())["rows"]
    assert row["5xx"] == 0 and row["transport_errors"] == 0, row
    assert row["good_200"] == row["good_frames"] > 10, row
    assert sum(row["malformed"].values()) >= 1, row
    assert all(key.endswith((": 400", ": 422")) for key in row["malformed"]), row["malformed"]
    assert row["rss_end_mb"] - row["rss_start_mb"] < 32, row
    assert row["p50_ms"] > 0 and row["requests_per_s"] > 1
