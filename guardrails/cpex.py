"""The path cpex configs name: `kind: guardrails.cpex.RulesPlugin`.

The plugin lives in `guardrails.adapters.cpex.yaml_plugin`; this module keeps the
published kind stable wherever the code moves.
"""

from __future__ import annotations

from .adapters.cpex.yaml_plugin import ConfigRefused, RulesPlugin

__all__ = ["ConfigRefused", "RulesPlugin"]
