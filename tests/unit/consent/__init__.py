"""Unit tests for booktransfer.consent."""
