"""Tests of the feedback area: bounce and complaint events."""
