"""Evidence straight from S3 (``s3://bucket/prefix``) through fsspec/s3fs, without a local copy.

Credentials come from the standard AWS chain (environment, shared config/credentials
files, SSO, instance or container roles); ``profile`` picks a named profile and
``endpoint_url`` (or ``AWS_ENDPOINT_URL``) another S3 endpoint. Objects are read into
memory one at a time, hashed (SHA-256 of the bytes as stored) and decompressed like local
files; nothing is written to disk. The manifest records each object's bucket, key, size,
ETag and sha256.

Pruning. With ``accounts``, ``regions``, ``start`` or ``end`` the listing walks the
CloudTrail layout ``AWSLogs/[o-org/]<account>/CloudTrail[-Insight|-Digest]/<region>/YYYY/MM/DD/``
level by level and never lists (let alone reads) a folder outside the selection. The
``YYYY/MM/DD`` folders are the *delivery* date, not the event date: a file delivered
after midnight holds events of the day before, so the date range is widened by
:data:`MARGIN` (one day) on each side. Pruning selects files, not events: every event of
a selected file is ingested, including the few outside the range. Events delivered more
than a day late (rare; see ``addendum``/``DELIVERY_DELAY``) are missed by a narrow range.

Examples
--------
>>> opts = S3Options(accounts=("111122223333",), start=date(2024, 7, 30), end=date(2024, 7, 31))
>>> [d.isoformat() for d in opts.delivery_window()]
['2024-07-29', '2024-08-01']
"""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from .errors import EvidenceError
from .sources import ZIP_MAGIC, Blob, SourceRef, UnitError, decompress

#: Widening of --start/--end because S3 folders carry the delivery date, not the event date.
MARGIN = timedelta(days=1)
#: CloudTrail folders under an account that hold per-region, per-day files.
TRAIL_SERVICES = ("CloudTrail", "CloudTrail-Insight", "CloudTrail-Digest")
#: How deep to look for ``AWSLogs/`` under the given prefix (``o-id/AWSLogs/...`` needs 1).
AWSLOGS_SEARCH_DEPTH = 3
_CHUNK = 8 * 1024**2
_ACCOUNT = re.compile(r"^\d{12}$")
_ORG = re.compile(r"^o-[a-z0-9]{10,32}$")


def is_s3(item: str) -> bool:
    return item.startswith("s3://")


def parse_day(value: str | date | None) -> date | None:
    """A ``YYYY-MM-DD`` (or ISO timestamp) bound as a UTC date."""
    if value is None or isinstance(value, date):
        return value
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).date()
    except ValueError:
        raise EvidenceError(f"invalid date {value!r}: use YYYY-MM-DD") from None


@dataclass(frozen=True)
class S3Options:
    """How to reach S3 and which part of a CloudTrail bucket to read."""

    profile: str | None = None
    endpoint_url: str | None = None
    accounts: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    start: date | None = None
    end: date | None = None
    listed: list[str] = field(default_factory=list, compare=False, repr=False)

    @property
    def prunes(self) -> bool:
        return bool(self.accounts or self.regions or self.start or self.end)

    def delivery_window(self) -> tuple[date | None, date | None]:
        """Delivery-date folders to read: the event range widened by :data:`MARGIN`."""
        lo = self.start - MARGIN if self.start else None
        hi = self.end + MARGIN if self.end else None
        return lo, hi

    def connection(self) -> tuple[tuple[str, str], ...]:
        """Picklable connection settings for worker processes (never credentials)."""
        out = []
        if self.profile:
            out.append(("profile", self.profile))
        if self.endpoint_url:
            out.append(("endpoint_url", self.endpoint_url))
        return tuple(out)

    def manifest(self) -> dict[str, Any]:
        lo, hi = self.delivery_window()
        return {
            "profile": self.profile,
            "endpoint_url": self.endpoint_url,
            "accounts": list(self.accounts),
            "regions": list(self.regions),
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
            "delivery_folders": [lo.isoformat() if lo else None, hi.isoformat() if hi else None],
            "listing_requests": len(self.listed),
        }


