"""Ingest evidence into a case: discover -> read -> normalize -> stage -> merge -> manifest.

Worker processes (default: all cores) each stream file by file and write their own
staging parts, so peak memory is one file's batch per worker plus, at merge time, one date's
key columns and one row group, whatever the amount of evidence. The accounting identity
``read == written + duplicates + quarantined`` is checked on every run and recorded; a
violation raises :class:`~iamforensics.errors.AccountingError`.

Examples
--------
>>> report = ingest(["data/samples"], "out/case")  # doctest: +SKIP
>>> report.counts["written"]  # doctest: +SKIP
"""

from __future__ import annotations

import gc
import multiprocessing as mp
import os
import shutil
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import readers
from .errors import AccountingError, EvidenceError
from .normalize import Item, Reject, normalize_groups, unparsed_reject, unparsed_rows
from .sources import DEFAULT_MAX_BYTES, Blob, SourceRef, UnitError, discover, open_units
from .sources_s3 import S3Options
from .store import (
    QUARANTINE,
    STAGING,
    QuarantineWriter,
    Stager,
    clear_staging,
    cross_date_conflicts,
    init_case,
    load_manifest,
    merge_partition,
    now,
    save_manifest,
)

#: Records normalized per Arrow batch (bounds a worker's memory inside one huge file).
#: A few thousand: the fixed cost per call is paid off, and the batch's structs are still
#: in the CPU cache when their columns are built (50,000 cost ~20% more per record).
BATCH = 4096
#: Stored bytes of evidence per worker task.
TASK_BYTES = 16 * 1024**2


#: Allocations between two young-generation collections while ingesting (Python's default: 700).
GC_THRESHOLD = 50_000


@contextmanager
def relaxed_gc(threshold: int = GC_THRESHOLD) -> Iterator[None]:
    """Collect the young generation less often for the duration (restored after).

    Ingest allocates millions of short-lived lists, tuples and items that are never in a
    reference cycle; at the default threshold the cyclic collector ran every 700 of them
    and cost ~18% of an ingest's CPU (200,000 records: 12.5 -> 10.3 CPU-s). Reference
    counting still frees everything at once; only cycle detection is postponed.

    Examples
    --------
    >>> import gc
    >>> before = gc.get_threshold()
    >>> with relaxed_gc():
    ...     gc.get_threshold()[0] >= 50_000
    True
    >>> gc.get_threshold() == before
    True
    """
    old = gc.get_threshold()
    gc.set_threshold(max(threshold, old[0]), *old[1:])
    try:
        yield
    finally:
        gc.set_threshold(*old)


def merge_date(
    root: str, date: str, staged: list[str], taken: frozenset[str] = frozenset()
) -> dict[str, int]:
    """:func:`~iamforensics.store.merge_partition` under :func:`relaxed_gc` (a pool's work item)."""
    with relaxed_gc():
        return merge_partition(root, date, staged, taken)


@dataclass
class IngestReport:
    """What one ingest run did; also recorded in the case manifest."""

    case: Path
    run_id: str
    counts: dict[str, int]
    sources: list[dict[str, Any]]
    digests: list[str]
    seconds: float
    identity_holds: bool
    quarantine_reasons: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        c = self.counts
        rate = c["read"] / self.seconds if self.seconds else 0.0
        lines = [
            f"case {self.case}: run {self.run_id}",
            f"  files {c['files']}  (digests {len(self.digests)}, unreadable {c['unreadable']}, "
            f"empty {c.get('empty', 0)})",
            f"  read {c['read']}  written {c['written']}  duplicates {c['duplicates']}  "
            f"quarantined {c['quarantined']}  id conflicts {c['id_conflicts']}",
            f"  {self.seconds:.1f} s, {rate:,.0f} records/s; accounting identity "
            + ("holds" if self.identity_holds else "VIOLATED"),
        ]
        for reason, n in sorted(self.quarantine_reasons.items(), key=lambda kv: -kv[1])[:10]:
            lines.append(f"  quarantined {n:>6}  {reason}")
        return "\n".join(lines)


class _Strict(Exception):
    pass


