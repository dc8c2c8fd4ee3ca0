"""What one console serves: the rules, logs and corpus it was started on, and what it
may do with them.

Plain data, built by `guardrails ui` (tooling/ui_cli.py) and handed to every section's
`routes(state)`; nothing here imports the web framework, so the sections' logic can be
tested without a server.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ConsoleState:
    rules: Path  # a .rules file or a directory of them, as given on the command line
    token: str  # the secret every request carries (app.guard)
    decisions: tuple[Path, ...] = ()  # --decisions logs (JSON lines)
    corpus: Path | None = None  # --corpus DIR
    write: bool = False  # --write: saving rules files and corpus cases is allowed
    # --functions/--judge, as `load`/`check` take them (shared_cli.host_functions)
    options: dict[str, Any] = field(default_factory=dict)
    label: str = ""  # RULES as the user wrote it, for the page header

    @property
    def shown(self) -> str:
        return self.label or str(self.rules)

    @property
    def rules_root(self) -> Path:
        """The directory rules files may be saved in: RULES itself, or a file's folder."""
        return self.rules if self.rules.is_dir() else self.rules.parent

    def rules_files(self) -> list[Path]:
        """The ruleset's files, as `check RULES` reads them."""
        if self.rules.is_dir():
            return sorted(p for p in self.rules.rglob("*.rules") if p.is_file())
        return [self.rules]
