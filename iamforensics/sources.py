"""Find evidence and open it as bytes: files, folders, globs, zip and tar archives.

Archives are read as streams, never extracted to disk. Member names with ``..`` or an
absolute path are rejected, and every decompression (gzip, zip members, tar members)
stops at a size cap so a decompression bomb cannot exhaust memory.

Examples
--------
>>> refs = discover(["data/samples"])  # doctest: +SKIP
"""

from __future__ import annotations

import glob
import hashlib
import os
import tarfile
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from .errors import EvidenceError

_inflate: Any = zlib
try:  # zlib-ng inflates CloudTrail's gzip files ~1.7x faster than zlib, same API and errors
    from zlib_ng import zlib_ng as _inflate
except ImportError:  # pragma: no cover - the dependency is declared; zlib still works
    pass

if TYPE_CHECKING:
    from .sources_s3 import S3Options

#: Largest decompressed size accepted for one file or archive member (bytes).
DEFAULT_MAX_BYTES = 4 * 1024**3
GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGIC = b"PK\x03\x04"
ZIP_EMPTY = b"PK\x05\x06"


@dataclass(frozen=True, slots=True)
class SourceRef:
    """One unit of evidence to open: a file, a zip member, or a whole tar stream."""

    display: str  # what manifests and quarantine call it: path, or archive!member
    path: str  # file on disk
    member: str | None = None  # zip member name
    kind: str = "file"  # file | zip-member | tar | s3
    size: int = 0
    etag: str | None = None  # S3 objects: ETag at listing time
    options: tuple[tuple[str, str], ...] = ()  # S3 objects: connection settings (no secrets)
    error: str | None = None  # kind "unreadable": why discovery could not list or open it


@dataclass(slots=True)
class Blob:
    """Bytes of one evidence file, ready for the readers."""

    display: str
    data: bytes  # decompressed content
    size: int  # size as stored (compressed)
    sha256: str  # of the bytes as stored
    compression: str | None = None
    meta: dict[str, Any] | None = None  # recorded in the manifest with the source (S3: bucket, key, etag)


class UnitError(Exception):
    """A single evidence unit could not be opened; carries the display name and reason."""

    def __init__(
        self, display: str, reason: str, size: int = 0, sha256: str | None = None, *, io: bool = False
    ):
        super().__init__(f"{display}: {reason}")
        self.display = display
        self.reason = reason
        self.size = size
        self.sha256 = sha256
        #: True when the bytes could not be read at all (I/O error, vanished, unlistable folder),
        #: as opposed to content that was read but is corrupt, unsafe or over the size cap.
        self.io = io


def _safe_member(name: str) -> bool:
    p = PurePosixPath(name.replace("\\", "/"))
    return not (p.is_absolute() or ".." in p.parts or (len(name) > 1 and name[1] == ":"))


def _is_zip(path: str) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
    except OSError:
        return False
    return head in (ZIP_MAGIC, ZIP_EMPTY)


