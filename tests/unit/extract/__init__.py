"""Unit tests for booktransfer.extract."""
