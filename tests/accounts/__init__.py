"""Tests of the accounts area: categories, marketing and service mail."""
