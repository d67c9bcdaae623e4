"""A running demo stack (broker, simulator, Home Assistant) per cell count, and Chromium.

Chromium is Debian's (`apt-get install chromium`, done by scripts/setup); Playwright
only drives it, so no browser is downloaded.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright, sync_playwright

from tests.broker import free_port

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "browser-screenshots"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
STARTUP_S = 180.0
SIZES = {"desktop": (1280, 900), "phone": (390, 844)}
OFFLINE_ONLY = "net::ERR_NAME_NOT_RESOLVED (https://brands.home-assistant.io/"

# The default dashboard (storage mode) holds the card alone, so its editor can be opened.
OVERVIEW = {
    "version": 1,
    "minor_version": 1,
    "key": "lovelace",
    "data": {
        "config": {
            "views": [{"title": "Cells", "cards": [{"type": "custom:victron-balance-cells-card"}]}]
        }
    },
}


@dataclass
class Stack:
    """One demo stack: Home Assistant's URL and the simulated pack's cell count."""

    url: str
    cells: int
    process: subprocess.Popen[bytes]
    log: Path


@pytest.fixture(scope="module", params=[4, 16, 24], ids=lambda cells: f"{cells}cells")
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    cells: int = request.param
    config = tmp_path_factory.mktemp(f"ha-{cells}")
    (config / ".storage").mkdir()
    (config / ".storage" / "lovelace").write_text(json.dumps(OVERVIEW))
    port = free_port()
    log = config / "demo.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "demo",
                "--port",
                str(port),
                "--config",
                str(config),
                "--cells",
                str(cells),
            ],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + STARTUP_S
        # The demo prints this line once Home Assistant runs with the integration set up.
        while b"Victron Balance demo is running" not in log.read_bytes():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the demo did not start:\n{log.read_text()[-4000:]}")
            time.sleep(0.2)
        yield Stack(f"http://127.0.0.1:{port}", cells, process, log)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    # Playwright starts Chromium with a fresh temporary --user-data-dir of its own.
    browser = playwright.chromium.launch(
        executable_path=CHROMIUM,
        headless=True,
        args=[
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ],
    )
    yield browser
    browser.close()


@dataclass
class Console:
    """What the page logged as an error, and uncaught exceptions."""

    errors: list[str] = field(default_factory=list)

    def on_message(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        text = f"{message.text} ({message.location.get('url')})"
        # This machine has no internet: HA 2025.4 fetches brand images from the brands
        # CDN (newer HA serves the integration's own brand/ folder).
        if OFFLINE_ONLY in text:
            return
        self.errors.append(text)

    def on_error(self, error: Any) -> None:
        self.errors.append(f"uncaught: {error}")


@pytest.fixture
def open_page(browser: Browser) -> Iterator[Any]:
    """open_page(size) -> (page, console) in a fresh browser context; closed afterwards."""
    contexts: list[Any] = []

    def open_at(size: str = "desktop") -> tuple[Page, Console]:
        width, height = SIZES[size]
        context = browser.new_context(viewport={"width": width, "height": height})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(60_000)  # a loaded machine is slow, never wrong
        console = Console()
        page.on("console", console.on_message)
        page.on("pageerror", console.on_error)
        return page, console

    yield open_at
    for index, context in enumerate(contexts):
        for number, page in enumerate(context.pages):
            # The last picture of every page, to see what a failing test saw.
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / f"last-{index}-{number}.png"))
        context.close()


def screenshot(page: Page, stack: Stack, name: str) -> None:
    """Written for review under browser-screenshots/ (not committed)."""
    folder = SCREENSHOTS / f"{stack.cells}cells"
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)
