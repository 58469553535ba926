"""The demo page of ``python -m fer_keras serve`` in headless Chromium (Debian's chromium + chromium-driver).

Run with ``make test-browser``, which installs the browser with apt-get when it is missing; without it
these tests are skipped. Chromium's fake camera plays a ``.y4m`` file made from the astronaut clip of the
video tests (tests/astronaut_video.py), and its fake permission prompt allows it.
"""

from __future__ import annotations

import io
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
BOX_RGB = (224, 64, 64)  # the page's --accent colour
SCREENSHOT = Path(__file__).resolve().parents[1] / "runs" / "browser" / "astronaut_page.png"
CAMERA_SCREENSHOT = SCREENSHOT.with_name("camera_page.png")
COLOURED_CHART_PIXELS = """
const chart = document.getElementById("chart");
const d = chart.getContext("2d").getImageData(0, 0, chart.width, chart.height).data;
let n = 0;
for (let i = 0; i < d.length; i += 4) {
  if (d[i + 3] && Math.max(d[i], d[i + 1], d[i + 2]) - Math.min(d[i], d[i + 1], d[i + 2]) > 60) n++;
}
return n;
"""

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not (CHROMIUM and CHROMEDRIVER),
        reason="Chromium and chromedriver are not installed: run `make test-browser` (installs them with apt-get)",
    ),
]


@pytest.fixture(scope="module")
def fake_camera(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list]:
    """The camera's video: the astronaut clip's frames with her face in view (pan, zoom), 640x480, as ``.y4m``."""
    from astronaut_video import astronaut_frames, write_y4m

    frames = astronaut_frames(pan=20, zoom=10, no_face=0)
    return write_y4m(tmp_path_factory.mktemp("camera") / "astronaut.y4m", frames), frames


@pytest.fixture(scope="module")
def browser(fake_camera: tuple[Path, list]) -> Iterator:
    """Headless Chromium driven through Debian's chromedriver (no driver download), with a fake camera."""
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"):
        options.add_argument(arg)
    for arg in ("--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"):
        options.add_argument(arg)
    options.add_argument(f"--use-file-for-fake-video-capture={fake_camera[0]}")
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()


