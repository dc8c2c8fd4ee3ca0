"""The console's API (every endpoint of the playground and corpus view, and the
guard in front of them), over HTTP against the real app: Starlette's TestClient
speaks HTTP to the ASGI app in this process."""

from __future__ import annotations

import json
import os
import shutil

import pytest

pytest.importorskip("starlette")
from starlette.testclient import TestClient

import guardrails
from guardrails.tooling.console.app import create_app
from guardrails.tooling.console.state import ConsoleState
from guardrails.tooling.corpus import load_case

from .console_fixtures import TOOLS, make_project

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
RM = {"tool": {"name": "shell", "args": {"cmd": "rm -rf /"}}}


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return make_project(tmp_path_factory.mktemp("console"))


def _client(project, write=False, base=None):
    if base is not None:  # a copy of its own, for writes
        shutil.copytree(project["rules"].parent, base, dirs_exist_ok=True)
        project = {k: base / v.relative_to(project["rules"].parent) for k, v in project.items()}
    state = ConsoleState(
        rules=project["rules"], token=TOKEN, decisions=(project["log"],),
        corpus=project["corpus"], write=write,
    )  # fmt: skip
    return TestClient(create_app(state), base_url="http://127.0.0.1:8765"), project


@pytest.fixture(scope="module")
def client(project):
    return _client(project)[0]


@pytest.fixture
def writer(project, tmp_path):
    return _client(project, write=True, base=tmp_path / "w")


# ---- the guard ----


