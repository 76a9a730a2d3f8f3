"""Tests of the JSON API surface."""
