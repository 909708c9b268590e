"""Where staged files live: a local folder (the default) or any fsspec URL, so workers on other machines share them.

`BOOKTRANSFER_STAGING` (or `RunContext.staging_root`) is a folder or a URL: `/srv/staging`, `file:///mnt/shared`,
`s3://bucket/staging`, `gs://…`, `memory://…` (tests). A local folder or a `file://` URL is a plain `Path`;
any other URL is a `upath.UPath` over its fsspec filesystem (the protocol's fsspec package, e.g. s3fs, must be
installed on every worker). Both behave like `pathlib` paths for joining, reading and listing; what differs —
atomic writes, Parquet through pyarrow — goes through the functions here.

Pitfalls: object stores have no rename, so a remote write is one `put` of the whole object (atomic per object,
no temporary name); appending (`append_text`) rewrites the object. The drop's landing folder always stays on
the worker's local disk (see `local_dir`).
"""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from upath import UPath

    StagePath = Path | UPath


def staging_path(location: str | os.PathLike[str]) -> Any:
    """A folder or URL as a path: `Path` for a local folder or `file://` URL, else an fsspec `UPath`."""
    if isinstance(location, Path) or is_remote(location):
        return location
    text = os.fspath(location)
    if text.startswith("file://"):
        return Path(text.removeprefix("file://"))
    if "://" in text:
        from upath import UPath

        return UPath(text)
    return Path(text)


def is_remote(path: Any) -> bool:
    """Whether a path lives on an fsspec filesystem other than the local disk."""
    return hasattr(path, "fs") and not isinstance(path, Path)


def write_bytes(path: Any, data: bytes) -> None:
    """Write a file atomically: locally a temporary name then rename, remotely one put of the whole object."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if is_remote(path):
        path.fs.pipe_file(path.path, data)
        return
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        tmp.write_bytes(data)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: Any, text: str) -> None:
    """Write a UTF-8 text file atomically (see `write_bytes`)."""
    write_bytes(path, text.encode("utf-8"))


def append_text(path: Any, text: str) -> None:
    """Append to a text file, flushed to disk (remotely: the object is rewritten with the text added)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if is_remote(path):
        old = path.read_bytes() if path.exists() else b""
        path.fs.pipe_file(path.path, old + text.encode("utf-8"))
        return
    with path.open("a", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())


def arrow_location(path: Any) -> tuple[str, Any]:
    """(path, filesystem) for pyarrow's readers and writers: no filesystem for a local path."""
    if not is_remote(path):
        return str(path), None
    from pyarrow.fs import FSSpecHandler, PyFileSystem

    return path.path, PyFileSystem(FSSpecHandler(path.fs))


def local_dir(path: Any, purpose: str) -> Path:
    """`path` when it is local; else a fresh folder on the worker's local disk (e.g. for landing downloads)."""
    if not is_remote(path):
        return path
    return Path(tempfile.mkdtemp(prefix=f"booktransfer-{purpose}-"))
