"""The wheel ships the grammar and works from a normal (non-editable) install."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("hatchling")
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )  # fmt: skip
    (built,) = out.glob("guardrails_rules-*.whl")
    return built


def test_wheel_contains_grammar(wheel):
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        assert "guardrails/syntax/rules.lark" in names
        shipped = zf.read("guardrails/syntax/rules.lark").decode()
    assert shipped == (ROOT / "grammar" / "rules.lark").read_text()
    assert not any(n.startswith("tests/") for n in names)


@pytest.fixture(scope="module")
def site(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel installed (without its dependencies: the venv has them) into a folder."""
    site = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site),
         str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )  # fmt: skip
    return site


def test_installed_wheel_loads_rules_outside_the_checkout(site, tmp_path):
    rules = tmp_path / "r.rules"
    rules.write_text("on generation_pre_call when tokens > 10 block\n")
    code = (
        "import guardrails, sys\n"
        "assert guardrails.__file__.startswith(sys.argv[1]), guardrails.__file__\n"
        "p = guardrails.load(sys.argv[2])\n"
        "print(p.evaluate('generation_pre_call', {'tokens': 11}).outcome)\n"
    )
    env = dict(os.environ, PYTHONPATH=str(site))
    proc = subprocess.run(
        [sys.executable, "-c", code, str(site), str(rules)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "block"


def test_guardrails_test_from_the_wheel_without_the_test_extra_names_it(site, tmp_path):
    """pytest and syrupy are in this venv: a finder makes them uninstalled for the run."""
    code = (
        "import sys\n"
        "class Uninstalled:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.partition('.')[0] in ('pytest', '_pytest', 'syrupy'):\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "sys.meta_path.insert(0, Uninstalled())\n"
        "import guardrails\n"
        "assert guardrails.__file__.startswith(sys.argv[1]), guardrails.__file__\n"
        "from guardrails.tooling.cli import main\n"
        "main(['test'])\n"
    )
    (tmp_path / "tests" / "corpus").mkdir(parents=True)
    env = dict(os.environ, PYTHONPATH=str(site))
    proc = subprocess.run([sys.executable, "-c", code, str(site)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 1
    assert proc.stderr == (
        "error: guardrails test needs the 'test' extra (pytest is not installed): "
        "pip install 'guardrails-rules[test]'\n"
    )


CONSOLE_STATIC = ("layout.html", "console.css", "console.js", "playground.html", "playground.js",
                  "corpus.html", "corpus.js", "dashboard.html", "dashboard.js")  # fmt: skip


def test_the_wheel_ships_the_console_pages_and_serves_them(wheel, site, tmp_path):
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    assert {f"guardrails/tooling/console/static/{n}" for n in CONSOLE_STATIC} <= names
    assert not any(n.endswith("plotly.min.js") for n in names)  # served from plotly itself
    (tmp_path / "r.rules").write_text("on generation_pre_call when tokens > 10 block\n")
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from starlette.testclient import TestClient\n"
        "import guardrails.tooling.console.app as app\n"
        "assert app.__file__.startswith(sys.argv[1]), app.__file__\n"
        "from guardrails.tooling.console.state import ConsoleState\n"
        "state = ConsoleState(rules=Path('r.rules').resolve(), token='t')\n"
        "client = TestClient(app.create_app(state), base_url='http://127.0.0.1')\n"
        "for path in ('/', '/static/playground.js', '/static/plotly.min.js'):\n"
        "    r = client.get(path, headers={'Authorization': 'Bearer t'})\n"
        "    print(path, r.status_code, len(r.text) > 100)\n"
    )
    env = dict(os.environ, PYTHONPATH=str(site))
    proc = subprocess.run([sys.executable, "-c", code, str(site)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[:3] == [
        "/ 200 True",
        "/static/playground.js 200 True",
        "/static/plotly.min.js 200 True",
    ]


def test_guardrails_ui_without_the_ui_extra_names_it(site, tmp_path):
    code = (
        "import sys\n"
        "class Uninstalled:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.partition('.')[0] in ('starlette', 'uvicorn'):\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "sys.meta_path.insert(0, Uninstalled())\n"
        "from guardrails.tooling.cli import main\n"
        "main(['ui', 'r.rules', '--no-open', '--port', '0'])\n"
    )
    (tmp_path / "r.rules").write_text("on generation_pre_call when tokens > 10 block\n")
    env = dict(os.environ, PYTHONPATH=str(site))
    proc = subprocess.run([sys.executable, "-c", code, str(site)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 1
    assert proc.stderr == (
        "error: guardrails ui needs the 'ui' extra (uvicorn is not installed): "
        "pip install 'guardrails-rules[ui]'\n"
    )
