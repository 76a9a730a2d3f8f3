"""Account holders: contacts, categories and consent, who may get what; their email."""
