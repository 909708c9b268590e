"""Unit tests for booktransfer.load."""
