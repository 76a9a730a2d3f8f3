"""Tests of the campaigns area: delivery to exactly the eligible, once."""
