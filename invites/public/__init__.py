"""Pages reached from links in email. The signed token is the credential; GET changes nothing."""
