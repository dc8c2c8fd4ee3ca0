"""`guardrails ui` as a user runs it: a real server process on a free port."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest

from .browser import ROOT, console_server
from .console_fixtures import make_project

pytest.importorskip("uvicorn")


def _ui(*args):
    return subprocess.run(
        [sys.executable, "-m", "guardrails", "ui", *map(str, args), "--no-open"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return make_project(tmp_path_factory.mktemp("ui-cli"), snapshots=False)


def test_it_prints_a_loopback_url_with_a_token_and_serves_it(project):
    with console_server(project["rules"], "--decisions", project["log"]) as url:
        assert url.startswith("http://127.0.0.1:")
        token = url.split("token=")[1]
        assert len(token) >= 32
        base = url.split("/?")[0]
        with httpx.Client(base_url=base) as client:
            assert client.get("/api/rules").status_code == 401
            swap = client.get(url)  # the page cookie, and a refresh to the page
            assert swap.status_code == 200 and 'http-equiv="refresh"' in swap.text
            page = client.get("/")
            assert page.status_code == 200 and "Playground" in page.text
            auth = {"Authorization": f"Bearer {token}"}  # the API: the bearer token only
            rules = client.get("/api/rules", headers=auth).json()
            assert {f["name"] for f in rules["files"]} == {"tools.rules", "prompts.rules"}
            assert client.get("/api/calls", headers=auth).json()["calls"]


def test_each_run_has_a_token_of_its_own_and_a_taken_port_is_refused(project):
    with console_server(project["rules"]) as first, console_server(project["rules"]) as second:
        assert first.split("token=")[1] != second.split("token=")[1]
        base = second.split("/?")[0]
        other = first.split("token=")[1]
        response = httpx.get(f"{base}/api/rules", headers={"Authorization": f"Bearer {other}"})
        assert response.status_code == 403
        port = first.split(":")[2].split("/")[0]
        done = _ui(project["rules"], "--port", port)
    assert done.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr and "--port 0" in done.stderr


@pytest.mark.parametrize("host", ["0.0.0.0", "::"])
def test_a_non_loopback_bind_is_refused(project, host):
    done = _ui(project["rules"], "--host", host, "--port", "0")
    assert done.returncode == 2
    assert "not loopback" in done.stderr and "http://" not in done.stdout


def test_missing_rules_is_a_usage_error():
    done = _ui("no/such/rules", "--port", "0")
    assert done.returncode == 2
    assert "no/such/rules" in done.stderr and "does not exist" in done.stderr
