"""Unit tests for booktransfer.protect."""