def test_no_token_is_401_and_a_wrong_one_403(client):
    missing = client.get("/api/rules")
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "no_token"
    wrong = client.get("/api/rules", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 403
    assert wrong.json()["error"]["code"] == "bad_token"
    assert client.get("/", follow_redirects=False).status_code == 401
    assert "token" in client.get("/").text
    assert client.get("/api/rules", headers=AUTH).status_code == 200


def test_the_printed_url_swaps_the_token_for_a_page_cookie_and_the_fragment(project):
    client, _ = _client(project)
    first = client.get(f"/corpus?token={TOKEN}&x=1", follow_redirects=False)
    assert first.status_code == 200
    # a refresh out of the query (history, Referer); the script takes it from the fragment
    assert f'content="0;url=/corpus?x=1#token={TOKEN}"' in first.text
    cookie = first.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    assert TOKEN not in cookie  # other ports of 127.0.0.1 get the cookie: never the token
    assert client.get("/corpus").status_code == 200  # the cookie opens pages
    assert client.get("/static/console.js").status_code == 200
    assert client.get("/api/rules").status_code == 401  # but never the API
    assert client.get("/api/rules", headers=AUTH).status_code == 200


def test_the_token_swap_never_redirects_to_another_host(project):
    client, _ = _client(project)
    first = client.get(
        f"http://127.0.0.1:8765//evil.example/?token={TOKEN}", follow_redirects=False
    )
    assert f'content="0;url=/evil.example/#token={TOKEN}"' in first.text


def test_the_query_token_opens_pages_only_never_the_api(project):
    client, _ = _client(project)
    assert client.get(f"/api/rules?token={TOKEN}").status_code == 401
    bad = client.get("/?token=wrong", follow_redirects=False)
    assert bad.status_code == 403 and "set-cookie" not in bad.headers


def test_a_foreign_host_header_is_refused_even_with_the_token(client):
    """DNS rebinding: evil.example resolving to 127.0.0.1 sends its own name."""
    response = client.get("/api/rules", headers={**AUTH, "Host": "evil.example:8765"})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "bad_host"
    assert client.get("/api/rules", headers={**AUTH, "Host": "localhost:8765"}).status_code == 200


def test_a_cross_site_origin_is_refused(client):
    body = {"file": "tools.rules", "text": TOOLS}
    response = client.post(
        "/api/check", json=body, headers={**AUTH, "Origin": "https://evil.example"}
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "bad_origin"
    same = client.post("/api/check", json=body, headers={**AUTH, "Origin": "http://127.0.0.1:8765"})
    assert same.status_code == 200


def test_websockets_are_closed_even_with_the_token(client):
    from starlette.websockets import WebSocketDisconnect

    with pytest.raises(WebSocketDisconnect) as closed, client.websocket_connect("/", headers=AUTH):
        pass
    assert closed.value.code == 1008


# ---- pages and static files ----


@pytest.mark.parametrize(
    "path,script",
    [("/", "playground.js"), ("/corpus", "corpus.js"), ("/dashboard", "dashboard.js")],
)
def test_pages_share_the_layout_and_forbid_foreign_scripts(client, path, script):
    page = client.get(path, headers=AUTH)
    assert page.status_code == 200
    assert f'<script src="/static/{script}">' in page.text
    assert '<a href="/corpus"' in page.text and '<a href="/dashboard"' in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "http" not in page.text.split("<main>")[0].replace("http-equiv", "")  # no CDN


def test_static_files_and_plotly_are_served_locally(client):
    assert "const gr = {" in client.get("/static/console.js", headers=AUTH).text
    plotly = client.get("/static/plotly.min.js", headers=AUTH)
    assert plotly.status_code == 200 and "plotly" in plotly.text[:2000].lower()
    assert client.get("/static/console.js").status_code == 401


def test_an_unknown_endpoint_is_a_json_404(client):
    response = client.get("/api/nope", headers=AUTH)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


# ---- playground ----


def test_rules_lists_the_files_of_the_ruleset(client):
    data = client.get("/api/rules", headers=AUTH).json()
    assert {f["name"]: f["text"] for f in data["files"]}["tools.rules"] == TOOLS
    assert data["write"] is False


def _codes(diags):
    return [(d["code"], d["line"], d["column"], d["end_line"], d["end_column"]) for d in diags]


@pytest.mark.parametrize(
    "text",
    [
        "rule no_rm\n  on tool_pre_invoke\n  blok\n",  # a syntax error, with a hint
        TOOLS
        + "\nrule no_secret_word\n  on tool_pre_invoke\n  block\n",  # its id is in prompts.rules
        'rule x\n  on tool_pre_invoke\n  when tool.nmae == "a"\n  block\n',  # an unknown fact
    ],
)
def test_check_gives_what_check_gives_for_the_ruleset_with_the_edit_saved(
    client, project, tmp_path, monkeypatch, text
):
    got = client.post("/api/check", json={"file": "tools.rules", "text": text}, headers=AUTH).json()
    saved = tmp_path / "rules"
    shutil.copytree(project["rules"], saved)
    (saved / "tools.rules").write_text(text)
    monkeypatch.chdir(saved)  # `guardrails check .` names the files as the console does
    expected = guardrails.check(".")
    assert expected and _codes(got["diagnostics"]) == _codes(d.to_dict() for d in expected)
    assert [d["hint"] for d in got["diagnostics"]] == [d.hint for d in expected]
    assert got["errors"] == sum(d.severity.value == "error" for d in expected)
    assert all(d["rendered"].startswith(d["file"]) for d in got["diagnostics"])


def test_check_of_clean_rules_is_empty(client):
    got = client.post(
        "/api/check", json={"file": "tools.rules", "text": TOOLS}, headers=AUTH
    ).json()
    assert got == {"diagnostics": [], "errors": 0, "warnings": 0}


@pytest.mark.parametrize(
    "body,code",
    [
        (b"{not json", "bad_json"),
        (b"[1, 2]", "bad_json"),
        (json.dumps({"text": TOOLS}).encode(), "missing_field"),
        (json.dumps({"file": 3, "text": TOOLS}).encode(), "bad_field"),
    ],
)
def test_check_refuses_a_bad_request_body(client, body, code):
    response = client.post("/api/check", content=body, headers=AUTH)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code


def test_hooks_come_from_the_catalog(client):
    hooks = {h["name"]: h for h in client.get("/api/hooks", headers=AUTH).json()["hooks"]}
    assert "tool.name" in hooks["tool_pre_invoke"]["facts"]
    assert set(hooks) == {spec.name for spec in guardrails.policy.policy.DEFAULT_CATALOG}


def _evaluate(client, text=TOOLS, payload=RM, hook="tool_pre_invoke"):
    body = {"file": "tools.rules", "text": text, "hook": hook,
            "payload": payload if isinstance(payload, str) else json.dumps(payload)}  # fmt: skip
    return client.post("/api/evaluate", json=body, headers=AUTH)


def test_evaluate_gives_the_verdict_the_rule_results_and_the_explain_trace(client):
    data = _evaluate(client).json()
    verdict = data["verdict"]
    assert (verdict["outcome"], verdict["blocked_by"], verdict["code"]) == (
        "block",
        "no_rm",
        "SHELL_RM",
    )
    assert [(r["rule"], r["verdict"]) for r in verdict["rules"]] == [("no_rm", "block")]
    assert data["explanation"].startswith("rule no_rm (tools.rules:1")
    assert "contains" in data["explanation"]


def test_evaluate_runs_the_edit_and_never_saves_it(client, project):
    warned = TOOLS.replace('block "destructive', 'warn "destructive')
    data = _evaluate(client, text=warned).json()
    assert data["verdict"]["outcome"] == "allow"
    assert data["verdict"]["rules"][0]["verdict"] == "warn"
    assert (project["rules"] / "tools.rules").read_text() == TOOLS


def test_evaluate_takes_a_corpus_case_file_and_its_hook(client, project):
    case = (project["corpus"] / "tool_pre_invoke" / "rm.json").read_text()
    data = _evaluate(client, payload=case).json()
    assert data["verdict"]["outcome"] == "block"


@pytest.mark.parametrize(
    "payload,hook,status,code,words",
    [
        ('{"tool": ', "tool_pre_invoke", 400, "bad_payload", "not valid JSON"),
        ("[1]", "tool_pre_invoke", 400, "bad_payload", "JSON object"),
        ('{"toool": {"name": "x"}}', "tool_pre_invoke", 400, "unknown_fact", "toool"),
        ("{}", "tool_pre_invok", 400, "unknown_hook", "did you mean 'tool_pre_invoke'"),
        ("{}", None, 400, "missing_hook", "pick a hook"),
    ],
)
def test_evaluate_refuses_what_eval_refuses(client, payload, hook, status, code, words):
    response = _evaluate(client, payload=payload, hook=hook)
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == code and words in error["message"]


def test_evaluate_with_broken_rules_answers_their_diagnostics(client):
    response = _evaluate(client, text="rule x\n  on tool_pre_invoke\n  blok\n")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "rules_have_errors"
    assert response.json()["diagnostics"][0]["code"] == "GR0100"


def test_recorded_calls_prefill_a_payload_of_their_facts(client):
    calls = client.get("/api/calls", headers=AUTH).json()["calls"]
    assert {c["hook"] for c in calls} == {"tool_pre_invoke", "generation_pre_call"}
    assert all("facts" not in c for c in calls)  # the list carries no payload text
    rm = next(c for c in calls if c["hook"] == "tool_pre_invoke")
    one = client.get(f"/api/calls/{rm['call_id']}", headers=AUTH).json()
    assert one["hook"] == "tool_pre_invoke" and one["payload"]["facts"] == RM
    assert _evaluate(client, payload=one["payload"]).json()["verdict"]["outcome"] == "block"
    assert client.get("/api/calls/nope", headers=AUTH).status_code == 404


# ---- writing ----


def test_without_write_saving_is_403_naming_the_flag(client, project):
    for path, body in [
        ("/api/rules/save", {"file": "tools.rules", "text": "x"}),
        ("/api/corpus/save", {"hook": "tool_pre_invoke", "name": "n", "payload": "{}"}),
    ]:
        response = client.post(path, json=body, headers=AUTH)
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "read_only"
        assert "--write" in response.json()["error"]["message"]
    assert (project["rules"] / "tools.rules").read_text() == TOOLS


def test_write_saves_a_rules_file_and_refuses_one_with_errors(writer):
    client, project = writer
    changed = TOOLS.replace("SHELL_RM", "SHELL_RM2")
    saved = client.post(
        "/api/rules/save", json={"file": "tools.rules", "text": changed}, headers=AUTH
    )
    assert saved.status_code == 200 and (project["rules"] / "tools.rules").read_text() == changed
    broken = client.post(
        "/api/rules/save", json={"file": "tools.rules", "text": "rule"}, headers=AUTH
    )
    assert broken.status_code == 422 and broken.json()["diagnostics"]
    assert (project["rules"] / "tools.rules").read_text() == changed
    new = client.post(
        "/api/rules/save",
        json={"file": "sub/new.rules", "text": "rule n\n  on tool_pre_invoke\n  warn\n"},
        headers=AUTH,
    )
    assert new.status_code == 200 and (project["rules"] / "sub" / "new.rules").is_file()


@pytest.mark.parametrize(
    "name",
    [
        "../escape.rules",
        "/tmp/escape.rules",
        "sub/../../escape.rules",
        "tools.txt",
        ".rules",
        ".hidden.rules",
        "link/inside.rules",
        "a\\..\\..\\b.rules",
    ],
)
def test_write_refuses_paths_outside_rules(writer, tmp_path, name):
    client, project = writer
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, project["rules"] / "link")  # a symlink out of RULES
    text = "rule n\n  on tool_pre_invoke\n  warn\n"
    response = client.post("/api/rules/save", json={"file": name, "text": text}, headers=AUTH)
    assert response.status_code == 403, response.json()
    assert response.json()["error"]["code"] == "path_refused"
    assert not list(outside.iterdir()) and not (tmp_path / "escape.rules").exists()


def test_write_saves_a_case_the_corpus_loader_reads(writer):
    client, project = writer
    body = {"hook": "tool_pre_invoke", "name": "from_ui", "payload": json.dumps(RM),
            "description": "typed in the playground", "expect": ["block by no_rm code SHELL_RM"]}  # fmt: skip
    response = client.post("/api/corpus/save", json=body, headers=AUTH)
    assert response.status_code == 201
    path = project["corpus"] / "tool_pre_invoke" / "from_ui.json"
    case = load_case(path, "tool_pre_invoke")
    assert case.facts == RM and case.description == "typed in the playground"
    assert [e.text for e in case.expect] == ["block by no_rm code SHELL_RM"]
    listed = client.get("/api/corpus/cases", headers=AUTH).json()["cases"]
    assert {"hook": "tool_pre_invoke", "name": "from_ui"} in listed
    again = client.post("/api/corpus/save", json=body, headers=AUTH)
    assert again.status_code == 409


@pytest.mark.parametrize(
    "change,status,code",
    [
        ({"name": "../../x"}, 403, "path_refused"),
        ({"name": "a/b"}, 403, "path_refused"),
        ({"hook": "no_such_hook"}, 400, "unknown_hook"),
        ({"payload": '{"toool": {"name": 1}}'}, 400, "bad_case"),
        ({"payload": "{"}, 400, "bad_payload"),
        ({"expect": ["blok by no_rm"]}, 400, "bad_expect"),
    ],
)
def test_write_refuses_a_bad_case(writer, change, status, code):
    client, project = writer
    body = {"hook": "tool_pre_invoke", "name": "bad", "payload": json.dumps(RM), **change}
    response = client.post("/api/corpus/save", json=body, headers=AUTH)
    assert response.status_code == status, response.json()
    assert response.json()["error"]["code"] == code
    assert sorted(p.name for p in (project["corpus"] / "tool_pre_invoke").iterdir()) == [
        "ls.json",
        "rm.json",
    ]


# ---- corpus view ----


def test_corpus_judges_every_case_as_guardrails_test_does(client):
    data = client.get("/api/corpus", headers=AUTH).json()
    assert data["snapshots"] is True and data["failing"] == 0
    cases = {c["id"]: c for c in data["cases"]}
    rm = cases["tool_pre_invoke/rm"]
    assert rm["status"] == "pass" and rm["expect"] == ["block by no_rm code SHELL_RM"]
    assert rm["snapshot"] == rm["current"] and "cpex: block by no_rm code SHELL_RM" in rm["current"]


def test_corpus_with_an_edit_shows_the_diff_test_would_fail_on(client):
    warned = TOOLS.replace('block "destructive', 'warn "destructive')
    data = client.post(
        "/api/corpus/run", json={"file": "tools.rules", "text": warned}, headers=AUTH
    ).json()
    rm = {c["id"]: c for c in data["cases"]}["tool_pre_invoke/rm"]
    assert data["failing"] == 1 and rm["status"] == "fail"
    assert (
        "tool_pre_invoke/rm: rule no_rm: expected 'block code SHELL_RM', got 'warn code SHELL_RM'"
        in rm["problems"]
    )
    assert (
        "-  no_rm: block code SHELL_RM" in rm["diff"]
        and "+  no_rm: warn code SHELL_RM" in rm["diff"]
    )
    assert "expected 'block by no_rm code SHELL_RM', got 'allow'" in rm["problems"]  # its expect


def test_corpus_case_text_for_the_playground(client, project):
    data = client.get("/api/corpus/cases/tool_pre_invoke/rm", headers=AUTH).json()
    assert data["text"] == (project["corpus"] / "tool_pre_invoke" / "rm.json").read_text()
    assert client.get("/api/corpus/cases/tool_pre_invoke/nope", headers=AUTH).status_code == 404


def test_a_single_rules_file_is_the_only_file_served_and_saved(project, tmp_path):
    shutil.copytree(project["rules"], tmp_path / "rules")
    single = tmp_path / "rules" / "tools.rules"
    state = ConsoleState(rules=single, token=TOKEN, write=True)
    client = TestClient(create_app(state), base_url="http://127.0.0.1")
    assert [f["name"] for f in client.get("/api/rules", headers=AUTH).json()["files"]] == [
        "tools.rules"
    ]
    # prompts.rules sits beside it, but is not part of this ruleset: no duplicate id
    again = TOOLS + "\nrule no_secret_word\n  on tool_pre_invoke\n  block\n"
    assert (
        client.post("/api/check", json={"file": "tools.rules", "text": again}, headers=AUTH).json()[
            "errors"
        ]
        == 0
    )
    refused = client.post(
        "/api/rules/save", json={"file": "prompts.rules", "text": again}, headers=AUTH
    )
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "path_refused"
    assert (
        client.post(
            "/api/rules/save", json={"file": "tools.rules", "text": again}, headers=AUTH
        ).status_code
        == 200
    )


def test_without_a_corpus_the_corpus_endpoints_say_so(project):
    state = ConsoleState(rules=project["rules"], token=TOKEN, write=True)
    client = TestClient(create_app(state), base_url="http://127.0.0.1")
    assert client.get("/api/corpus", headers=AUTH).json()["corpus"] is None
    assert client.get("/api/corpus/cases", headers=AUTH).json()["cases"] == []
    saved = client.post(
        "/api/corpus/save",
        json={"hook": "tool_pre_invoke", "name": "x", "payload": "{}"},
        headers=AUTH,
    )
    assert saved.status_code == 400 and "--corpus" in saved.json()["error"]["message"]
    assert client.get("/api/calls", headers=AUTH).json()["calls"] == []


def test_a_recorded_call_whose_id_holds_a_slash_still_loads(project, tmp_path):
    """Call ids are ours (hex) unless another writer made the log: the playground
    sends the id encoded, and a `/` in it must not turn into a 404."""
    record = {
        "kind": "call", "hook": "tool_pre_invoke", "ruleset": "x", "call_id": "team/a/1",
        "timestamp": "2026-01-01T00:00:00+00:00", "request_id": None, "facts": RM,
    }  # fmt: skip
    log = tmp_path / "other.jsonl"
    log.write_text(json.dumps(record) + "\n")
    state = ConsoleState(rules=project["rules"], token=TOKEN, decisions=(log,))
    client = TestClient(create_app(state), base_url="http://127.0.0.1:8765")
    assert [c["call_id"] for c in client.get("/api/calls", headers=AUTH).json()["calls"]] == [
        "team/a/1"
    ]
    one = client.get("/api/calls/team%2Fa%2F1", headers=AUTH)
    assert one.status_code == 200 and one.json()["payload"]["facts"] == RM


def test_recorded_calls_are_read_once_per_change_of_the_log(project, tmp_path, monkeypatch):
    from guardrails.tooling.console import recorded

    log = tmp_path / "calls.jsonl"
    shutil.copy(project["log"], log)
    reads = []
    real = recorded.read_records
    monkeypatch.setattr(recorded, "read_records", lambda p: reads.append(p) or real(p))
    state = ConsoleState(rules=project["rules"], token=TOKEN, decisions=(log,))
    client = TestClient(create_app(state), base_url="http://127.0.0.1:8765")

    def listed():
        return [c["call_id"] for c in client.get("/api/calls", headers=AUTH).json()["calls"]]

    first = listed()
    assert listed() == first and len(reads) == 1
    assert client.get(f"/api/calls/{first[0]}", headers=AUTH).status_code == 200
    assert len(reads) == 1  # a listed call comes from what was read
    new = {
        "kind": "call", "hook": "tool_pre_invoke", "ruleset": "x", "call_id": "fresh1",
        "timestamp": "2099-01-01T00:00:00+00:00", "request_id": None, "facts": RM,
    }  # fmt: skip
    with log.open("a") as out:
        out.write(json.dumps(new) + "\n")
    assert listed()[0] == "fresh1" and len(reads) == 2
