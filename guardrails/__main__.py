"""`python -m guardrails` runs the CLI."""

from .tooling.cli import main

main()
