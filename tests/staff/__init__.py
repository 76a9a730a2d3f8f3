"""Tests of the staff area: accounts and the users command."""
