"""Attacks on `guardrails ui` that once worked, each kept as a test of its fix: a real
console process and a real headless chromium (tests/browser.py), so what a browser
sends and keeps is the browser's own behaviour, not an assumption about it."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

pytest.importorskip("starlette")
from starlette.testclient import TestClient

from guardrails.tooling.console.app import create_app
from guardrails.tooling.console.http import MAX_BODY
from guardrails.tooling.console.recorded import LISTED, recorded_call, recorded_calls
from guardrails.tooling.console.server import opener
from guardrails.tooling.console.state import ConsoleState

from .browser import ROOT, _read_url, chromium_driver, console_server, need_browser, wait_for
from .console_fixtures import make_project


@contextlib.contextmanager
def spy_server() -> Iterator[tuple[str, list[str]]]:
    """Another web server on 127.0.0.1 (another port): what any local user can run.
    It keeps the Cookie header of every request the browser sends it."""
    seen: list[str] = []

    class Spy(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.headers.get("Cookie") or "")
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(b"<!doctype html><title>spy</title><p>hello</p>")

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Spy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", seen
    finally:
        server.shutdown()
        server.server_close()


# markup where a hostile log, corpus or rules file can put text: shown as text, it is
# harmless; parsed as HTML, it adds an element of class `pwned` to the page
MARKUP = "<b class=pwned>x"
HTML_RULES = f"""\
rule no_curl "{MARKUP} description"
  on tool_pre_invoke
  when tool.name == "curl"
  block "{MARKUP} reason" code CURL
"""


def hostile_project(base):
    """The console's test project, with markup in a rule's reason and description, a
    corpus case's name and description, and every string field of the log's records."""
    project = make_project(base)
    (project["rules"] / "html.rules").write_text(HTML_RULES)
    case = {"description": MARKUP, "expect": "allow", "facts": {"tool": {"name": "ls"}}}
    (project["corpus"] / "tool_pre_invoke" / f"{MARKUP}.json").write_text(json.dumps(case))
    records = [json.loads(line) for line in project["log"].read_text().splitlines()]
    with project["log"].open("a") as log:
        for record in records:
            for key in ("reason", "rule", "code", "hook", "call_id", "blocked_by", "outcome"):
                if isinstance(record.get(key), str):
                    record[key] = record[key] + MARKUP
            log.write(json.dumps(record) + "\n")
    return project


@pytest.fixture(scope="module")
def console(tmp_path_factory):
    need_browser()
    base = tmp_path_factory.mktemp("ui-attack")
    hostile_project(base)
    with (
        console_server(
            "rules", "--corpus", "corpus", "--decisions", "decisions.jsonl", cwd=base
        ) as url,
        chromium_driver(tmp_path_factory) as driver,
    ):
        yield driver, url


def test_another_local_port_gets_no_credential_for_the_api(console):
    """Cookies ignore ports: once the console's page is open, the browser sends its
    cookies to every server on 127.0.0.1. What such a server receives must not open
    the console's API, neither as the cookie nor as a bearer token."""
    driver, url = console
    base = url.split("/?", 1)[0]
    driver.get(url)
    wait_for(driver, "body[data-ready='1']")
    assert "token=" not in driver.current_url
    with spy_server() as (spy, seen):
        driver.get(spy)
        wait_for(driver, "p", "hello")
    cookies = dict(
        part.strip().split("=", 1) for header in seen for part in header.split(";") if "=" in part
    )
    ours = {k: v for k, v in cookies.items() if k.startswith("guardrails_console_")}
    assert ours, f"the browser sent no console cookie to the other port: {seen}"
    for name, value in ours.items():
        as_cookie = httpx.get(f"{base}/api/rules", cookies={name: value})
        as_bearer = httpx.get(f"{base}/api/rules", headers={"Authorization": f"Bearer {value}"})
        assert as_cookie.status_code in (401, 403), as_cookie.text
        assert as_bearer.status_code in (401, 403), as_bearer.text
    # and the console's own page still works: its script holds the token, per origin
    driver.get(base + "/")
    wait_for(driver, "body[data-ready='1']")
    assert driver.find_elements("css selector", "#rules-file option")


