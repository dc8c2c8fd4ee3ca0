"""A real console in a real headless browser, for the console's browser tests.

`console_server(...)` starts `guardrails ui` as a subprocess (`--port 0 --no-open`)
and reads the URL it prints; `chromium_driver()` drives Debian's chromium through
Debian's chromedriver (never a driver Selenium would download). Without them the
browser tests skip, unless GUARDRAILS_REQUIRE_BROWSER=1 (scripts/test.sh sets it,
after installing them), which makes that a failure. Screenshots go to
artifacts/screenshots/ (or $GUARDRAILS_ARTIFACTS/screenshots/).

A test module uses one server and one browser for all its tests:

    @pytest.fixture(scope="module")
    def console(tmp_path_factory):
        with console_server(RULES, "--corpus", CORPUS) as url, chromium_driver(tmp_path_factory) as driver:
            yield driver, url
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
INSTALL = "apt-get install -y chromium chromium-driver (scripts/test.sh does it when missing)"
URL_LINE = re.compile(r"guardrails ui: (http://127\.0\.0\.1:\d+/\?token=\S+)")
CHROME_FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--no-first-run", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--window-size=1400,1000",
)  # fmt: skip


def artifacts() -> Path:
    """Where screenshots go: created, git-ignored."""
    base = Path(os.environ.get("GUARDRAILS_ARTIFACTS") or ROOT / "artifacts")
    folder = base / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def need_browser() -> None:
    """Skip (or fail, under GUARDRAILS_REQUIRE_BROWSER=1) without chromium, its driver
    or selenium."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists()]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("selenium (the dev extra)")
    if not missing:
        return
    reason = f"{', '.join(missing)} not installed: {INSTALL}"
    if os.environ.get("GUARDRAILS_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason} (GUARDRAILS_REQUIRE_BROWSER=1 asks for the browser tests)")
    pytest.skip(reason)


@contextlib.contextmanager
def console_server(*args: Any, cwd: Path = ROOT, timeout: float = 30) -> Iterator[str]:
    """`guardrails ui ARGS --port 0 --no-open` running (in `cwd`); yields the URL (with
    its token). Its output is kept and shown if it dies before printing the URL."""
    argv = [sys.executable, "-m", "guardrails", "ui", *map(str, args), "--port", "0", "--no-open"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        yield _read_url(proc, timeout)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _read_url(proc: subprocess.Popen[str], timeout: float) -> str:
    """The URL line from the server's output, read on a thread so a server that hangs
    fails the test after `timeout` seconds instead of blocking it."""
    seen: list[str] = []
    found: list[str] = []
    done = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            seen.append(line)
            match = URL_LINE.search(line)
            if match and not found:
                found.append(match.group(1))
                done.set()
        done.set()  # the output ended: the server exited

    threading.Thread(target=read, daemon=True).start()
    done.wait(timeout)
    if not found:
        proc.kill()
        pytest.fail(f"guardrails ui printed no URL:\n{''.join(seen)}", pytrace=False)
    return found[0]


@contextlib.contextmanager
def chromium_driver(tmp_path_factory: Any) -> Iterator[Any]:
    """A headless chromium of its own (a fresh profile under tmp), through Debian's
    chromedriver."""
    need_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    service = Service(executable_path=CHROMEDRIVER)
    driver = webdriver.Chrome(service=service, options=options)
    try:
        yield driver
    finally:
        driver.quit()


def screenshot(driver: Any, name: str) -> Path:
    """The page as it is now, to artifacts/screenshots/<name>.png."""
    path = artifacts() / f"{name}.png"
    driver.save_screenshot(str(path))
    return path


def wait_for(driver: Any, css: str, text: str | None = None, timeout: float = 15) -> Any:
    """The element matching `css` once it is visible (and contains `text`, if given)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(driver, timeout)
    if text is not None:
        wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, css), text))
    return wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, css)))
