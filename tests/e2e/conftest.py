"""End-to-end browser fixtures: real headless Chromium (Debian's `chromium` package) driven by
Playwright's sync API.

Playwright's own `playwright install` downloads browser builds from a CDN, which these machines
cannot reach, so the browser comes from apt instead: `ensure_chromium()` installs it when it is
missing and we are root with apt-get. Anywhere else the tests fail with a message naming what to
install; they are never skipped.
"""
from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = "/usr/bin/chromium"
APT_TIMEOUT = 900  # seconds, for each of `apt-get update` and `apt-get install`
# Flags for running as root inside a container: no user namespaces for the sandbox, and a
# /dev/shm that may be too small for Chromium's shared memory.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"]

_HERE = Path(__file__).resolve().parent


def _apt_get(*args: str) -> None:
    # Wait for dpkg's lock rather than fail: another apt-get may hold it (another xdist
    # worker's browser module, or anything else installing on the machine).
    cmd = ["apt-get", "-o", f"DPkg::Lock::Timeout={APT_TIMEOUT}", *args]
    try:
        done = subprocess.run(
            cmd,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=APT_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"`{' '.join(cmd)}` did not finish within {APT_TIMEOUT} s", pytrace=False)
    if done.returncode != 0:
        pytest.fail(
            f"`{' '.join(cmd)}` exited {done.returncode}:\n{done.stdout[-4000:]}\n"
            f"{done.stderr[-4000:]}",
            pytrace=False,
        )


def _has_chinese_font() -> bool:
    if not shutil.which("fc-list"):
        return False
    listed = subprocess.run(["fc-list", ":lang=zh"], capture_output=True, text=True, check=False)
    return bool(listed.stdout.strip())


def ensure_chromium() -> str:
    """The path of a Chromium executable, installing Debian's `chromium` package if needed (and
    a small Chinese font, so screenshots of the Chinese interface are legible)."""
    if os.access(CHROMIUM, os.X_OK) and _has_chinese_font():
        return CHROMIUM
    if os.geteuid() == 0 and shutil.which("apt-get"):
        # One installer at a time: two xdist workers start browser modules at once, and the
        # second apt-get failed on dpkg's lock. The second finds the browser there.
        with open("/tmp/mdm-test-chromium.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not (os.access(CHROMIUM, os.X_OK) and _has_chinese_font()):
                _apt_get("update")
                _apt_get("install", "-y", "--no-install-recommends", "chromium",
                         "fonts-wqy-microhei")
        if os.access(CHROMIUM, os.X_OK):
            return CHROMIUM
        pytest.fail(
            f"apt-get installed `chromium` but {CHROMIUM} is still missing", pytrace=False
        )
    pytest.fail(
        f"The end-to-end tests need Chromium at {CHROMIUM}. Install Debian's `chromium` package "
        "(as root: apt-get update && apt-get install -y --no-install-recommends chromium), "
        "or run these tests as root on a Debian-based machine so that they install it.",
        pytrace=False,
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # When Chromium is missing, the first e2e test's setup runs apt-get, which can take longer
    # than the suite-wide timeout; killing apt mid-install would leave dpkg half-configured.
    if os.access(CHROMIUM, os.X_OK) and _has_chinese_font():
        return
    for item in items:
        if _HERE in item.path.resolve().parents:
            item.add_marker(pytest.mark.timeout(2 * APT_TIMEOUT + 300))


@pytest.fixture(scope="module")  # Playwright's loop must not outlive the module: others use asyncio.run
def browser() -> Iterator[Browser]:
    executable = ensure_chromium()
    pw = sync_playwright().start()
    try:
        b = pw.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()
    finally:
        pw.stop()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
    try:
        p = context.new_page()
        try:
            yield p
        finally:
            p.close()
    finally:
        context.close()