class _Batch:
    """Records of many files normalized in one call, then staged (``BATCH`` at most).

    normalize's fixed cost per call (~70 Arrow conversions, ~1 ms) dwarfs the work for a
    delivery file of a few records; a batch pays it once for many files. Each file's
    rejects (unparseable times) and staged count still go to that file.
    """

    def __init__(self, stager: Stager, size: int = BATCH):
        self.stager = stager
        self.size = size
        self.groups: list[tuple[list[Item], str, str, Callable[[Reject], None], dict[str, Any]]] = []
        self.n = 0

    def add(
        self, items: list[Item], source: str, fmt: str, reject: Callable[[Reject], None], res: dict[str, Any]
    ) -> None:
        self.groups.append((items, source, fmt, reject, res))
        self.n += len(items)
        if self.n >= self.size:
            self.flush()

    def flush(self) -> None:
        groups, self.groups, self.n = self.groups, [], 0
        if not groups:
            return
        table, bad = unparsed_rows(normalize_groups([(g[0], g[1], g[2]) for g in groups]))
        start = 0
        for items, _, _, reject, res in groups:
            lost = [i - start for i in bad if start <= i < start + len(items)]
            for i in lost:
                reject(unparsed_reject(items[i]))
            res["staged"] += len(items) - len(lost)
            start += len(items)
        self.stager.add(table)


def _reason_key(reason: str) -> str:
    # Group reasons without the per-record detail ("line 3: ..." -> "invalid JSON").
    r = reason.split(": ", 1)[1] if reason.startswith("line ") else reason
    return r.split(":")[0].split(" at byte")[0][:80]


def _process_blob(
    blob: Blob,
    fmt: str | None,
    batch: _Batch,
    quarantine: QuarantineWriter,
    strict: bool,
) -> dict[str, Any]:
    res: dict[str, Any] = {
        "source": blob.display,
        "size": blob.size,
        "sha256": blob.sha256,
        "compression": blob.compression,
        "records": 0,
        "staged": 0,
        "quarantined": 0,
        "dates": {},
    }
    if blob.meta:
        res.update(blob.meta)
    if not blob.data.strip():
        if strict:
            raise _Strict(f"{blob.display}: empty file (no content)")
        res["format"] = None
        res["note"] = "empty file"
        return res
    try:
        reader = readers.get(fmt) if fmt else readers.detect(blob.data[: readers.HEAD_BYTES])
    except EvidenceError as exc:
        if strict:
            raise _Strict(f"{blob.display}: {exc}") from None
        quarantine.add(blob.display, 0, str(exc), blob.data)
        res.update(format=None, records=1, quarantined=1, error=str(exc))
        res["reasons"] = {_reason_key(str(exc)): 1}
        if isinstance(exc, readers.NoFormatError):
            res["closest_format"] = exc.closest
        return res
    res["format"] = reader.name
    if not reader.events:
        res["kind"] = reader.name
        return res
    items: list[Item] = []

    def flush() -> None:
        batch.add(items[:], blob.display, reader.name, _reject, res)
        if strict:  # stop at this file's first problem, not at a later file's
            batch.flush()
        items.clear()

    def _reject(rj: Reject) -> None:
        if strict:
            raise _Strict(f"{blob.display}: record {rj.source_index}: {rj.reason}")
        quarantine.add(blob.display, rj.source_index, rj.reason, rj.raw)
        res["quarantined"] += 1
        reasons = res.setdefault("reasons", {})
        key = _reason_key(rj.reason)
        reasons[key] = reasons.get(key, 0) + 1

    try:
        for out in reader.read(blob.data, blob.display):
            res["records"] += 1
            if isinstance(out, Item):
                items.append(out)
                if len(items) >= BATCH:
                    flush()
            else:
                _reject(out)
    except _Strict:
        raise
    except Exception as exc:  # noqa: BLE001 - a reader bug must not lose the other files
        # What the reader yielded before failing is kept; the rest of the file is one unit.
        res["records"] += 1
        _reject(
            Reject(
                res["records"] - 1, f"reader {reader.name} failed: {exc.__class__.__name__}: {exc}", blob.data
            )
        )
    if items:
        flush()
    return res


def _unit_error(err: UnitError, quarantine: QuarantineWriter, strict: bool) -> dict[str, Any]:
    if strict:
        raise _Strict(f"{err.display}: {err.reason}")
    quarantine.add(err.display, 0, err.reason, b"")
    return {
        "source": err.display,
        "size": err.size,
        "sha256": err.sha256,
        "records": 1,
        "staged": 0,
        "quarantined": 1,
        "error": err.reason,
        "unreadable": err.io,
        "reasons": {_reason_key(err.reason): 1},
        "dates": {},
    }


