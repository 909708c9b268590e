"""Public entry point: generate a synthetic seller book into a drop folder (docs/sample-book.md)."""

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from booktransfer.sample.book_writer import BookWriter
from booktransfer.sample.drop_writer import ENCODINGS, write_control_file

PROGRESS_STEP = 1000


@dataclass(frozen=True)
class BookSummary:
    """What ``generate_book`` wrote: folder, ground truth (None without defects), data rows per file, time."""

    out_dir: Path
    truth_path: Path | None
    rows: dict[str, int]
    seconds: float


def default_truth_path(out_dir: Path) -> Path:
    """The default ground-truth file: ``<out>.truth.csv`` beside the drop folder, never inside it."""
    return out_dir.parent / f"{out_dir.name}.truth.csv"


def check_arguments(out_dir: Path, customers: int, defect_rate: float, encoding: str, truth: Path) -> None:
    """Raise ValueError for arguments ``generate_book`` cannot honour."""
    if isinstance(customers, bool) or not isinstance(customers, int) or customers < 1:
        raise ValueError(f"customers must be a positive integer, not {customers!r}")
    if not 0 <= defect_rate < 1:
        raise ValueError(f"defect_rate must be in [0, 1), not {defect_rate!r}")
    if encoding not in ENCODINGS:
        raise ValueError(f"encoding must be one of {', '.join(ENCODINGS)}, not {encoding!r}")
    if truth.resolve().is_relative_to(out_dir.resolve()):
        raise ValueError("the ground truth file must not be inside the drop folder")


def generate_book(
    out_dir: Path,
    customers: int,
    seed: int,
    defect_rate: float = 0.0,
    encoding: str = "utf-8",
    truth_path: Path | None = None,
    progress: bool = False,
) -> BookSummary:
    """Write LDPERSON, LCCONT, LCPARTY, CUST_AUTH_LOG and CONTROL.txt for ``customers`` customers.

    The output is byte-identical for the same arguments. With ``defect_rate`` > 0 the ground truth is
    written to ``truth_path`` (default: beside ``out_dir``) and its path returned; otherwise no truth file.
    """
    out_dir = Path(out_dir)
    truth = Path(truth_path) if truth_path is not None else default_truth_path(out_dir)
    check_arguments(out_dir, customers, defect_rate, encoding, truth)
    started = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    book = BookWriter(out_dir, customers, seed, defect_rate, encoding)
    try:
        with _progress_bar(customers, progress) as advance:
            while book.customers < customers:
                advance(book.write_household(customers - book.customers))
    except BaseException:
        book.close()
        book.discard_truth()
        raise
    rows = book.close()
    write_control_file(out_dir, rows)
    saved = book.truth.save(truth) if book.truth is not None else None
    return BookSummary(out_dir=out_dir, truth_path=saved, rows=rows, seconds=time.perf_counter() - started)


@contextmanager
def _progress_bar(total: int, enabled: bool) -> Iterator[Callable[[int], None]]:
    """Yield an ``advance(customers)`` callback: a rich progress bar on a terminal, else a no-op."""
    if not (enabled and sys.stderr.isatty()):
        yield _ignore
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task("customers", total=total)
        pending = 0

        def advance(count: int) -> None:
            """Move the bar forward, refreshing every PROGRESS_STEP customers."""
            nonlocal pending
            pending += count
            if pending >= PROGRESS_STEP:
                bar.advance(task, pending)
                pending = 0

        yield advance
        bar.advance(task, pending)


def _ignore(count: int) -> None:
    """Progress callback that does nothing."""
