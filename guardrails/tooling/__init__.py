"""The author's tools around the language: CLI, formatter, explain, corpus, rollout."""
