"""The viewer in a real headless browser (Debian chromium, driven by Selenium through Debian's
chromedriver): load `/`, play a rollout, and check the timeline marks the switch points that the
API returns for the same request."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest

from tests.bundle_helpers import make_store
from tests.servers import policy_server

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.fail("Debian chromium and chromium-driver are needed: `make browser` (apt-get install chromium chromium-driver)")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"):
        opts.add_argument(flag)
    opts.add_argument("--window-size=1280,900")
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)


@pytest.mark.parametrize("policy", ["internal-rl", "gt-controllers"])
def test_viewer_plays_a_rollout_and_marks_its_switches(tmp_path: Path, policy: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    store = make_store(tmp_path / "store")
    with policy_server(tmp_path, {"IRL_MODEL_SOURCE": "local", "IRL_MODELS_DIR": str(store)}) as url:
        def rollout(seed: int) -> dict:
            return httpx.post(f"{url}/v1/rollouts", json={"task": "post", "seed": seed, "policy": policy}, timeout=60).json()

        # an episode long enough to show several segments (the untrained test models often fail early)
        seed, api = next((s, r) for s in range(200) if (r := rollout(s))["steps"] >= 6 and len(r["switches"]) >= 2)
        driver = browser()
        try:
            driver.get(f"{url}/")
            box = driver.find_element(By.ID, "seed")
            box.clear()
            box.send_keys(str(seed))
            Select(driver.find_element(By.ID, "policy")).select_by_visible_text(policy)
            speed = driver.find_element(By.ID, "speed")
            speed.clear()
            speed.send_keys("5")
            driver.find_element(By.ID, "play").click()
            WebDriverWait(driver, 60).until(lambda d: d.find_element(By.ID, "status").text == "done")
            marks = [int(m.get_attribute("data-step")) for m in driver.find_elements(By.CSS_SELECTOR, "#timeline .switch")]
            segments = driver.find_elements(By.CSS_SELECTOR, "#timeline .segment")
            summary = driver.find_element(By.ID, "summary").text
            shown = driver.execute_script("return window.lastRollout.positions")
            png = tmp_path / "viewer.png"
            driver.save_screenshot(str(png))
        finally:
            driver.quit()
    assert marks == api["switches"]
    assert len(segments) == len(api["switches"])
    assert f"{api['steps']} steps" in summary and f"{len(api['switches'])} switches" in summary
    assert shown == api["positions"]
    assert png.stat().st_size > 5000
    shutil.copy(png, tmp_path.parent / f"viewer-{policy}.png")  # kept beside the test dir for a look
