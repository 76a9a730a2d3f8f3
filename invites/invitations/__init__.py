"""Friend invitations: create, accept, remove, expire; the invitation email; counters."""
