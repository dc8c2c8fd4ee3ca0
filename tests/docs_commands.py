"""The shell commands of README.md and docs/*.md, as steps a test can run in order.

The convention (docs/testing.md's walkthrough and every command list follow it):

- A fenced block tagged `sh`, `bash`, `shell` or `console` holds commands; so does an
  untagged block whose first line is a command (`guardrails ...`, `pytest`, `$ ...`,
  `VAR=value cmd`), so a command added without a tag still runs. In `console` blocks
  (and any block whose lines start with `$ `) only `$ ` lines are commands; the rest is
  output, shown to the reader and not compared.
- A block right under a line that names a file (`` `rules/tools.rules` `` alone, or a
  sentence ending in `` `pyproject.toml`: ``) is that file's content: it is written,
  in page order, before the commands below it run. That is how a walkthrough's files
  come from the page itself.
- Directives are HTML comments on the lines just above a fence (invisible on GitHub):
  `<!-- not run: REASON -->` skips a command block or a file block (the test keeps a
  list of them, so they cannot silently grow), and `<!-- exit N -->` says every
  command of the block exits N (default 0): a command that fails on purpose (an
  `eval --fail` that blocks, a `pytest` after breaking a rule) goes in a block of its
  own under it.

Every page's steps run as one bash script (one shell: `cd` and `export` carry over),
in a fresh copy of the repository, with the checkout's `guardrails` first on PATH.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHELL_TAGS = {"sh", "bash", "shell", "console", "shell-session"}
COMMANDS = {
    "guardrails", "pytest", "python", "python3", "pip", "pip3", "bash", "sh", "uvicorn",
    "cd", "mkdir", "git", "pre-commit", "export", "curl", "echo", "cat", "cp", "mv", "rm",
    "uv", "pipx", "make", "docker", "source", "eval",
}  # fmt: skip
FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([\w+-]*)")
DIRECTIVE = re.compile(r"^\s*<!--\s*(.*?)\s*-->\s*$")
LABEL = re.compile(r"(?:^|\s)`([\w.-]+(?:/[\w.-]+)*)`:?\s*$")
ENV_PREFIX = re.compile(r"^(?:[A-Z_][A-Z0-9_]*=\S*\s+)+")
# never run, whatever the page says: they change the environment or are this suite
FORBIDDEN = re.compile(
    r"^\s*(?:(?:python3? -m )?pip3? install|uv pip install|(?:bash )?scripts/test\.sh)"
)


class DocsError(Exception):
    """A page breaks the convention (an unknown directive, a forbidden command)."""


@dataclass
class Block:
    page: str
    line: int  # the opening fence, 1-based
    tag: str
    lines: list[str]
    label: str | None = None
    not_run: str | None = None
    exit: int = 0
    directives: list[str] = field(default_factory=list)

    @property
    def is_shell(self) -> bool:
        if self.tag in SHELL_TAGS:
            return True
        if self.tag:
            return False
        lines = [ln for ln in self.lines if ln.strip() and not ln.startswith("#")]
        first = ""
        for ln in lines:  # the first logical line, continuations joined
            first += ln.rstrip().removesuffix("\\") + " "
            if not ln.rstrip().endswith("\\"):
                break
        return first.startswith("$ ") or _first_word(first) in COMMANDS

    @property
    def is_file(self) -> bool:
        return self.label is not None and not self.is_shell

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


@dataclass
class Step:
    page: str
    line: int  # the command's (or file block's) line in the page
    kind: str  # "command" | "file"
    text: str
    exit: int = 0
    path: str = ""

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


def _dedent(line: str, indent: int) -> str:
    return line[indent:] if line[:indent].isspace() else line.lstrip() if indent else line


def _first_word(line: str) -> str:
    words = ENV_PREFIX.sub("", line.strip()).split()
    return words[0] if words else ""


def pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def blocks(path: Path) -> list[Block]:
    page = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else path.name
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if m is None:
            i += 1
            continue
        indent, fence, tag = len(m.group(1)), m.group(2), m.group(3).lower()
        end = i + 1
        while end < len(lines) and not lines[end].strip().startswith(fence):
            end += 1
        body = [_dedent(ln, indent) for ln in lines[i + 1 : end]]
        block = Block(page, i + 1, tag, body)
        _read_preamble(block, lines, i)
        found.append(block)
        i = end + 1
    return found


def _read_preamble(block: Block, lines: list[str], fence: int) -> None:
    """Directives and the file label from the lines above the fence."""
    j = fence - 1
    while j >= 0 and (not lines[j].strip() or DIRECTIVE.match(lines[j])):
        m = DIRECTIVE.match(lines[j])
        if m:
            block.directives.append(m.group(1))
        j -= 1
    for text in block.directives:
        if text.startswith("not run:") and text[len("not run:") :].strip():
            block.not_run = text[len("not run:") :].strip()
        elif re.fullmatch(r"exit \d+", text):
            block.exit = int(text.split()[1])
        else:
            raise DocsError(
                f"{block.where}: unknown directive <!-- {text} --> above a code block "
                "(known: <!-- not run: REASON -->, <!-- exit N -->)"
            )
    if j >= 0 and not FENCE.match(lines[j]):
        m = LABEL.search(lines[j])
        if m and ("/" in m.group(1) or "." in m.group(1)) and ".." not in m.group(1):
            block.label = m.group(1)


def commands(block: Block) -> list[tuple[int, str]]:
    """(line, command) of a shell block: continuation lines joined, comments and, in
    a console transcript, output lines left out."""
    console = block.tag in {"console", "shell-session"} or (
        not block.tag and any(ln.startswith("$ ") for ln in block.lines)
    )
    out: list[tuple[int, str]] = []
    current: list[str] = []
    start = 0
    heredoc: str | None = None
    for n, raw in enumerate(block.lines, start=block.line + 1):
        if heredoc is not None:
            current.append(raw)
            if raw.strip() == heredoc:
                heredoc = None
                out.append((start, "\n".join(current)))
                current = []
            continue
        if current:
            current.append(raw)
        elif console:
            if not raw.startswith("$ "):
                continue
            current, start = [raw[2:]], n
        else:
            if not raw.strip() or raw.lstrip().startswith("#"):
                continue
            current, start = [raw], n
        if raw.rstrip().endswith("\\"):
            continue
        m = re.search(r"(?<!<)<<-?(?!<)\s*['\"]?(\w+)['\"]?", raw)
        if m:
            heredoc = m.group(1)
            continue
        out.append((start, "\n".join(current)))
        current = []
    if current:
        out.append((start, "\n".join(current)))
    return out


def steps(path: Path) -> tuple[list[Step], list[Block]]:
    """The page's runnable steps in order, and its blocks marked not run."""
    runnable: list[Step] = []
    skipped: list[Block] = []
    for block in blocks(path):
        if not (block.is_shell or block.is_file):
            continue
        if block.not_run is not None:
            skipped.append(block)
            continue
        if block.is_file:
            text = "\n".join(block.lines) + "\n"
            runnable.append(Step(block.page, block.line, "file", text, path=block.label or ""))
            continue
        for line, command in commands(block):
            if FORBIDDEN.match(command):
                raise DocsError(
                    f"{block.page}:{line}: `{command}` must not run in the tests "
                    "(it changes the environment, or is the test suite): mark its block "
                    "<!-- not run: REASON -->"
                )
            runnable.append(Step(block.page, line, "command", command, block.exit))
    return runnable, skipped


