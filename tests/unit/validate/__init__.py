"""Unit tests for booktransfer.validate."""