def upload(driver, url: str, path: Path) -> str:
    """Open the page, choose ``path`` in its file input, wait for the answer; returns the page state."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(f"{url}/")
    driver.find_element(By.ID, "file").send_keys(str(path))
    body = driver.find_element(By.TAG_NAME, "body")
    WebDriverWait(driver, 180).until(lambda _: body.get_attribute("data-state") in ("done", "error"))
    return body.get_attribute("data-state")


def canvas_pixel(driver, x: float, y: float) -> tuple[int, int, int]:
    rgba = driver.execute_script(
        "return Array.from(document.getElementById('canvas').getContext('2d')"
        ".getImageData(arguments[0], arguments[1], 1, 1).data);",
        x,
        y,
    )
    return tuple(rgba[:3])


def test_page_shows_box_label_and_probabilities(browser, served_model: str, astronaut_png: Path) -> None:
    """Upload the astronaut photo; the screenshot is kept in runs/browser/ (git-ignored) to look at."""
    from selenium.webdriver.common.by import By

    state = upload(browser, served_model, astronaut_png)
    status = browser.find_element(By.ID, "status").text
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SCREENSHOT))
    print(f"screenshot: {SCREENSHOT}")
    assert state == "done", status
    assert "1 face found" in status
    (card,) = browser.find_elements(By.CSS_SELECTOR, ".face")
    emotion = card.get_attribute("data-emotion")
    assert emotion in card.find_element(By.TAG_NAME, "h2").text and "%" in card.text
    rows = card.find_elements(By.CSS_SELECTOR, ".row")
    assert len(rows) == 7 and len(card.find_elements(By.CSS_SELECTOR, ".row.top")) == 1
    x, y, w, h = (int(v) for v in card.get_attribute("data-box").split(","))
    assert abs(x - 177) <= 6 and abs(y - 66) <= 6 and abs(w - 95) <= 6
    # The box is drawn on the canvas at the face (canvas pixels = image pixels: 512 < 720 wide).
    assert browser.execute_script("return document.getElementById('canvas').width") == 512
    assert canvas_pixel(browser, x, y + h // 2) == BOX_RGB  # left edge of the box, mid-height
    assert canvas_pixel(browser, x + w // 2, y + h // 2) != BOX_RGB  # inside the box: the photo
    # The screenshot shows it too: the box's left edge at the same place in the rendered page.
    shot = Image.open(SCREENSHOT).convert("RGB")
    left, top = browser.execute_script(
        "const r = document.getElementById('canvas').getBoundingClientRect(); return [r.left, r.top];"
    )
    ratio = shot.width / browser.execute_script("return window.innerWidth")
    seen = shot.getpixel((round((left + x) * ratio), round((top + y + h // 2) * ratio)))
    assert all(abs(a - b) <= 3 for a, b in zip(seen, BOX_RGB, strict=True)), seen


def test_page_reports_no_face_and_bad_files(browser, served_model: str, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from skimage import data

    coffee = tmp_path / "coffee.jpg"
    Image.fromarray(data.coffee()).save(coffee)
    assert upload(browser, served_model, coffee) == "done"
    assert "No face found" in browser.find_element(By.ID, "status").text
    assert browser.find_elements(By.CSS_SELECTOR, ".face") == []

    broken = tmp_path / "broken.png"
    buffer = io.BytesIO()
    Image.fromarray(data.astronaut()).save(buffer, format="PNG")
    broken.write_bytes(buffer.getvalue()[:5000])
    assert upload(browser, served_model, broken) == "error"
    status = browser.find_element(By.ID, "status").text
    assert status.startswith("Error 400") and "truncated" in status


def test_camera_mode_labels_the_face_live_and_stops(browser, served_model: str, fake_camera) -> None:
    """Camera mode with the fake camera: a box over the face and an updating label within seconds; Photo mode
    stops the camera. The screenshot is kept in runs/browser/camera_page.png."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    _, frames = fake_camera
    browser.get(f"{served_model}/")
    browser.find_element(By.ID, "mode-camera").click()
    live = browser.find_element(By.ID, "live")
    answers = lambda: int(live.get_attribute("data-answers"))  # noqa: E731
    WebDriverWait(browser, 60).until(lambda _: answers() >= 3 and live.get_attribute("data-box"))
    assert browser.find_element(By.TAG_NAME, "body").get_attribute("data-camera") == "live"
    assert browser.find_element(By.ID, "video").is_displayed()
    assert not browser.find_element(By.ID, "drop").is_displayed()
    # The last answer's box and the overlay's pixels, read at one moment (JavaScript runs one thing at a time).
    box, edge, inside, size = browser.execute_script(
        """const live = document.getElementById("live"), overlay = document.getElementById("overlay");
        const [x, y, w, h] = live.dataset.box.split(",").map(Number), ctx = overlay.getContext("2d");
        const px = (a, b) => Array.from(ctx.getImageData(a, b, 1, 1).data);
        return [[x, y, w, h], px(x, y + Math.round(h / 2)), px(x + Math.round(w / 2), y + Math.round(h * 0.15)),
                [overlay.width, overlay.height]];"""
    )
    assert size == [640, 480]  # the overlay has the camera's pixels: boxes land where the server found them
    assert tuple(edge[:3]) == BOX_RGB and edge[3] == 255, edge  # the box's left edge
    # Inside the box, on the forehead, the overlay is clear: the live video shows through. (Not at the box's
    # centre: the nose tip's landmark square is drawn about 0.05 of the box's height below it.)
    assert inside[3] == 0, inside
    centres = [(f.face[0] + f.face[2] / 2, f.face[1] + f.face[3] / 2) for f in frames]
    cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
    assert min(abs(cx - x) + abs(cy - y) for x, y in centres) <= 12, box  # on the face of one of the frames
    seen, started = answers(), time.monotonic()
    WebDriverWait(browser, 30).until(lambda _: answers() >= seen + 3)  # the label keeps updating
    time.sleep(max(0.0, 3.0 - (time.monotonic() - started)))
    print(f"camera answers per second: {(answers() - seen) / (time.monotonic() - started):.1f}")
    assert live.get_attribute("data-emotion") in live.text and "%" in live.text
    assert browser.execute_script(COLOURED_CHART_PIXELS) > 20  # the curves are drawn on the chart
    CAMERA_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(CAMERA_SCREENSHOT))
    print(f"screenshot: {CAMERA_SCREENSHOT}")

    browser.execute_script("window.cameraTracks = camera.stream.getTracks();")
    browser.find_element(By.ID, "mode-photo").click()
    assert browser.find_element(By.TAG_NAME, "body").get_attribute("data-camera") == "off"
    assert browser.execute_script(
        "return [window.cameraTracks.map((t) => t.readyState), document.getElementById('video').srcObject];"
    ) == [["ended"], None]
    assert browser.find_element(By.ID, "drop").is_displayed()
    assert not browser.find_element(By.ID, "video").is_displayed()
    stopped = answers()
    time.sleep(1.5)
    assert answers() == stopped  # no more frames sent
