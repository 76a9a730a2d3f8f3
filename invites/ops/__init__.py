"""Operator surfaces: health checks, and the development outbox browser."""