def script(steps: list[Step]) -> str:
    """One bash script for a page: each step reports its status on fd 3 and its output
    to out/<n>; commands share one shell, so `cd` and `export` carry over."""
    parts = ['exec 3>>"$1"', "exec </dev/null"]
    for n, step in enumerate(steps):
        if step.kind == "file":
            mark = f"__GUARDRAILS_DOCS_{n}__"
            parts += [
                f"printf 'start {n}\\n' >&3",
                f"mkdir -p -- \"$(dirname -- '{step.path}')\" && cat > '{step.path}' <<'{mark}'",
                step.text + mark,
                f"printf 'end {n} %d\\n' $? >&3",
            ]
        else:
            parts += [
                f"printf 'start {n}\\n' >&3",
                "{",
                step.text,
                f'}} >"$2/{n}.out" 2>&1',
                f"printf 'end {n} %d\\n' $? >&3",
            ]
    return "\n".join(parts) + "\n"


def environment(bin_dir: Path | None = None) -> dict[str, str]:
    """The checkout's `guardrails` first on PATH; or, with `bin_dir`, an installed one
    (a clean virtualenv's bin/: scripts/fresh-user.sh), the checkout not importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "GUARDRAILS_"))}
    env.pop("PYTHONPATH", None)
    env.pop("VIRTUAL_ENV", None)
    first = bin_dir or Path(sys.executable).parent
    env["PATH"] = str(first) + os.pathsep + env.get("PATH", "")
    if bin_dir is None:
        env["PYTHONPATH"] = str(ROOT)
    env["NO_COLOR"] = "1"
    # the dev environment's hypothesis plugin costs seconds per pytest start-up
    env["PYTEST_ADDOPTS"] = "-p no:hypothesispytest"
    return env


def sandbox(dest: Path) -> Path:
    """A copy of the repository as a clone has it (no virtualenvs, caches or .git)."""
    ignore = shutil.ignore_patterns(".git", ".venv*", "__pycache__", ".*_cache", "*.egg-info",
                                    "dist", "build", ".rules-cache", "node_modules", "*.vsix", ".e2e")  # fmt: skip
    shutil.copytree(ROOT, dest, ignore=ignore)
    return dest


def run(
    steps: list[Step], cwd: Path, work: Path, timeout: float, bin_dir: Path | None = None
) -> list[str]:
    """Run a page's steps in `cwd`; one problem per step that did not do what the page
    says (file:line, the command, its exit status and its output)."""
    out = work / "out"
    out.mkdir(parents=True, exist_ok=True)
    (work / "page.sh").write_text(script(steps), encoding="utf-8")
    status = work / "status"
    proc = subprocess.Popen(
        ["bash", str(work / "page.sh"), str(status), str(out)],
        cwd=cwd, env=environment(bin_dir), start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        _, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        _, stderr = proc.communicate()
    with contextlib.suppress(ProcessLookupError):  # what a command left in the background
        os.killpg(proc.pid, signal.SIGKILL)
    started: set[int] = set()
    ended: dict[int, int] = {}
    for line in status.read_text().splitlines() if status.exists() else []:
        word, *nums = line.split()
        if word == "start":
            started.add(int(nums[0]))
        else:
            ended[int(nums[0])] = int(nums[1])
    problems = []
    for n, step in enumerate(steps):
        shown = step.text if step.kind == "command" else f"(writing {step.path})"
        log = out / f"{n}.out"
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:]) if log.exists() else ""
        if n not in started:
            problems.append(f"{step.where}: `{shown}` never ran (the page's script stopped)"
                            + (f"\n{stderr}" if stderr else ""))  # fmt: skip
        elif n not in ended:
            problems.append(
                f"{step.where}: `{shown}` did not finish within {timeout:.0f} s\n{tail}"
            )
        elif ended[n] != step.exit:
            problems.append(
                f"{step.where}: `{shown}` exited {ended[n]}, the page expects {step.exit}\n{tail}"
            )
    return problems


def main(argv: list[str]) -> int:
    """`python tests/docs_commands.py BIN_DIR PAGE...`: the pages' commands with the
    `guardrails` and `pytest` of BIN_DIR, as a new user runs them (scripts/fresh-user.sh,
    after installing the wheel in a clean virtualenv); in a copy of the repository, for
    the examples they name, with the checkout not importable."""
    import tempfile

    bin_dir, pages_given = Path(argv[0]).resolve(), argv[1:]
    failed = 0
    for page in pages_given:
        runnable, _ = steps(ROOT / page)
        with tempfile.TemporaryDirectory() as tmp:
            cwd = sandbox(Path(tmp) / "repo")
            problems = run(runnable, cwd, Path(tmp) / "work", 600.0, bin_dir)
        print(
            f"{page}: {len(runnable)} steps, "
            + (f"{len(problems)} failed" if problems else "all as the page says")
        )
        for problem in problems:
            print(problem)
        failed += bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
