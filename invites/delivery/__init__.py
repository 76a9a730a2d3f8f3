"""The delivery engine: outbox, claim, send, record, retry, reconcile, relay. It knows
kinds of message only through their registry and imports no product area."""
