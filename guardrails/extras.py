"""Optional dependencies: what is missing, said in terms a user can act on.

The package's optional parts (a host, a store, metrics, the test runner) import a
library the core does not install. When it is missing, the error names the extra that
brings it and the command that installs it, never only a module deep inside. One
error class, `MissingExtra`: a `GuardrailsError` (the package's own errors) and a
`ModuleNotFoundError` (so `pytest.importorskip` and `except ImportError` still work).
"""

from __future__ import annotations

import importlib.util

from .diagnostics import GuardrailsError

DISTRIBUTION = "guardrails-rules"


class MissingExtra(GuardrailsError, ModuleNotFoundError):
    """An optional dependency is not installed; the message names its extra."""

    def __init__(self, message: str, extra: str, module: str | None = None) -> None:
        super().__init__(message)
        self.extra = extra
        self.name = module


def install_hint(extra: str) -> str:
    return f"pip install '{DISTRIBUTION}[{extra}]'"


def missing_extra(extra: str, feature: str, err: ImportError | None = None) -> MissingExtra:
    """The error for `feature` (what the user asked for) without `extra`; `err`, the
    ImportError seen, gives the module that was missing. Raise it `from None`."""
    module = err.name if err is not None else None
    if isinstance(err, ModuleNotFoundError) and module:
        what = f" ({module} is not installed)"
    else:  # installed, but not the version the extra pins (`cannot import name ...`)
        what = f" ({err})" if err is not None else ""
    return MissingExtra(
        f"{feature} needs the '{extra}' extra{what}: {install_hint(extra)}", extra, module
    )


def require(extra: str, feature: str, *modules: str) -> None:
    """Raise `missing_extra` unless every one of `modules` can be imported; looks
    them up without importing them."""
    for module in modules:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):  # a parent package missing, or a broken one
            found = False
        if not found:
            raise missing_extra(extra, feature, ModuleNotFoundError(name=module))
