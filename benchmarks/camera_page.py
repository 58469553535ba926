"""The page's Camera mode with the published model: answers per second for one camera client, and a screenshot.

Starts ``fer-keras serve`` (the published fer7 with its ONNX copy, YuNet) on 127.0.0.1, opens its page in
Debian's headless Chromium whose fake camera plays the astronaut clip of the tests (640x480), switches to
Camera, counts the answers the page gets over ``--seconds`` and saves a screenshot.

    python benchmarks/camera_page.py [--seconds 10] [--screenshot figures/camera_page_fer7.png]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "tests"))

from benchmarks.serve import machine, start_server  # noqa: E402
from fer_keras.io import atomic_write_json  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="fer7", help="a published model's name or a model file (default fer7)")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long answers are counted")
    parser.add_argument("--screenshot", default=str(REPO_ROOT / "figures" / "camera_page_fer7.png"))
    parser.add_argument("--out", default=str(REPO_ROOT / "benchmarks" / "results" / "camera-page-cpu-2-cores.json"))
    args = parser.parse_args(argv)
    from astronaut_video import astronaut_frames, write_y4m
    from selenium import webdriver
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from fer_keras.presets import model_file

    info = machine()
    with tempfile.TemporaryDirectory() as tmp:
        clip = write_y4m(Path(tmp) / "astronaut.y4m", astronaut_frames(pan=40, zoom=20, no_face=0))
        server, url = start_server(model_file(args.model), 0, Path(tmp) / "server.log")
        options = webdriver.ChromeOptions()
        options.binary_location = shutil.which("chromium") or shutil.which("chromium-browser")
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
            options.add_argument(arg)
        options.add_argument("--window-size=1280,760")
        options.add_argument("--use-fake-device-for-media-stream")
        options.add_argument("--use-fake-ui-for-media-stream")
        options.add_argument(f"--use-file-for-fake-video-capture={clip}")
        service = webdriver.ChromeService(executable_path=shutil.which("chromedriver"))
        driver = webdriver.Chrome(options=options, service=service)
        try:
            driver.get(f"{url}/")
            driver.find_element(By.ID, "mode-camera").click()
            live = driver.find_element(By.ID, "live")

            def answers() -> int:
                return int(live.get_attribute("data-answers") or 0)

            WebDriverWait(driver, 120).until(lambda _: answers() >= 5 and live.get_attribute("data-box"))
            seen, started = answers(), time.monotonic()
            time.sleep(args.seconds)
            rate = (answers() - seen) / (time.monotonic() - started)
            Path(args.screenshot).parent.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(args.screenshot)
            status = driver.find_element(By.ID, "status").text
        finally:
            driver.quit()
            server.terminate()
            server.wait(timeout=30)
    info["load_average_end"] = [round(v, 2) for v in os.getloadavg()]
    result = {"machine": info, "model": args.model, "answers_per_s": round(rate, 2), "page_status": status}
    atomic_write_json(args.out, result)
    print(f"{rate:.1f} answers/s; {status}; screenshot {args.screenshot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
