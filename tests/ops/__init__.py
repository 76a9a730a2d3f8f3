"""Tests of the operator surfaces: health and the development outbox."""
