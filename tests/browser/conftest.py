"""A Chromium browser for the session (Playwright on Debian's ``chromium`` binary) and a page
per test that records console errors and refuses every request that leaves the archive."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, Route, sync_playwright

from tests.conftest import Archive

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "services/products/portal/web/node_modules/axe-core/axe.min.js"
"""axe-core from the portal's npm packages (installed by ``make install``)."""

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_path() -> str | None:
    """The system Chromium (Debian's ``chromium`` package), if installed."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless Chromium per test module: Playwright's sync API runs an event loop in
    this thread while it lives, which later tests that start their own loop must not meet."""
    executable = chromium_path()
    if executable is None:
        pytest.skip("no chromium binary on PATH: `make install-system` installs Debian's chromium")
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@dataclass
class Watch:
    """What a page did that it must not: console errors, uncaught exceptions, foreign requests."""

    errors: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)


@pytest.fixture
def watch() -> Watch:
    """The current page's record of errors."""
    return Watch()


@pytest.fixture
def page(browser: Browser, archive: Archive, watch: Watch) -> Iterator[Page]:
    """A fresh page (own storage) on the served archive, desktop-sized."""
    context = browser.new_context(
        base_url=archive.base_url, viewport={"width": 1280, "height": 900}, accept_downloads=True
    )
    home = urlsplit(archive.base_url).netloc

    def gate(route: Route) -> None:
        url = route.request.url
        if url.startswith(("data:", "blob:")) or urlsplit(url).netloc == home:
            route.continue_()
        else:
            watch.foreign.append(url)
            route.abort()

    context.route("**/*", gate)
    tab = context.new_page()
    tab.on("console", lambda m: watch.errors.append(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda e: watch.errors.append(f"uncaught: {e}"))
    yield tab
    context.close()
    assert not watch.errors, f"console errors: {watch.errors}"
    assert not watch.foreign, f"requests outside the archive: {watch.foreign}"


@pytest.fixture(scope="session")
def axe_source() -> str:
    """axe-core's script, injected into pages by the accessibility test."""
    if not AXE.is_file():
        pytest.fail(f"{AXE.relative_to(ROOT)} is missing: run `make install` (npm ci)")
    return AXE.read_text()