def run_task(
    refs: list[SourceRef],
    case: str,
    run_id: str,
    task_no: int,
    fmt: str | None,
    strict: bool,
    max_bytes: int,
    on_unit: Callable[[dict[str, Any]], None] | None = None,
    attempt: str = "",
) -> list[dict[str, Any]]:
    """Ingest one group of evidence units into staging (runs in a worker process).

    ``on_unit`` is called with each unit's result as it finishes (in-process runs use it
    to move the progress bar file by file). ``attempt`` makes the task's quarantine file
    name unique per try, so a retried task (see :mod:`iamforensics.ingest_dask`) never
    appends to what a dead try left behind.
    """
    tag = f"t{task_no:06d}{attempt}"
    stager = Stager(Path(case) / STAGING / run_id, tag)
    batch = _Batch(stager)
    quarantine = QuarantineWriter(case, f"{run_id}-{tag}")
    results: list[dict[str, Any]] = []
    try:
        with relaxed_gc():
            for ref in refs:
                for unit in open_units(ref, max_bytes):
                    if isinstance(unit, UnitError):
                        results.append(_unit_error(unit, quarantine, strict))
                    else:
                        results.append(_process_blob(unit, fmt, batch, quarantine, strict))
                    if on_unit is not None:
                        on_unit(results[-1])
            # The task's staging parts hold rows of all its units; _finalize only needs the
            # files by date, so they ride on the first result (popped before the manifest).
            batch.flush()
            if results:
                results[0]["dates"] = stager.close()
    except _Strict as exc:
        return [{"strict_error": str(exc)}]
    finally:
        quarantine.close()
    return results


def _run_task_star(args: tuple[Any, ...]) -> list[dict[str, Any]]:
    return run_task(*args)