def test_the_file_the_browser_is_opened_on_leads_into_the_console(console):
    """A fresh browser (no cookie, no stored token) opened on `opener()`'s file, as
    `guardrails ui` opens it, ends on the working playground: the page key cookie is
    set and sent although the navigation started at a file:// page."""
    driver, url = console
    driver.get(url.split("/?", 1)[0] + "/static/console.css")  # the origin, to clear it
    driver.execute_script("localStorage.clear()")
    driver.delete_all_cookies()
    page = opener(url)
    try:
        driver.get(page.as_uri())
        wait_for(driver, "body[data-ready='1']")
        assert driver.current_url.startswith(url.split("?", 1)[0])
        assert "token" not in driver.current_url
        assert driver.find_elements("css selector", "#rules-file option")
    finally:
        shutil.rmtree(page.parent)


def _pwned(driver) -> int:
    return int(driver.execute_script("return document.querySelectorAll('.pwned').length"))


def test_markup_from_logs_corpus_and_rules_stays_text_on_every_page(console):
    driver, url = console
    base = url.split("/?", 1)[0]
    driver.get(url)
    wait_for(driver, "body[data-ready='1']")
    labels = driver.execute_script(
        "return [...document.querySelectorAll('#prefill option')].map(o => o.textContent)"
    )
    assert any(MARKUP in label for label in labels)  # a recorded call and the corpus case
    driver.execute_script(
        "document.getElementById('hook').value = 'tool_pre_invoke';"
        "document.getElementById('payload').value = JSON.stringify({tool: {name: 'curl'}});"
        "document.getElementById('evaluate').click();"
    )
    assert MARKUP in wait_for(driver, "#outcome", "block").text
    assert _pwned(driver) == 0
    driver.get(base + "/corpus")
    wait_for(driver, "body[data-ready='1']")
    assert MARKUP in driver.find_element("css selector", "#cases").text
    driver.execute_script(
        "[...document.querySelectorAll('tr.case')].find(r => r.textContent.includes(arguments[0]))"
        ".click()",
        MARKUP,
    )
    assert MARKUP in wait_for(driver, "#case-detail h2").text
    assert _pwned(driver) == 0
    driver.get(base + "/dashboard")
    wait_for(driver, "body[data-dashboard=ready]")
    wait_for(driver, "body[data-replay=ready]")
    assert MARKUP in driver.find_element("css selector", "#rules-table").text
    assert _pwned(driver) == 0
    legend = driver.execute_script(
        "return [...document.querySelectorAll('#plot-fires .legendtext')].map(t => t.textContent)"
    )
    assert any(MARKUP in text for text in legend), legend  # Plotly drew it as text


# ---- the app over HTTP (Starlette's TestClient), with --write ----

TOKEN = "attack-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def writer(tmp_path):
    project = make_project(tmp_path, snapshots=False)
    state = ConsoleState(
        rules=project["rules"], token=TOKEN, decisions=(project["log"],),
        corpus=project["corpus"], write=True,
    )  # fmt: skip
    client = TestClient(
        create_app(state), base_url="http://127.0.0.1:8765", raise_server_exceptions=False
    )
    return client, project


def test_a_name_part_ending_in_a_newline_is_refused(writer):
    """`$` matches before a final newline: `sub\\n/x.rules` made a folder `sub\\n`."""
    client, project = writer
    response = client.post(
        "/api/rules/save", json={"file": "sub\n/x.rules", "text": ""}, headers=AUTH
    )
    assert response.status_code == 403, response.text
    assert response.json()["error"]["code"] == "path_refused"
    assert sorted(p.name for p in project["rules"].iterdir()) == ["prompts.rules", "tools.rules"]


def test_a_body_declared_over_the_limit_is_refused_before_it_is_read(writer):
    """The limit was checked after reading the whole body into memory; a declared
    length over it is refused from the header (the bytes sent here are a few)."""
    client, _ = writer
    headers = {**AUTH, "Content-Type": "application/json", "Content-Length": str(MAX_BODY + 1)}
    response = client.post("/api/check", content=b"{}", headers=headers)
    assert response.status_code == 413, response.text
    assert response.json()["error"]["code"] == "too_large"


