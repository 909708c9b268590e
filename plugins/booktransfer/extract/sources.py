"""Where the seller's drop comes from. Every source lands files the same way, so the DAG does not care which."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Protocol

from booktransfer.errors import SourceFormatError


class DropSource(Protocol):
    """A seller drop: list its files, tell whether one is there, land one of them in a local folder."""

    def list_files(self) -> list[str]:
        """Names of the files in the drop (no folders)."""
        ...

    def exists(self, name: str) -> bool:
        """Whether the drop holds a regular file called `name` (the sensor asks for the control file)."""
        ...

    def fetch(self, name: str, dest: Path) -> Path:
        """Copy `name` to `dest`, atomically (a temporary name, then rename)."""
        ...

    def close(self) -> None:
        """Release connections; the source may not be used afterwards."""
        ...


def safe_name(name: str) -> str:
    """Refuse file names with path components (`../x`, `a/b`) before they touch the file system."""
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\x00" in name:
        raise SourceFormatError(f"refused file name {name!r}: path components are not allowed")
    return name


class LocalFolderSource:
    """A drop that is a folder on this machine (the embedded default)."""

    def __init__(self, folder: Path | str) -> None:
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise SourceFormatError(f"drop folder {self.folder} does not exist")

    def list_files(self) -> list[str]:
        """Names of the regular files in the folder."""
        return sorted(p.name for p in self.folder.iterdir() if p.is_file())

    def exists(self, name: str) -> bool:
        """Whether the folder holds a regular file called `name`."""
        return (self.folder / safe_name(name)).is_file()

    def fetch(self, name: str, dest: Path) -> Path:
        """Copy one file into `dest` under a temporary name, then rename it into place."""
        src = self.folder / safe_name(name)
        if not src.is_file():
            raise SourceFormatError(f"{name}: listed in the control file but not in the drop folder")
        dest.mkdir(parents=True, exist_ok=True)
        tmp = dest / f".{name}.part"
        try:
            shutil.copyfile(src, tmp)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return tmp.replace(dest / name)

    def close(self) -> None:
        """Nothing to release for a local folder."""