def plan_tasks(refs: list[SourceRef], budget: int | None = None, jobs: int = 1) -> list[list[SourceRef]]:
    """Group units into tasks of about ``budget`` stored bytes (a tar stream is one task).

    Without a budget, tasks hold :data:`TASK_BYTES`, or less when that would leave workers
    idle: about four tasks per worker, but never under 1 MiB (a worker process costs a
    second to start, which small evidence does not repay).
    """
    if budget is None:
        total = sum(max(r.size, 1) for r in refs)
        budget = min(TASK_BYTES, max(total // (4 * max(jobs, 1)), min(TASK_BYTES, 1 << 20)))
    tasks: list[list[SourceRef]] = []
    cur: list[SourceRef] = []
    size = 0
    for ref in refs:
        if ref.kind == "tar":
            tasks.append([ref])
            continue
        cur.append(ref)
        size += max(ref.size, 1)
        if size >= budget:
            tasks.append(cur)
            cur, size = [], 0
    if cur:
        tasks.append(cur)
    return tasks


def _progress(total_bytes: int, enabled: bool) -> Any:
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(
        total=total_bytes,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc="ingest",
        file=sys.stderr,
        dynamic_ncols=True,
    )


def ingest(
    evidence: Sequence[str | Path] | str | Path,
    case: str | Path,
    *,
    jobs: int | None = None,
    strict: bool = False,
    fmt: str | None = None,
    progress: bool = False,
    max_bytes: int = DEFAULT_MAX_BYTES,
    on_task: Callable[[list[dict[str, Any]]], None] | None = None,
    s3: S3Options | None = None,
) -> IngestReport:
    """Ingest evidence (paths, folders, globs, archives) into a case folder.

    Parameters
    ----------
    evidence : paths, folders, globs or archives.
    case : case folder (created when missing).
    jobs : worker processes; default all cores, 1 runs in this process.
    strict : stop at the first problem instead of quarantining it.
    fmt : force a reader (see ``iamforensics formats``) instead of detecting by content.
    progress : show a progress bar (files, records, MB/s, ETA) on stderr.
    s3 : for ``s3://`` evidence: profile, endpoint, and the accounts/regions/dates to read
        (:class:`~iamforensics.sources_s3.S3Options`).

    Examples
    --------
    >>> ingest(["data/samples/public"], "out/demo-case").counts["read"]  # doctest: +SKIP
    """
    t0 = time.perf_counter()
    # One path or many, str or Path (what a notebook has at hand).
    paths = [str(evidence)] if isinstance(evidence, str | Path) else [str(e) for e in evidence]
    if not paths:
        raise EvidenceError("no evidence given")
    if fmt is not None:
        readers.get(fmt)
    case_existed = Path(case).exists()
    # A case folder inside the evidence folder is not evidence (its quarantine would be re-read).
    refs = discover(paths, s3, exclude=[str(case)])
    root = init_case(case)
    run_id = time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
    started = now()
    jobs = max(1, jobs or os.cpu_count() or 1)
    tasks = plan_tasks(refs, jobs=jobs)
    args = [(t, str(root), run_id, i, fmt, strict, max_bytes) for i, t in enumerate(tasks)]
    bar = _progress(sum(r.size for r in refs), progress)
    results: list[dict[str, Any]] = []
    n_records = n_files = 0

    def tick(units: list[dict[str, Any]]) -> None:
        nonlocal n_records, n_files
        n_files += len(units)
        n_records += sum(r.get("records", 0) for r in units)
        if bar is not None:
            bar.update(sum(r.get("size") or 0 for r in units))
            bar.set_postfix(files=n_files, records=n_records, refresh=False)

    def collect(task_results: list[dict[str, Any]], ticked: bool = False) -> None:
        if task_results and "strict_error" in task_results[0]:
            raise EvidenceError(task_results[0]["strict_error"])
        results.extend(task_results)
        if not ticked:
            tick(task_results)
        if on_task:
            on_task(task_results)

    pool = None
    try:
        if jobs == 1 or len(tasks) <= 1:
            for a in args:
                # In this process the bar moves as each file finishes, not per task.
                collect(run_task(*a, on_unit=lambda r: tick([r])), ticked=True)
        else:
            # The same workers merge the date partitions afterwards (one date each).
            pool = mp.get_context("spawn").Pool(min(jobs, len(tasks)))
            for task_results in pool.imap_unordered(_run_task_star, args):
                collect(task_results)
    except BaseException:
        if pool is not None:
            pool.terminate()
        _discard_run(root, run_id, remove_case=not case_existed)
        raise
    finally:
        if bar is not None:
            bar.close()
    try:
        return _finalize(
            root,
            run_id,
            started,
            t0,
            paths,
            results,
            {
                "jobs": jobs,
                "strict": strict,
                "format": fmt,
                "max_bytes": max_bytes,
                **({"s3": s3.manifest()} if s3 is not None else {}),
            },
            pool=pool,
        )
    finally:
        if pool is not None:
            pool.terminate()


def _discard_run(root: Path, run_id: str, *, remove_case: bool) -> None:
    """Undo a run that failed before its merge: the case is left as it was before it."""
    clear_staging(root, run_id)
    for q in (root / QUARANTINE).glob(f"{run_id}-*.jsonl.gz"):
        q.unlink(missing_ok=True)
    if remove_case:
        # Only a folder this very run created, holding nothing but its empty skeleton.
        shutil.rmtree(root, ignore_errors=True)


def _finalize(
    root: Path,
    run_id: str,
    started: str,
    t0: float,
    evidence: list[str],
    results: list[dict[str, Any]],
    options: dict[str, Any],
    pool: Any = None,
) -> IngestReport:
    by_date: dict[str, list[str]] = {}
    for r in results:
        for d, files in r.pop("dates", {}).items():
            by_date.setdefault(d, []).extend(files)
    totals = {"written": 0, "duplicates": 0, "id_conflicts": 0, "staged": 0}
    try:
        # Ids another date holds are conflicts, not new events (no id twice in the case).
        taken = cross_date_conflicts(root, by_date)
        merges = [(str(root), d, by_date[d], taken.get(d, frozenset())) for d in sorted(by_date)]
        if pool is not None and len(merges) > 1:
            outs = pool.starmap(merge_date, merges, chunksize=1)
        else:
            outs = [merge_date(*m) for m in merges]
        for m in outs:
            for k in totals:
                totals[k] += m[k]
    finally:
        clear_staging(root, run_id)
    read = sum(r.get("records", 0) for r in results)
    quarantined = sum(r.get("quarantined", 0) for r in results)
    staged = sum(r.get("staged", 0) for r in results)
    reasons: dict[str, int] = {}
    for r in results:
        for k, v in r.get("reasons", {}).items():
            reasons[k] = reasons.get(k, 0) + v
    counts = {
        "files": len(results),
        "unreadable": sum(1 for r in results if r.get("unreadable")),
        "empty": sum(1 for r in results if r.get("note") == "empty file"),
        "read": read,
        "written": totals["written"],
        "duplicates": totals["duplicates"],
        "quarantined": quarantined,
        "id_conflicts": totals["id_conflicts"],
    }
    holds = read == totals["written"] + totals["duplicates"] + quarantined and staged == totals["staged"]
    digests = [r["source"] for r in results if r.get("kind") == "digest"]
    seconds = time.perf_counter() - t0
    run = {
        "run_id": run_id,
        "started": started,
        "finished": now(),
        "seconds": round(seconds, 3),
        "evidence": evidence,
        # Sources are recorded as given; custody checks resolve relative ones against this.
        "cwd": os.getcwd(),
        "options": options,
        "counts": counts,
        "identity_holds": holds,
        "quarantine_reasons": reasons,
        "sources": results,
        "digests": digests,
    }
    manifest = load_manifest(root)
    manifest.setdefault("runs", []).append(run)
    save_manifest(root, manifest)
    report = IngestReport(root, run_id, counts, results, digests, seconds, holds, reasons)
    if not holds:
        raise AccountingError(
            f"{root}: accounting identity violated in run {run_id}: read {read} != written "
            f"{totals['written']} + duplicates {totals['duplicates']} + quarantined {quarantined}"
        )
    return report


def iter_sources(manifest: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every source entry of every run of a manifest."""
    for run in manifest.get("runs", []):
        yield from run.get("sources", [])