def filesystem(connection: tuple[tuple[str, str], ...] = (), *, fresh: bool = False) -> Any:
    """An s3fs filesystem for these settings.

    Listings are never cached: a bucket that received new logs since the last ingest in
    the same session must be listed again. ``fresh`` also bypasses fsspec's instance
    cache (discovery); readers reuse one instance per process.
    """
    try:
        import s3fs
    except ImportError:  # pragma: no cover - s3fs is a dependency
        raise EvidenceError("reading s3:// evidence needs s3fs: pip install s3fs") from None
    kw: dict[str, Any] = dict(connection)
    kw["use_listings_cache"] = False
    if fresh:
        kw["skip_instance_cache"] = True
    return s3fs.S3FileSystem(**kw)


def split_url(url: str) -> tuple[str, str]:
    """(bucket, prefix) of an ``s3://`` URL."""
    rest = url[len("s3://") :]
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise EvidenceError(f"{url}: no bucket in the S3 URL")
    return bucket, prefix.strip("/")


def _explain(url: str, exc: BaseException) -> EvidenceError:
    name = exc.__class__.__name__
    if name in ("NoCredentialsError", "PartialCredentialsError"):
        why = "no AWS credentials found (set a profile with --profile, or the AWS_* environment)"
    elif name == "ProfileNotFound":
        why = f"AWS profile not found: {exc}"
    elif isinstance(exc, PermissionError):
        why = f"access denied: {exc}"
    elif isinstance(exc, FileNotFoundError):
        why = "no such bucket or prefix"
    else:
        why = f"{name}: {exc}"
    return EvidenceError(f"{url}: {why}")


def discover(url: str, opts: S3Options | None = None) -> list[SourceRef]:
    """List the objects to ingest under an S3 URL, pruned to the options' selection.

    Raises :class:`EvidenceError` when S3 cannot be listed (credentials, permissions, no
    such bucket) or when pruning is asked for and no ``AWSLogs/`` layout is found.
    """
    opts = opts or S3Options()
    bucket, prefix = split_url(url)
    base = f"{bucket}/{prefix}" if prefix else bucket
    try:
        fs = filesystem(opts.connection(), fresh=True)
        infos = list(_prune(fs, base, opts)) if opts.prunes else _find_all(fs, base, opts)
    except EvidenceError:
        raise
    except Exception as exc:  # botocore/aiobotocore raise many unrelated classes
        raise _explain(url, exc) from None
    if not infos and not opts.prunes:
        raise EvidenceError(f"{url}: no objects under this prefix")
    if not infos:
        sel = opts.manifest()
        raise EvidenceError(
            f"{url}: no CloudTrail objects match accounts {sel['accounts'] or 'any'}, regions "
            f"{sel['regions'] or 'any'}, delivery folders {sel['delivery_folders'][0] or '...'} to "
            f"{sel['delivery_folders'][1] or '...'}"
        )
    conn = opts.connection()
    refs = []
    for info in sorted(infos, key=lambda i: i["name"]):
        name = info["name"]
        etag = info.get("ETag") or info.get("etag")
        refs.append(
            SourceRef(
                f"s3://{name}",
                f"s3://{name}",
                None,
                "s3",
                int(info.get("size") or 0),
                etag=etag.strip('"') if isinstance(etag, str) else None,
                options=conn,
            )
        )
    return refs


def _find_all(fs: Any, base: str, opts: S3Options) -> list[dict[str, Any]]:
    opts.listed.append(base)
    found = fs.find(base, detail=True)
    if not found and fs.isfile(base):
        return [fs.info(base)]
    return [i for i in found.values() if i.get("type", "file") == "file"]


def _ls(fs: Any, path: str, opts: S3Options) -> list[dict[str, Any]]:
    opts.listed.append(path)
    return list(fs.ls(path, detail=True, refresh=True))


def _leaf(info: dict[str, Any]) -> str:
    return str(info["name"]).rstrip("/").rsplit("/", 1)[-1]


