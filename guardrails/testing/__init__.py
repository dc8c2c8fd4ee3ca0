"""Test doubles for users' own tests of their rules: hosts that answer without a model."""
