"""Shared pieces below every product area: settings, database, Redis, tokens, addresses."""
