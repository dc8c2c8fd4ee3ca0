"""The language server for `.rules` files (`guardrails lsp`): pygls and lsprotocol are
imported only in this package (the `lsp` extra), and not by its pure modules."""