def test_deeply_nested_json_is_a_400_not_a_crash(writer):
    client, _ = writer
    deep = "[" * 100_000 + "]" * 100_000
    body = client.post("/api/check", content=deep, headers=AUTH)
    assert body.status_code == 400, body.text
    assert body.json()["error"]["code"] == "bad_json"
    payload = {"hook": "tool_pre_invoke", "payload": '{"tool": ' + deep + "}"}
    nested = client.post("/api/evaluate", json=payload, headers=AUTH)
    assert nested.status_code == 400, nested.text
    assert nested.json()["error"]["code"] == "bad_payload"
    saved = client.post("/api/corpus/save", json={**payload, "name": "deep"}, headers=AUTH)
    assert saved.status_code == 400, saved.text
    assert saved.json()["error"]["code"] == "bad_payload"


def test_an_unparsable_origin_is_refused_not_a_crash(writer):
    client, _ = writer
    response = client.get("/api/rules", headers={**AUTH, "Origin": "http://[::1"})
    assert response.status_code == 403, response.text
    assert response.json()["error"]["code"] == "bad_origin"


def test_evaluating_an_edit_writes_nothing_to_the_ruleset_cache(writer, tmp_path, monkeypatch):
    """The playground evaluates an edit without saving it; a ruleset of 4 KiB or
    more used to be compiled into the per-user ruleset cache, edit and all."""
    client, _ = writer
    cache = tmp_path / "rules-cache"
    monkeypatch.setenv("GUARDRAILS_RULES_CACHE", str(cache))
    marker = "an-unsaved-edit-7f3a"
    edit = (
        "# " + "x" * 4096 + "\n"
        f'rule no_ls\n  on tool_pre_invoke\n  when tool.name == "ls"\n  block "{marker}"\n'
    )
    payload = json.dumps({"tool": {"name": "ls", "args": {}}})
    body = {"file": "extra.rules", "text": edit, "hook": "tool_pre_invoke", "payload": payload}
    response = client.post("/api/evaluate", json=body, headers=AUTH)
    assert response.status_code == 200, response.text
    assert response.json()["verdict"]["reason"] == marker  # the edit was evaluated
    for endpoint in ("/api/check", "/api/corpus/run", "/api/dashboard/replay"):
        again = client.post(endpoint, json={"file": "extra.rules", "text": edit}, headers=AUTH)
        assert again.status_code == 200, again.text
    written = [p for p in cache.rglob("*") if p.is_file()] if cache.exists() else []
    assert not [p for p in written if marker in p.read_text(errors="replace")], written


def test_saving_onto_a_folder_is_a_clear_error_and_changes_nothing(writer):
    client, project = writer
    folder = project["rules"] / "taken.rules"
    folder.mkdir()
    response = client.post(
        "/api/rules/save", json={"file": "taken.rules", "text": ""}, headers=AUTH
    )
    assert response.json()["error"]["code"] == "cannot_save", response.text
    assert "taken.rules" in response.json()["error"]["message"]
    assert folder.is_dir() and not list(folder.iterdir())
    assert sorted(p.name for p in project["rules"].iterdir()) == [
        "prompts.rules", "taken.rules", "tools.rules",
    ]  # fmt: skip


