"""Tests of the public pages reached from links in email."""
