"""`guardrails ui`: a local web console over one ruleset (docs/console.md).

A playground for editing rules and trying payloads, the corpus with what
`guardrails test` would say, and a rollout dashboard over decision logs. Starlette and
uvicorn (the `ui` extra) are imported only inside this package; the work each page
shows is done by the same modules the commands use.
"""
