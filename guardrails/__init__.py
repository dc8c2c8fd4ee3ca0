"""guardrails: policy-as-code guardrails for LLM applications.

    policy = guardrails.load("rules/")
    verdict = policy.evaluate("generation_pre_call", {"prompt": "..."})

This module imports only the language core: host adapters (cpex, Mellea) are
imported by the code that uses them, never here.
"""

from __future__ import annotations

from .check.catalog import Catalog as Catalog
from .check.catalog import register_hook as register_hook
from .diagnostics import Diagnostic as Diagnostic
from .diagnostics import GuardrailsError as GuardrailsError
from .diagnostics import RulesError as RulesError
from .diagnostics import Severity as Severity
from .policy.policy import Policy as Policy
from .policy.policy import check as check
from .policy.policy import check_text as check_text
from .policy.policy import load as load
from .policy.policy import loads as loads
from .runtime.hostfn import Answer as Answer
from .runtime.hostfn import HostFunctionError as HostFunctionError
from .runtime.hostsig import function as function
from .runtime.judge import Judge as Judge
from .runtime.verdict import RuleResult as RuleResult
from .runtime.verdict import Verdict as Verdict

__version__ = "0.1.0"