def test_the_browser_is_opened_without_the_token_on_its_command_line(tmp_path):
    """Any local user can read a process's command line (ps, /proc/PID/cmdline), and a
    browser started for the URL keeps it there while it runs. The browser gets a file
    only this user can read, which leads to the URL."""
    make_project(tmp_path, snapshots=False)
    argv_file = tmp_path / "browser-argv.json"
    fake = tmp_path / "fake-browser"
    fake.write_text(
        f"#!{sys.executable}\nimport json, sys\n"
        f"open({str(argv_file)!r}, 'w').write(json.dumps(sys.argv))\n"
    )
    fake.chmod(0o700)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", "BROWSER": str(fake)}
    env.pop("DISPLAY", None)
    argv = [sys.executable, "-m", "guardrails", "ui", "rules", "--port", "0"]
    proc = subprocess.Popen(
        argv, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        url = _read_url(proc, 30)
        token = url.split("token=")[1]
        for _ in range(300):  # the browser is started after the URL is printed
            if argv_file.exists() and argv_file.read_text():
                break
            proc.poll()
            assert proc.returncode is None, "the console exited"
            time.sleep(0.1)
        opened = json.loads(argv_file.read_text())
        assert not any(token in arg for arg in opened), opened
        target = Path(urlsplit(opened[-1]).path)
        assert stat.S_IMODE(target.stat().st_mode) == 0o600
        assert stat.S_IMODE(target.parent.stat().st_mode) == 0o700
        assert url in target.read_text()  # it leads to the printed URL
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert not target.exists()  # removed when the console stops


def test_an_origin_of_another_port_is_refused(writer):
    """Another port of 127.0.0.1 is the same site (cookies, SameSite) but another
    origin: another program's page."""
    client, _ = writer
    other = client.get("/api/rules", headers={**AUTH, "Origin": "http://127.0.0.1:9999"})
    assert other.status_code == 403, other.text
    assert other.json()["error"]["code"] == "bad_origin"
    ours = client.get("/api/rules", headers={**AUTH, "Origin": "http://127.0.0.1:8765"})
    assert ours.status_code == 200
    forwarded = {**AUTH, "Host": "localhost:9000", "Origin": "http://localhost:9000"}
    assert client.get("/api/rules", headers=forwarded).status_code == 200  # ssh -L 9000:...


def test_listing_recorded_calls_does_not_hold_the_whole_log_in_memory(tmp_path):
    """A log holds millions of calls; the list shows the newest 200, and loading one
    call reads the log through, keeping one record at a time."""
    project = make_project(tmp_path, snapshots=False)
    big = tmp_path / "big.jsonl"
    filler = "x" * 2000
    with big.open("w") as log:
        for n in range(20_000):
            record = {
                "kind": "call", "call_id": f"c{n}", "hook": "tool_pre_invoke", "outcome": "allow",
                "timestamp": f"2026-12-04T{n // 3600 % 24:02d}:{n // 60 % 60:02d}:{n % 60:02d}+00:00",
                "facts": {"tool": {"name": "shell", "args": {"cmd": filler}}},
            }  # fmt: skip
            log.write(json.dumps(record) + "\n")
    state = ConsoleState(rules=project["rules"], token=TOKEN, decisions=(big,))
    tracemalloc.start()
    try:
        listed = recorded_calls(state)
        one = recorded_call(state, "c19999")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(listed) == LISTED and listed[0]["call_id"] == "c19999"
    assert one["payload"]["facts"]["tool"]["args"]["cmd"] == filler
    assert peak < 10_000_000, f"{peak} bytes at the peak for a {big.stat().st_size}-byte log"


def test_a_record_at_the_ends_of_time_does_not_break_the_dashboard(tmp_path):
    """One record of year 1 and one of year 9999 (UTC: 10000) widen the buckets past
    what a date can hold; the dashboard, and the playground's list of recorded calls,
    were a 500 for the whole log."""
    project = make_project(tmp_path, snapshots=False)
    records = [json.loads(line) for line in project["log"].read_text().splitlines()]
    hostile = tmp_path / "times.jsonl"
    with hostile.open("w") as log:
        for stamp in ("0001-01-01T00:00:00+00:00", "9999-12-31T23:59:59-12:00"):
            for record in records:
                log.write(json.dumps({**record, "timestamp": stamp}) + "\n")
    state = ConsoleState(rules=project["rules"], token=TOKEN, decisions=(hostile,))
    client = TestClient(create_app(state), base_url="http://127.0.0.1:8765")
    for path in ("/api/dashboard/summary", "/api/dashboard/timeline", "/api/calls"):
        response = client.get(path, headers=AUTH)
        assert response.status_code == 200, response.text
    timeline = client.get("/api/dashboard/timeline", headers=AUTH).json()
    assert timeline["first"].startswith("0001-01-01")
    assert timeline["last"].startswith("9999-12-31")
