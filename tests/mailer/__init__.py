"""Tests of mailer/: composing, rendering, sending, bounces, the classifier, authoring."""
