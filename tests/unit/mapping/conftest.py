"""Fixtures shared with the extract tests (a small valid drop)."""

from tests.unit.extract.conftest import mini_drop  # noqa: F401
