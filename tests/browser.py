"""A real Chromium for the tests of web pages: Debian's package, driven by Playwright.

Playwright downloads nothing here: `chromium` is installed with apt-get when missing, and one
browser serves the whole test session.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from infra.apt import ensure_command


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's Chromium (installed with apt-get when missing; Playwright downloads nothing)."""
    ensure_command("chromium", "chromium")
    path = shutil.which("chromium")
    assert path, "chromium is not on PATH after installing it"
    return path


@pytest.fixture(scope="session")
def browser(chromium: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # Chromium's sandbox needs a user namespace that root in a container does not have.
        instance = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        yield instance
        instance.close()
