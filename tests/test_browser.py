"""The demo page of ``python -m fer_keras serve`` in headless Chromium (Debian's chromium + chromium-driver).

Run with ``make test-browser``, which installs the browser with apt-get when it is missing; without it
these tests are skipped.
"""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
BOX_RGB = (224, 64, 64)  # the page's --accent colour
SCREENSHOT = Path(__file__).resolve().parents[1] / "runs" / "browser" / "astronaut_page.png"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not (CHROMIUM and CHROMEDRIVER),
        reason="Chromium and chromedriver are not installed: run `make test-browser` (installs them with apt-get)",
    ),
]


@pytest.fixture(scope="module")
def browser() -> Iterator:
    """Headless Chromium driven through Debian's chromedriver (no driver download)."""
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"):
        options.add_argument(arg)
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
