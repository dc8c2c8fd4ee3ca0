"""Host adapters: the edge where guardrails meets cpex, Mellea and other hosts.

Nothing in the language core imports this package; each module here imports its
host library itself, so a host that is not installed costs nothing.
"""
