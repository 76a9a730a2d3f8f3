"""Tests of the delivery engine, under faults: real workers, Redis and SMTP servers."""
