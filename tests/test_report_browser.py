"""report.html read as a reader would: headless Chromium, no console errors, no requests.

Needs Debian's chromium at /usr/bin/chromium (``make pytest`` installs it when run as root);
elsewhere the test is skipped and says how to enable it. A full-page screenshot is saved to
out/report-screenshot.png for a human to look at.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from iamforensics.report import build_report
from tests.analysis_helpers import samples_case
from tests.conftest import ROOT
from tests.test_report_build import SECTIONS  # the report's sections, listed once for both tests

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
]
SCREENSHOT = ROOT / "out" / "report-screenshot.png"


@pytest.fixture(scope="module")
def report_html(tmp_path_factory) -> Path:
    # The page is what this test reads; figure files (saved separately) are not needed.
    return build_report(samples_case(), tmp_path_factory.mktemp("report"), formats=())


def require_chromium(path: Path = CHROMIUM) -> None:
    if not path.exists():
        pytest.skip(
            f"headless Chromium not installed at {path}: 'apt-get install chromium' (Debian), or run "
            "'make pytest' as root, which installs it (tools/ensure_chromium.sh)"
        )


@pytest.fixture(scope="module")
def page_run(report_html):
    require_chromium()
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is a dev dependency: pip install -e '.[dev]'"
    )
    url = report_html.resolve().as_uri()
    console: list[str] = []
    requests: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: console.append(f"{m.type}: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(url, wait_until="load")
            images = page.evaluate(
                "() => Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth])"
            )
            headings = page.evaluate(
                "() => Array.from(document.querySelectorAll('section')).map(s => [s.id, s.querySelector('h2').textContent])"
            )
            scripts = page.evaluate("() => document.scripts.length")
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOT), full_page=True)
        finally:
            browser.close()
    return {
        "url": url,
        "console": console,
        "requests": requests,
        "images": images,
        "headings": headings,
        "scripts": scripts,
    }


def test_no_console_errors(page_run):
    assert page_run["console"] == []


def test_no_network_requests_but_the_page(page_run):
    # data: images are not requests; anything else (fonts, scripts, beacons) would be.
    assert [u for u in page_run["requests"] if not u.startswith("data:")] == [page_run["url"]]


def test_every_image_loaded(page_run):
    images = page_run["images"]
    assert len(images) >= 10
    assert all(complete and width > 0 for _, complete, width in images), images


def test_main_sections_present(page_run):
    ids = [i for i, _ in page_run["headings"]]
    assert ids == SECTIONS
    assert all(title.strip() for _, title in page_run["headings"])
    assert page_run["scripts"] == 0


def test_screenshot_saved(page_run):
    assert SCREENSHOT.stat().st_size > 50_000


def test_skips_with_a_hint_when_chromium_is_missing():
    with pytest.raises(pytest.skip.Exception, match="apt-get install chromium"):
        require_chromium(Path("/nonexistent/chromium"))


def test_chromium_install_script_never_fails():
    script = ROOT / "tools" / "ensure_chromium.sh"
    env = {**os.environ, "CHROMIUM": "/nonexistent/chromium", "IAMFORENSICS_NO_APT": "1"}
    run = subprocess.run(["sh", str(script)], env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0
    assert "apt-get install chromium" in run.stdout + run.stderr
