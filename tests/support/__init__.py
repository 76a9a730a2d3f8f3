"""What the tests share: helpers, a real SMTP server, seeded audiences, staff users."""