def _dirs(infos: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [i for i in infos if i.get("type") == "directory"]


def _prune(fs: Any, base: str, opts: S3Options) -> Iterator[dict[str, Any]]:
    parts = base.split("/")
    if "AWSLogs" in parts[1:]:
        i = parts.index("AWSLogs", 1)
        yield from _under_awslogs(fs, "/".join(parts[: i + 1]), parts[i + 1 :], opts)
        return
    roots = list(_find_awslogs(fs, base, opts, AWSLOGS_SEARCH_DEPTH))
    if not roots:
        raise EvidenceError(
            f"s3://{base}: no AWSLogs/ folder within {AWSLOGS_SEARCH_DEPTH} levels; "
            "--accounts/--regions/--start/--end need the CloudTrail S3 layout"
        )
    for root in roots:
        yield from _under_awslogs(fs, root, [], opts)


def _find_awslogs(fs: Any, path: str, opts: S3Options, depth: int) -> Iterator[str]:
    children = _dirs(_ls(fs, path, opts))
    for d in children:
        if _leaf(d) == "AWSLogs":
            yield d["name"].rstrip("/")
            return
    if depth > 1:
        for d in children:
            yield from _find_awslogs(fs, d["name"].rstrip("/"), opts, depth - 1)


def _under_awslogs(fs: Any, awslogs: str, fixed: list[str], opts: S3Options) -> Iterator[dict[str, Any]]:
    """Walk AWSLogs/ -> [org/] account -> service -> region -> year/month/day, pruning."""
    fixed = [p for p in fixed if p]
    for acct_path in _accounts(fs, awslogs, fixed, opts):
        rest = fixed[len(acct_path.split("/")) - len(awslogs.split("/")) :]
        services = [rest[0]] if rest else [_leaf(d) for d in _dirs(_ls(fs, acct_path, opts))]
        for svc in services:
            if svc not in TRAIL_SERVICES:
                continue
            svc_path = f"{acct_path}/{svc}"
            regions = [rest[1]] if len(rest) > 1 else [_leaf(d) for d in _dirs(_ls(fs, svc_path, opts))]
            for region in regions:
                if opts.regions and region not in opts.regions:
                    continue
                yield from _dated(fs, f"{svc_path}/{region}", rest[2:], opts)


def _accounts(fs: Any, awslogs: str, fixed: list[str], opts: S3Options) -> Iterator[str]:
    if fixed:
        if _ORG.match(fixed[0]):
            if len(fixed) > 1:
                yield from _keep_account(f"{awslogs}/{fixed[0]}/{fixed[1]}", fixed[1], opts)
            else:
                for d in _dirs(_ls(fs, f"{awslogs}/{fixed[0]}", opts)):
                    yield from _keep_account(d["name"].rstrip("/"), _leaf(d), opts)
        else:
            yield from _keep_account(f"{awslogs}/{fixed[0]}", fixed[0], opts)
        return
    for d in _dirs(_ls(fs, awslogs, opts)):
        name = _leaf(d)
        if _ORG.match(name):
            for m in _dirs(_ls(fs, d["name"].rstrip("/"), opts)):
                yield from _keep_account(m["name"].rstrip("/"), _leaf(m), opts)
        else:
            yield from _keep_account(d["name"].rstrip("/"), name, opts)


def _keep_account(path: str, account: str, opts: S3Options) -> Iterator[str]:
    if not opts.accounts or account in opts.accounts:
        yield path


def _dated(fs: Any, region_path: str, fixed: list[str], opts: S3Options) -> Iterator[dict[str, Any]]:
    lo, hi = opts.delivery_window()

    def keep(parts: list[str]) -> bool:
        """Whether the folder YYYY[/MM[/DD]] can overlap [lo, hi]."""
        try:
            y = int(parts[0])
            m_lo, m_hi = (int(parts[1]),) * 2 if len(parts) > 1 else (1, 12)
            first = date(y, m_lo, int(parts[2]) if len(parts) > 2 else 1)
            if len(parts) > 2:
                last = first
            else:
                nxt = date(y + (m_hi == 12), m_hi % 12 + 1, 1)
                last = nxt - timedelta(days=1)
        except (ValueError, IndexError):
            return True  # not a date folder: keep, never silently skip evidence
        return not ((hi and first > hi) or (lo and last < lo))

    def walk(path: str, parts: list[str]) -> Iterator[dict[str, Any]]:
        if len(parts) == 3:
            opts.listed.append(path)
            for info in fs.find(path, detail=True).values():
                if info.get("type", "file") == "file":
                    yield info
            return
        depth = len(parts)
        if len(fixed) > depth:
            nxt = [*parts, fixed[depth]]
            if keep(nxt):
                yield from walk(f"{path}/{fixed[depth]}", nxt)
            return
        for info in _ls(fs, path, opts):
            if info.get("type") != "directory":
                yield info  # a stray file beside the date folders
                continue
            nxt = [*parts, _leaf(info)]
            if keep(nxt):
                yield from walk(info["name"].rstrip("/"), nxt)

    yield from walk(region_path, [])


# --- reading -------------------------------------------------------------------------------


def open_unit(ref: SourceRef, max_bytes: int) -> Iterator[Blob | UnitError]:
    """Read one S3 object into memory (hashing it as stored) and yield it like a local file."""
    bucket, key = split_url(ref.path)
    meta: dict[str, Any] = {"bucket": bucket, "key": key, "etag": ref.etag}
    if ref.size > max_bytes:
        yield UnitError(ref.display, f"object larger than the cap of {max_bytes} bytes", ref.size)
        return
    h = hashlib.sha256()
    chunks: list[bytes] = []
    try:
        fs = filesystem(ref.options)
        with fs.open(ref.path[len("s3://") :], "rb", block_size=_CHUNK, cache_type="none") as fh:
            etag = str((fh.details or {}).get("ETag", "")).strip('"') or None
            if ref.etag and etag and etag != ref.etag:
                yield UnitError(
                    ref.display, f"object changed since it was listed (ETag {ref.etag} -> {etag})"
                )
                return
            total = 0
            while chunk := fh.read(_CHUNK):
                total += len(chunk)
                if total > max_bytes:
                    yield UnitError(ref.display, f"object larger than the cap of {max_bytes} bytes", total)
                    return
                h.update(chunk)
                chunks.append(chunk)
    except Exception as exc:  # botocore/aiobotocore raise many unrelated classes
        yield UnitError(ref.display, f"cannot read: {exc.__class__.__name__}: {exc}", ref.size, io=True)
        return
    stored = b"".join(chunks)
    sha = h.hexdigest()
    meta["etag"] = meta["etag"] or etag
    if stored.startswith(ZIP_MAGIC):
        yield from _zip_members(ref.display, stored, sha, meta, max_bytes)
        return
    try:
        data, comp = decompress(ref.display, stored, max_bytes)
    except UnitError as exc:
        exc.size, exc.sha256 = len(stored), sha
        yield exc
        return
    yield Blob(ref.display, data, len(stored), sha, comp, meta=meta)


def _zip_members(
    display: str, stored: bytes, sha: str, meta: dict[str, Any], max_bytes: int
) -> Iterator[Blob | UnitError]:
    from .sources import _safe_member

    try:
        zf = zipfile.ZipFile(io.BytesIO(stored))
    except zipfile.BadZipFile as exc:
        yield UnitError(display, f"corrupt zip archive: {exc}", len(stored), sha)
        return
    with zf:
        for info in zf.infolist():
            if info.is_dir():
                continue
            name = f"{display}!{info.filename}"
            if not _safe_member(info.filename):
                yield UnitError(name, "archive member name is absolute or contains '..': rejected")
                continue
            try:
                with zf.open(info) as fh:
                    raw = fh.read(max_bytes + 1)
            except (zipfile.BadZipFile, OSError, RuntimeError, EOFError) as exc:
                yield UnitError(name, f"cannot read: {exc.__class__.__name__}: {exc}")
                continue
            if len(raw) > max_bytes:
                yield UnitError(name, f"member larger than the cap of {max_bytes} bytes")
                continue
            try:
                data, comp = decompress(name, raw, max_bytes)
            except UnitError as exc:
                yield exc
                continue
            member_sha = hashlib.sha256(raw).hexdigest()
            yield Blob(name, data, len(raw), member_sha, comp, meta={**meta, "archive_sha256": sha})
