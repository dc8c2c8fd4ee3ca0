"""`python -m guardrails` runs the CLI."""

from .cli import main

main()
