"""Shared fixtures for the plugin's own tests."""

from __future__ import annotations

import shutil

import pytest

# pytester's in-process runs restore sys.modules afterwards, and numpy's C extension cannot be
# imported twice in one process: import it here so every inner session finds it loaded.
import numpy  # noqa: F401  isort: skip
import scipy.stats  # noqa: F401  isort: skip

from fake_provider import fake_provider  # noqa: F401  (the fixture, for every test module)

pytest_plugins = ["pytester"]

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


# Module scope, not session: Playwright's sync API keeps an event loop running in the main
# thread while it is open, and a later test's asyncio.run() on the same xdist worker would fail.
@pytest.fixture(scope="module")
def browser():
    """Debian's headless Chromium driven by Playwright (never `playwright install`)."""
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("Browser tests need Debian's chromium: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
