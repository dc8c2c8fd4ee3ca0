"""The extension in a real VS Code: what a new user who opens `rules/` gets.

VS Code's desktop build cannot be downloaded on a closed network, so this runs the VS Code
that code-server serves to a browser (VS Code 1.100, from npm, installed by
scripts/vscode-e2e-deps.sh into editors/vscode/.e2e/) in a headless Chromium driven by
Selenium. The `.vsix` is built and installed as the README says, a copy of `rules/` is
opened, and the user types: an unknown fact gets a squiggle and a problem with its code,
completion after `when` lists the facts of the rule's hook, hover shows a fact's type and
doc, Ctrl+S formats the file on disk, and a `guardrails.command` that points nowhere is
said in an error that names the install. One setting of ours is made, as a user whose
virtualenv is not in the workspace makes it: `guardrails.command`, this environment's
`guardrails` (on this checkout's code), started as the extension starts it (`guardrails
lsp`); autosave is off, as on the desktop.

Skipped without code-server, chromium or chromedriver, unless GUARDRAILS_REQUIRE_VSCODE_E2E=1
(scripts/test.sh sets it when the deps script installed them) makes that a failure.
Screenshots of each step go to artifacts/screenshots/vscode-*.png.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]
VSCODE = ROOT / "editors" / "vscode"
CODE_SERVER = VSCODE / ".e2e" / "node_modules" / ".bin" / "code-server"
BIN = Path(sys.executable).parent  # this environment's `guardrails` script
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
CHROME_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--no-first-run", "--window-size=1600,1000",
]  # fmt: skip

# files the user "has" besides rules/: one per check, so each test stands alone
DIAG = 'rule diag_tool "a rule to break"\n  on tool_pre_invoke\n  when tool.name == "x"\n  block "no"\n'
COMPLETE = (
    'rule complete_tool "completion on a tool hook"\n  on tool_pre_invoke\n  block "no"\n\n'
    'rule complete_prompt "completion on a generation hook"\n  on generation_pre_call\n'
    '  block "no"\n'
)


def _missing() -> str | None:
    if not CODE_SERVER.exists():
        return "code-server is not installed (bash scripts/vscode-e2e-deps.sh)"
    for tool in (CHROMIUM, CHROMEDRIVER):
        if not Path(tool).exists():
            return f"{tool} is missing (apt-get install chromium chromium-driver)"
    if not (BIN / "guardrails").exists():
        return f"no guardrails script in {BIN} (pip install -e '.[dev]')"
    if not (VSCODE / "node_modules" / ".bin" / "vsce").exists():
        return "editors/vscode/node_modules is missing (npm ci there)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (the dev extra)"
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Editor:
    """The browser on the workbench, with the few gestures a user makes."""

    def __init__(
        self, driver: Any, workspace: Path, settings: Path, logs: Callable[[], str]
    ) -> None:
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.by import By
        from selenium.webdriver.common.keys import Keys

        self.driver, self.workspace, self.settings, self.logs = driver, workspace, settings, logs
        self.Keys, self._by, self._chain = Keys, By.CSS_SELECTOR, ActionChains

    def type(self, *keys: str) -> None:
        self._chain(self.driver).send_keys(*keys).perform()

    def chord(self, *keys: str) -> None:
        """Modifiers held while the last key is pressed (Ctrl+Shift+M)."""
        *mods, key = keys
        chain = self._chain(self.driver)
        for mod in mods:
            chain = chain.key_down(mod)
        chain = chain.send_keys(key)
        for mod in reversed(mods):
            chain = chain.key_up(mod)
        chain.perform()

    def find(self, css: str) -> list[Any]:
        return list(self.driver.find_elements(self._by, css))

    def wait(self, what: Callable[[], Any], seconds: float, message: str) -> Any:
        deadline = time.monotonic() + seconds
        while True:
            found = what()
            if found:
                return found
            if time.monotonic() > deadline:
                if message:  # what the screen showed, for the report
                    self.screenshot("failure")
                raise AssertionError(f"{message}\n--- code-server logs ---\n{self.logs()}")
            time.sleep(0.25)

    def open(self, name: str) -> None:
        """Quick Open (Ctrl+P), as a user opens a file; retried while the workbench loads.
        Enter only once the focused row is the file: the box first lists recent files."""
        row = f'.quick-input-list .monaco-list-row.focused[aria-label^="{name}"]'
        editor = f'.monaco-editor textarea[aria-label^="{name}"]'
        for _ in range(10):
            self.chord(self.Keys.CONTROL, "p")
            if self._poll(lambda: self.find(".quick-input-widget input"), 3):
                self.type(name)
                if self._poll(lambda: self.find(row), 5):
                    self.type(self.Keys.ENTER)
                    if self._poll(lambda: self.find(f"{editor}:focus"), 10):
                        return
            self.type(self.Keys.ESCAPE)
        raise AssertionError(f"{name} did not open\n{self.logs()}")

    def _poll(self, what: Callable[[], Any], seconds: float) -> Any:
        try:
            return self.wait(what, seconds, "")
        except AssertionError:
            return None

    def go_to(self, position: str) -> None:
        """Ctrl+G, `line:column`: the cursor lands where a click would put it."""
        self.chord(self.Keys.CONTROL, "g")
        self.wait(lambda: self.find(".quick-input-widget input:focus"), 10, "no Go to Line box")
        self.type(position)
        self.type(self.Keys.ENTER)
        self.wait(lambda: not self.find(".quick-input-widget input:focus"), 10, "Go to Line stayed")

    def suggestions(self) -> list[tuple[str, str]]:
        """The suggest widget's rows, label and kind ("tool_invocation_id, Field")."""
        rows = self.find(".suggest-widget.visible .monaco-list-row")
        labels = [str(row.get_attribute("aria-label")).rsplit(", ", 1) for row in rows]
        return [(label[0], label[-1]) for label in labels]

    def screenshot(self, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.driver.save_screenshot(str(SCREENSHOTS / f"vscode-{name}.png"))


@pytest.fixture(scope="module")
def vscode(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Editor]:
    reason = _missing()
    if reason:
        if os.environ.get("GUARDRAILS_REQUIRE_VSCODE_E2E") == "1":
            pytest.fail(f"GUARDRAILS_REQUIRE_VSCODE_E2E=1 but {reason}")
        pytest.skip(reason)
    from selenium import webdriver

    tmp = tmp_path_factory.mktemp("vscode")
    vsix = tmp / "guardrails-rules.vsix"
    # as the README builds it (`npm run package` also type-checks: test_vscode_grammar does),
    # in a copy: that test's build writes the same out/ when the suite runs in parallel
    source = tmp / "extension"
    ignore = shutil.ignore_patterns("node_modules", ".e2e", "out", "*.vsix")
    shutil.copytree(VSCODE, source, ignore=ignore)
    (source / "node_modules").symlink_to(VSCODE / "node_modules")
    subprocess.run(
        ["npx", "vsce", "package", "--no-dependencies", "--skip-license",
         "--allow-missing-repository", "--out", str(vsix)],
        cwd=source, check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    config, data, extensions = tmp / "config.yaml", tmp / "user-data", tmp / "extensions"
    config.write_text("auth: none\n")
    base = [str(CODE_SERVER), "--config", str(config), "--user-data-dir", str(data)]
    base += ["--extensions-dir", str(extensions)]
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "XDG_CONFIG_HOME": str(tmp / "xdg-config"),
        "XDG_DATA_HOME": str(tmp / "xdg-data"),
    }
    installed = subprocess.run(
        [*base, "--install-extension", str(vsix)],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert "was successfully installed" in installed.stdout, installed.stdout + installed.stderr

    workspace = tmp / "rules"
    shutil.copytree(ROOT / "rules", workspace)
    (workspace / "diag.rules").write_text(DIAG)
    (workspace / "complete.rules").write_text(COMPLETE)
    (data / "User").mkdir(parents=True, exist_ok=True)
    settings = {
        # VS Code gives extensions the PATH of a login shell, not this process's: as a user
        # whose virtualenv is not the workspace's .venv/, the path is set
        "guardrails.command": str(BIN / "guardrails"),
        # the desktop's default: VS Code in a browser saves after a delay, and a save after
        # a delay is never formatted (the test saves with Ctrl+S, as a desktop user does)
        "files.autoSave": "off",
        "security.workspace.trust.enabled": False,
        "workbench.startupEditor": "none",
        "telemetry.telemetryLevel": "off",
        "extensions.autoCheckUpdates": False,
        "update.mode": "none",
    }
    (data / "User" / "settings.json").write_text(json.dumps(settings))

    port = _free_port()
    log = tmp / "code-server.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [*base, "--bind-addr", f"127.0.0.1:{port}", "--disable-telemetry",
             "--disable-update-check", "--disable-workspace-trust", str(workspace)],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip

    def logs() -> str:
        texts = [log.read_text()]
        texts += [p.read_text()[-3000:] for p in sorted(data.glob("logs/*/exthost*/**/*.log"))]
        return "\n".join(texts)[-8000:]

    driver = None
    try:
        url = f"http://127.0.0.1:{port}/?folder={workspace}"
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, f"code-server exited:\n{logs()}"
            try:
                if httpx.get(url, timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"code-server did not answer:\n{logs()}"
            time.sleep(0.25)
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for arg in CHROME_ARGS:
            options.add_argument(arg)
        driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(CHROMEDRIVER))
        driver.get(url)
        editor = Editor(driver, workspace, data / "User" / "settings.json", logs)
        editor.wait(lambda: editor.find(".part.statusbar"), 60, "the workbench did not load")
        yield editor
    finally:
        if driver is not None:
            driver.quit()
        # code-server, its extension hosts and the language servers they started
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


STATUS_ITEM = '.part.statusbar [id^="guardrails."]'


def _server_started(editor: Editor, failed_already: bool = False) -> None:
    """The extension's status item turns from a spinner into a shield once `initialize` answered."""
    item = STATUS_ITEM

    def state() -> str:
        if editor.find(f"{item} .codicon-shield"):
            return "started"
        if not failed_already and editor.find(f"{item} .codicon-error"):
            raise AssertionError(f"the language server did not start:\n{editor.logs()}")
        return ""

    editor.wait(state, 90, "the language server did not start")


def test_a_rules_file_opens_as_guardrails_rules_with_the_server_running(vscode: Editor) -> None:
    vscode.open("token_budget.rules")
    _server_started(vscode)
    language = vscode.find('.part.statusbar [id="status.editor.mode"]')
    assert language and language[0].text == "Guardrails rules"
    # the TextMate grammar colours: `rule` and `when` are not the plain text colour
    keywords = vscode.driver.execute_script(
        "return [...document.querySelectorAll('.monaco-editor .view-line span')]"
        ".filter(s => ['rule', 'when'].includes(s.textContent))"
        ".map(s => getComputedStyle(s).color)"
    )
    plain = vscode.driver.execute_script(
        "return getComputedStyle(document.querySelector('.monaco-editor .view-lines')).color"
    )
    assert keywords and all(colour != plain for colour in keywords), (keywords, plain)
    vscode.screenshot("open")


def test_an_unknown_fact_gets_a_squiggle_and_a_problem_with_its_code(vscode: Editor) -> None:
    vscode.open("diag.rules")
    _server_started(vscode)
    assert not vscode.find(".monaco-editor .squiggly-error")
    vscode.go_to("3")
    vscode.type(vscode.Keys.END, " and bogus_fact > 3")
    vscode.type(vscode.Keys.ESCAPE)
    vscode.wait(lambda: vscode.find(".monaco-editor .squiggly-error"), 30, "no squiggle")
    vscode.chord(vscode.Keys.CONTROL, vscode.Keys.SHIFT, "m")  # the Problems panel

    def problem() -> str:
        rows = [r.text for r in vscode.find(".markers-panel .monaco-list-row")]
        return next((r for r in rows if "bogus_fact" in r), "")

    text = vscode.wait(problem, 30, "no problem listed for bogus_fact")
    vscode.screenshot("diagnostics")
    lines = text.splitlines()
    assert lines[:4] == [
        "unknown name 'bogus_fact' on hook tool_pre_invoke",
        "guardrails",
        "GR0202",
        "[Ln 3, Col 29]",
    ], text
    assert lines[4].startswith("hint: facts on tool_pre_invoke: tool.args, tool.name"), text
    vscode.chord(vscode.Keys.CONTROL, "j")  # the panel closed again


def _complete(editor: Editor, line: str, prefix: str, expect: str) -> set[tuple[str, str]]:
    """A new `when ` line after LINE (its `on`), completion shown, then PREFIX typed: the
    suggestions (label, kind) once EXPECT is among the labels (or not, after a while)."""
    editor.go_to(line)
    editor.type(editor.Keys.END, editor.Keys.ENTER, "when ")
    if not editor._poll(editor.suggestions, 3):  # the server's trigger characters include " "
        editor.chord(editor.Keys.CONTROL, editor.Keys.SPACE)
    editor.wait(editor.suggestions, 20, "no completion after `when `")
    editor.type(prefix)
    editor._poll(lambda: expect in dict(editor.suggestions()), 10)
    return set(editor.suggestions())


def test_completion_after_when_offers_the_facts_of_the_rules_hook(vscode: Editor) -> None:
    """Facts come as fields with their type (a namespace such as `tool` as a property);
    `tokens` is both a function and, on generation hooks, a fact. VS Code adds the words of
    open files (Text)."""
    vscode.open("complete.rules")
    _server_started(vscode)
    # rule complete_tool is on tool_pre_invoke (its `on` on line 2)
    on_tool = _complete(vscode, "2", "to", expect="tool_invocation_id")
    vscode.screenshot("completion")
    assert {("tool_invocation_id", "Field"), ("tool", "Property")} <= on_tool, on_tool
    assert ("tokens", "Function") in on_tool and ("tokens", "Field") not in on_tool, on_tool
    # the rest of the name typed: one row left, its type beside it
    vscode.type("ol_inv")

    def typed() -> str:
        rows = vscode.find(".suggest-widget.visible .monaco-list-row")
        if len(rows) != 1:
            return ""
        return " ".join(d.text for d in rows[0].find_elements(vscode._by, ".details-label"))

    assert vscode.wait(typed, 10, "tool_invocation_id not alone") == "str (field)"
    vscode.type(vscode.Keys.ESCAPE)
    # rule complete_prompt is on generation_pre_call (line 7 now that one was added)
    on_generation = _complete(vscode, "7", "to", expect="tokens")
    vscode.screenshot("completion-generation")
    assert {("tokens", "Field"), ("tokens", "Function")} <= on_generation, on_generation
    assert ("tool_invocation_id", "Field") not in on_generation, on_generation
    vscode.type(vscode.Keys.ESCAPE)


def test_hovering_a_fact_shows_its_type_doc_and_hosts(vscode: Editor) -> None:
    vscode.open("diag.rules")
    _server_started(vscode)
    vscode.go_to("3:14")  # `name` of `when tool.name == "x"`
    vscode.chord(vscode.Keys.CONTROL, "k")
    vscode.chord(vscode.Keys.CONTROL, "i")  # Show Hover: what the mouse shows

    def hover() -> str:
        texts = [h.text for h in vscode.find(".monaco-editor .monaco-hover:not(.hidden)")]
        return next((t for t in texts if t.strip()), "")

    text = vscode.wait(hover, 30, "no hover")
    vscode.screenshot("hover")
    assert text.splitlines()[:2] == ["tool.name: str", "name of the tool being called"], text
    assert "tool_pre_invoke: mellea:" in text and "writable" in text, text
    vscode.type(vscode.Keys.ESCAPE)


def test_saving_formats_the_file_on_disk(vscode: Editor) -> None:
    path = vscode.workspace / "token_budget.rules"
    before = path.read_text()
    assert "  when tokens > 8000\n" in before
    vscode.open("token_budget.rules")
    _server_started(vscode)
    vscode.go_to("9:7")
    vscode.type("   ", vscode.Keys.END, " and tokens  >  1")
    vscode.type(vscode.Keys.ESCAPE)
    messy = before.replace("  when tokens > 8000\n", "  when    tokens > 8000 and tokens  >  1\n")
    formatted = subprocess.run(
        [sys.executable, "-m", "guardrails", "fmt", "-"],
        input=messy, capture_output=True, text=True, check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    ).stdout  # fmt: skip
    assert formatted != messy and "  when tokens > 8000 and tokens > 1\n" in formatted
    vscode.wait(lambda: vscode.find(".tab.active.dirty"), 10, "the edit did not make it dirty")
    vscode.chord(vscode.Keys.CONTROL, "s")
    # saved once the tab is clean (the file is read after the write, not during it)
    vscode.wait(lambda: not vscode.find(".tab.active.dirty"), 30, "the editor stayed dirty")
    vscode.screenshot("format")
    assert path.read_text() == formatted


def _set_command(editor: Editor, value: str) -> None:
    """In the Settings editor (Ctrl+,), as a user changes `guardrails.command`."""
    editor.chord(editor.Keys.CONTROL, ",")
    editor.wait(lambda: editor.find(".settings-editor .suggest-input-container"), 20, "no Settings")
    editor.chord(editor.Keys.CONTROL, "a")  # the search box keeps the last search
    editor.type("guardrails.command")
    field = '.settings-editor .setting-item-contents[data-key="guardrails.command"] input'

    def written() -> bool:
        try:
            return json.loads(editor.settings.read_text()).get("guardrails.command") == value
        except ValueError:  # read while VS Code writes it
            return False

    # The Settings editor writes as you type and redraws the row when the file changes:
    # on a loaded machine a keystroke can land in the old row. A user would look and
    # type it again; so does this, until the file holds exactly the value.
    for attempt in range(3):
        box = editor.wait(lambda: editor.find(field), 20, "guardrails.command is not in Settings")
        box[0].click()
        editor.chord(editor.Keys.CONTROL, "a")
        editor.type(value)
        try:
            editor.wait(written, 15, "the setting was not written")
            break
        except AssertionError:
            if attempt == 2:
                raise
    editor.chord(editor.Keys.CONTROL, "w")  # the Settings tab closed


def test_a_server_that_cannot_start_says_what_to_install(vscode: Editor) -> None:
    """`guardrails.command` pointing nowhere: an error names the command and the install; set
    right again, the extension restarts the server by itself."""
    good = json.loads(vscode.settings.read_text())["guardrails.command"]
    vscode.open("diag.rules")
    _server_started(vscode)
    missing = str(vscode.workspace / "no-such-guardrails")
    _set_command(vscode, missing)

    def toast() -> Any:
        toasts = vscode.find(".notifications-toasts .notification-toast")
        return next((t for t in toasts if "could not run the language server" in t.text), None)

    shown = vscode.wait(toast, 30, "no error notification")
    text = shown.text
    vscode.screenshot("no-server")
    assert f'"{missing} lsp"' in text and "\"pip install 'guardrails-rules[lsp]'\"" in text, text
    assert "`" not in text, text  # shown as typed: no Markdown in a notification
    assert vscode.find(f"{STATUS_ITEM} .codicon-error")
    for close in shown.find_elements(vscode._by, ".codicon-notifications-clear"):
        close.click()
    _set_command(vscode, good)
    vscode.open("diag.rules")
    _server_started(vscode, failed_already=True)
