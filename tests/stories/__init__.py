"""End-to-end stories: an invitation, a click in a real browser, what arrives by SMTP."""
