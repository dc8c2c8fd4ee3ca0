"""`guardrails check --format sarif|github`: machine-readable diagnostics."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema

SCHEMA = json.loads((Path(__file__).parent / "data" / "sarif-2.1.0-subset.schema.json").read_text())


def run_check(path: Path, fmt: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "guardrails", "check", "--format", fmt, str(path)],
                          capture_output=True, text=True)  # fmt: skip


def test_sarif_output_validates_and_points_at_the_problems(tmp_path):
    bad = tmp_path / "bad.rules"
    bad.write_text(
        "on generation_precall block\nlet unused = 1\non tool_pre_invoke when tool.nme == 1 block\n"
    )
    proc = run_check(bad, "sarif")
    assert proc.returncode == 1
    log = json.loads(proc.stdout)
    jsonschema.validate(log, SCHEMA)
    results = log["runs"][0]["results"]
    found = [(r["ruleId"], r["level"], r["locations"][0]["physicalLocation"]["region"]["startLine"],
              r["locations"][0]["physicalLocation"]["region"]["startColumn"]) for r in results]  # fmt: skip
    assert found == [
        ("GR0200", "error", 1, 4),
        ("GR0300", "warning", 2, 5),
        ("GR0201", "error", 3, 25),
    ]
    rules = log["runs"][0]["tool"]["driver"]["rules"]
    assert [rules[r["ruleIndex"]]["id"] for r in results] == [r["ruleId"] for r in results]
    assert "did you mean 'generation_pre_call'" in results[0]["message"]["text"]


def test_sarif_for_clean_rules_is_an_empty_run(tmp_path):
    ok = tmp_path / "ok.rules"
    ok.write_text("on generation_pre_call block\n")
    proc = run_check(ok, "sarif")
    assert proc.returncode == 0
    log = json.loads(proc.stdout)
    jsonschema.validate(log, SCHEMA)
    assert log["runs"][0]["results"] == []


def test_github_annotations(tmp_path):
    bad = tmp_path / "we,ird:name.rules"
    bad.write_text("on generation_precall block\n")
    proc = run_check(bad, "github")
    assert proc.returncode == 1
    (line,) = proc.stdout.splitlines()
    assert line.startswith("::error file=")
    assert "we%2Cird%3Aname.rules" in line
    assert (
        ",line=1,col=4,endLine=1,endColumn=22,title=GR0200::unknown hook 'generation_precall'"
        in line
    )


def test_a_duplicate_points_at_its_first_definition_in_json_and_sarif(tmp_path):
    """Editors got the first definition through LSP relatedInformation; a CI job
    reading `check --format json` or SARIF gets it too, as a place, not only prose."""
    (tmp_path / "a.rules").write_text('let hosts = ["a"]\n')
    (tmp_path / "b.rules").write_text('\nlet hosts = ["b"]\n')
    proc = run_check(tmp_path, "json")
    assert proc.returncode == 1
    (dup,) = [d for d in json.loads(proc.stdout) if d["code"] == "GR0206"]
    assert (Path(dup["file"]).name, dup["line"]) == ("b.rules", 2)
    (first,) = dup["related"]
    assert (Path(first["file"]).name, first["line"], first["column"], first["end_column"]) == (
        "a.rules", 1, 5, 10,
    )  # fmt: skip
    assert first["message"] == "let 'hosts' is first defined here"

    log = json.loads(run_check(tmp_path, "sarif").stdout)
    jsonschema.validate(log, SCHEMA)
    (result,) = [r for r in log["runs"][0]["results"] if r["ruleId"] == "GR0206"]
    (where,) = result["relatedLocations"]
    assert Path(where["physicalLocation"]["artifactLocation"]["uri"]).name == "a.rules"
    assert where["physicalLocation"]["region"] == {
        "startLine": 1, "startColumn": 5, "endLine": 1, "endColumn": 10,
    }  # fmt: skip
    assert where["message"]["text"] == "let 'hosts' is first defined here"
