"""Tests of the shared pieces: settings, tokens, text, inputs, the audit log, errors, CLI."""