def _is_tar(path: str) -> bool:
    """True for a tar archive, compressed or not, whatever its name (detection by content).

    A POSIX/GNU tar has ``ustar`` at byte 257 of its first header; for gzip only the first
    kilobyte is inflated, so probing every ``.json.gz`` of an S3 export stays cheap. bzip2
    and xz heads (never CloudTrail's own compression) are left to :func:`tarfile.is_tarfile`.
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError:
        return False
    if head.startswith(GZIP_MAGIC):
        try:
            head = zlib.decompressobj(wbits=47).decompress(head, 1024)
        except zlib.error:
            return False
    elif head.startswith((b"BZh", b"\xfd7zXZ\x00")):
        try:
            return tarfile.is_tarfile(path)
        except (OSError, tarfile.TarError, EOFError, zlib.error):
            return False
    return head[257:262] == b"ustar"


def _expand(item: str) -> list[str]:
    if any(ch in item for ch in "*?["):
        hits = sorted(glob.glob(item, recursive=True))
        if not hits:
            raise EvidenceError(f"{item}: no evidence matches this pattern")
        return hits
    if not os.path.exists(item):
        raise EvidenceError(f"{item}: no such file or folder")
    return [item]


def _walk(root: str, errors: list[OSError]) -> Iterator[str]:
    # os.walk is silent about folders it cannot list; collect them so they are reported.
    for dirpath, dirnames, filenames in os.walk(root, onerror=errors.append):
        dirnames.sort()
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            yield os.path.join(dirpath, name)


def discover(
    evidence: list[str], s3: S3Options | None = None, *, exclude: Sequence[str] = ()
) -> list[SourceRef]:
    """Expand paths, folders (recursively), globs and ``s3://`` URLs into the units to read.

    Raises :class:`EvidenceError` for a path that does not exist or a glob that matches
    nothing: nothing is ingested from a half-typed command line. ``s3://`` URLs are listed
    by :mod:`iamforensics.sources_s3` (credentials, profile, pruning from ``s3``). Files
    under an ``exclude`` folder (the case being written) are skipped.

    Examples
    --------
    >>> [r.kind for r in discover(["evidence/AWSLogs"])]  # doctest: +SKIP
    ['file', 'file', 'tar']
    """
    refs: list[SourceRef] = []
    seen: set[str] = set()
    skip = tuple(os.path.abspath(e) + os.sep for e in exclude)
    for item in evidence:
        if item.startswith("s3://"):
            from . import sources_s3

            for ref in sources_s3.discover(item, s3):
                if ref.path not in seen:
                    seen.add(ref.path)
                    refs.append(ref)
            continue
        for hit in _expand(item):
            errors: list[OSError] = []
            files = list(_walk(hit, errors)) if os.path.isdir(hit) else [hit]
            for f in files:
                key = os.path.abspath(f)
                if key in seen or key.startswith(skip):
                    continue
                seen.add(key)
                refs.extend(_refs_for_file(f))
            for err in errors:
                where = str(err.filename or hit)
                reason = f"cannot list folder: {err.__class__.__name__}: {err.strerror or err}"
                refs.append(SourceRef(where, where, None, "unreadable", 0, error=reason))
    return refs


def _refs_for_file(path: str) -> list[SourceRef]:
    try:
        size = os.path.getsize(path)
    except OSError:
        size = 0
    if _is_zip(path):
        try:
            with zipfile.ZipFile(path) as zf:
                out = []
                for info in zf.infolist():
                    if info.is_dir():
                        continue
                    if not _safe_member(info.filename):
                        out.append(SourceRef(f"{path}!{info.filename}", path, info.filename, "unsafe", 0))
                        continue
                    out.append(
                        SourceRef(
                            f"{path}!{info.filename}", path, info.filename, "zip-member", info.compress_size
                        )
                    )
                return out
        except (zipfile.BadZipFile, OSError):
            return [SourceRef(path, path, None, "file", size)]
    if _is_tar(path):
        return [SourceRef(path, path, None, "tar", size)]
    return [SourceRef(path, path, None, "file", size)]


def decompress(display: str, data: bytes, max_bytes: int = DEFAULT_MAX_BYTES) -> tuple[bytes, str | None]:
    """Gunzip (all members) when the bytes are gzip, with the size cap; detects by magic."""
    if not data.startswith(GZIP_MAGIC):
        return data, None
    out: list[bytes] = []
    total = 0
    buf = data
    while buf:
        d = _inflate.decompressobj(wbits=47)
        try:
            chunk = d.decompress(buf, max_bytes - total + 1)
        except (zlib.error, _inflate.error) as exc:
            raise UnitError(display, f"corrupt gzip data after {total} decompressed bytes: {exc}") from None
        total += len(chunk)
        out.append(chunk)
        if total > max_bytes:
            raise UnitError(display, f"decompressed size exceeds the cap of {max_bytes} bytes")
        if not d.eof:
            if d.unconsumed_tail:
                raise UnitError(display, f"decompressed size exceeds the cap of {max_bytes} bytes")
            raise UnitError(
                display,
                f"truncated gzip stream: ended after {len(data)} compressed / {total} decompressed bytes",
            )
        buf = d.unused_data
        if buf and not buf.startswith(GZIP_MAGIC):
            break  # trailing garbage after the last member: ignored like gzip(1) does
    return b"".join(out), "gzip"


def _read_capped(fh, display: str, max_bytes: int) -> bytes:  # type: ignore[no-untyped-def]
    data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise UnitError(display, f"member larger than the cap of {max_bytes} bytes")
    return data


def open_units(ref: SourceRef, max_bytes: int = DEFAULT_MAX_BYTES) -> Iterator[Blob | UnitError]:
    """Yield the decompressed bytes of each evidence file behind a ref, or an error per unit."""
    if ref.kind == "unsafe":
        yield UnitError(ref.display, "archive member name is absolute or contains '..': rejected")
        return
    if ref.kind == "unreadable":
        yield UnitError(ref.display, ref.error or "cannot read", io=True)
        return
    if ref.kind == "tar":
        yield from _open_tar(ref, max_bytes)
        return
    if ref.kind == "s3":
        from . import sources_s3

        yield from sources_s3.open_unit(ref, max_bytes)
        return
    try:
        if ref.kind == "zip-member":
            with zipfile.ZipFile(ref.path) as zf, zf.open(ref.member or "") as fh:
                stored = _read_capped(fh, ref.display, max_bytes)
        else:
            with open(ref.path, "rb") as fh:
                stored = fh.read()
    except UnitError as exc:
        yield exc
        return
    except OSError as exc:
        yield UnitError(ref.display, f"cannot read: {exc.__class__.__name__}: {exc}", io=True)
        return
    except (zipfile.BadZipFile, KeyError, RuntimeError, EOFError, zlib.error) as exc:
        yield UnitError(ref.display, f"cannot read: {exc.__class__.__name__}: {exc}")
        return
    yield _blob(ref.display, stored, max_bytes)


def _blob(display: str, stored: bytes, max_bytes: int) -> Blob | UnitError:
    sha = hashlib.sha256(stored).hexdigest()
    try:
        data, comp = decompress(display, stored, max_bytes)
    except UnitError as exc:
        exc.size, exc.sha256 = len(stored), sha
        return exc
    return Blob(display, data, len(stored), sha, comp)


def _open_tar(ref: SourceRef, max_bytes: int) -> Iterator[Blob | UnitError]:
    try:
        with tarfile.open(ref.path, mode="r|*") as tf:
            for info in tf:
                if not info.isfile():
                    continue
                display = f"{ref.path}!{info.name}"
                if not _safe_member(info.name):
                    yield UnitError(display, "archive member name is absolute or contains '..': rejected")
                    continue
                if info.size > max_bytes:
                    yield UnitError(display, f"member larger than the cap of {max_bytes} bytes")
                    continue
                fh = tf.extractfile(info)
                if fh is None:
                    continue
                yield _blob(display, fh.read(), max_bytes)
    except (OSError, tarfile.TarError, EOFError, zlib.error) as exc:
        yield UnitError(ref.display, f"cannot read tar archive: {exc.__class__.__name__}: {exc}")


def sha256_file(path: str | Path) -> str:
    """SHA-256 of a file on disk, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
