"""The language server (`guardrails lsp`): the only place pygls and lsprotocol are
imported, as they come with the optional `lsp` extra."""
