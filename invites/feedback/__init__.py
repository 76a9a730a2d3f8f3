"""Feedback about sent mail: bounces and complaints, and what they suppress."""
