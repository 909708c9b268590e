"""Books generated once per test session (small, so the whole suite stays fast)."""

import pytest

from booktransfer.sample.generator import BookSummary, generate_book

CUSTOMERS = 2000
SEED = 7
DEFECT_RATE = 0.2


@pytest.fixture(scope="session")
def clean_book(tmp_path_factory: pytest.TempPathFactory) -> BookSummary:
    """A defect-free UTF-8 book."""
    return generate_book(tmp_path_factory.mktemp("clean") / "drop", CUSTOMERS, SEED)


@pytest.fixture(scope="session")
def defective_book(tmp_path_factory: pytest.TempPathFactory) -> BookSummary:
    """A book with defects in about a fifth of the eligible rows, and its ground truth."""
    return generate_book(
        tmp_path_factory.mktemp("defective") / "drop", CUSTOMERS, SEED, defect_rate=DEFECT_RATE
    )


@pytest.fixture(scope="session")
def gb18030_book(tmp_path_factory: pytest.TempPathFactory) -> BookSummary:
    """A defect-free book encoded in GB18030."""
    return generate_book(tmp_path_factory.mktemp("gb") / "drop", CUSTOMERS, SEED, encoding="gb18030")
