"""Unit tests for booktransfer.mapping."""
