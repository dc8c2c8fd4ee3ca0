"""Reload a policy when its rules files change (built on `watchfiles`).

The watcher runs in a daemon thread and only calls `Policy.reload()`, which compiles
the new version completely before swapping it in; a broken edit is reported and the
last good rules stay in force, visible in decision records as the old ruleset hash.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..diagnostics import RulesError

if TYPE_CHECKING:
    from .loading import Compiled
    from .policy import Policy

_log = logging.getLogger("guardrails.policy.watch")


def _watched(paths: Any) -> list[Path]:
    items = [paths] if isinstance(paths, str | Path) else list(paths)
    return [Path(p) for p in items]


class Watcher:
    def __init__(
        self,
        policy: Policy,
        paths: Any,
        on_reload: Callable[[Compiled], None] | None,
        on_error: Callable[[Exception], None] | None,
        debounce_ms: int,
    ) -> None:
        self.policy = policy
        self.paths: Sequence[Path] = _watched(paths)
        self.on_reload = on_reload
        self.on_error = on_error
        self.debounce_ms = debounce_ms
        self.reloads = 0
        self.failures = 0
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="guardrails-watch", daemon=True)

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(timeout=5)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def __enter__(self) -> Watcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _relevant(self, change: Any, path: str) -> bool:
        return path.endswith(".rules")

    def _run(self) -> None:
        import watchfiles

        self._ready.set()
        for _changes in watchfiles.watch(
            *self.paths,
            watch_filter=self._relevant,
            debounce=self.debounce_ms,
            stop_event=self._stop,
            yield_on_timeout=False,
            raise_interrupt=False,
        ):
            self.reload_now()

    def reload_now(self) -> None:
        """Reload once; never raises (errors go to `on_error` and the log)."""
        try:
            compiled = self.policy.reload()
        except Exception as err:
            self.failures += 1
            if isinstance(err, RulesError):
                _log.error(
                    "rules reload failed; keeping %s\n%s", self.policy.ruleset_hash[:12], err
                )
            else:
                _log.exception("rules reload failed; keeping %s", self.policy.ruleset_hash[:12])
            if self.on_error is not None:
                self.on_error(err)
            return
        self.reloads += 1
        _log.info("rules reloaded: ruleset %s", compiled.ruleset_hash[:12])
        if self.on_reload is not None:
            self.on_reload(compiled)
