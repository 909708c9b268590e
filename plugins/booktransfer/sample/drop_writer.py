"""Writing the drop folder: CSV data files with row counts, and the control file."""

import csv
import hashlib
from pathlib import Path
from types import TracebackType

from booktransfer.sample.layout import CONTROL_FILE

ENCODINGS = ("utf-8", "gb18030")


class DataFileWriter:
    """A CSV data file written row by row; knows the physical line number of every row it writes."""

    def __init__(self, path: Path, columns: tuple[str, ...], encoding: str) -> None:
        """Create ``path`` (replacing it) and write the header line."""
        self.path = path
        self.rows = 0
        self._file = path.open("w", encoding=encoding, newline="")
        self._writer = csv.writer(self._file, lineterminator="\n")
        self._writer.writerow(columns)

    def write(self, row: list[str]) -> int:
        """Write one data row and return its physical line number (the header is line 1)."""
        self._writer.writerow(row)
        self.rows += 1
        return self.rows + 1

    def close(self) -> None:
        """Flush and close the file."""
        self._file.close()

    def __enter__(self) -> "DataFileWriter":
        """Use as a context manager."""
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        """Close the file."""
        self.close()


def sha256_of(path: Path) -> str:
    """Return the hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_control_file(out_dir: Path, rows: dict[str, int]) -> Path:
    """Write ``CONTROL.txt``: one ``file|rows|sha256`` line per data file, in the given order."""
    lines = [f"{name}|{count}|{sha256_of(out_dir / name)}\n" for name, count in rows.items()]
    path = out_dir / CONTROL_FILE
    with path.open("w", encoding="ascii", newline="") as stream:
        stream.writelines(lines)
    return path
