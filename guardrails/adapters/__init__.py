"""Host adapters: the edge where guardrails meets cpex, Mellea and other hosts.

The core imports nothing from here (the host methods of `Policy` import their adapter
when called), and nothing here imports `guardrails.policy` at run time: an adapter
takes a Policy from its caller, follows reloads by `policy.subscribe`, and the two
that build a policy from a config (the YAML plugin kind, `check-config`) call the
public `guardrails.load` as any user does. Each module imports its host library
itself, so a host that is not installed costs nothing. The hosts' hook tables are
data in `guardrails.hosts`, so checking rules needs no adapter.
"""
