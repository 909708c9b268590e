"""The ground truth of injected defects: ``file,line,key,column,defect``, ordered by file and line."""

import csv
import shutil
import tempfile
from pathlib import Path
from typing import IO

from booktransfer.sample.layout import DATA_FILES

TRUTH_COLUMNS = ("file", "line", "key", "column", "defect")


class TruthLog:
    """Collects defect records per data file in temporary files (bounded memory), then merges them."""

    def __init__(self) -> None:
        """Open one temporary spool per data file."""
        self._spools: dict[str, IO[str]] = {
            name: tempfile.TemporaryFile("w+", encoding="utf-8", newline="") for name in DATA_FILES
        }
        self._writers = {name: csv.writer(spool, lineterminator="\n") for name, spool in self._spools.items()}
        self.count = 0

    def record(self, file: str, line: int, key: str, column: str, defect: str) -> None:
        """Record that ``defect`` was injected into ``column`` of the row at ``line`` of ``file``."""
        self._writers[file].writerow((file, line, key, column, defect))
        self.count += 1

    def save(self, path: Path) -> Path:
        """Write the truth file (UTF-8, header first, data files in drop order) and release the spools."""
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8", newline="") as target:
            csv.writer(target, lineterminator="\n").writerow(TRUTH_COLUMNS)
            for spool in self._spools.values():
                spool.seek(0)
                shutil.copyfileobj(spool, target)
        self.close()
        return path

    def close(self) -> None:
        """Discard the spools."""
        for spool in self._spools.values():
            spool.close()
