"""Tests of the staff console surface."""
