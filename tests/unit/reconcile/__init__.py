"""Unit tests for booktransfer.reconcile."""
