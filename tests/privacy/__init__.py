"""Tests of the privacy area: the processing register, retention, policy versions."""
