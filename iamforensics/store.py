"""The case folder: partitioned Parquet events, manifest, quarantine, staging and merge.

::

    CASE/
      case.json                                 manifest (schema, tool, every ingest run)
      events/event_date=YYYY-MM-DD/*.parquet    events by EVENT date (UTC), zstd
      quarantine/*.jsonl.gz                     what could not be normalized, with reasons
      derived/                                  rebuildable caches

Dedup happens per date partition (duplicates share their eventTime). Staging parts and
partition files are sorted runs (:mod:`iamforensics.sorted_runs`), so a merge holds the
date's key columns and one row group of rows, never the whole date, let alone the case.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from . import __version__
from .errors import CaseError
from .normalize import redact_text, string_array
from .schema import COLUMNS, EVENTS_SCHEMA, PARTITION_COLUMN, SCHEMA_VERSION
from .sorted_runs import Run, Runs, sub_schema, write_run

MANIFEST = "case.json"
EVENTS = "events"
QUARANTINE = "quarantine"
DERIVED = "derived"
STAGING = ".staging"
ROW_GROUP = 32768
#: Rows buffered per event date before a staging part is written (bounds worker memory).
STAGE_ROWS = 32768
STAGE_SUFFIX = ".arrow"
#: Bytes of original text kept per quarantined unit (the evidence file keeps the rest).
QUARANTINE_TEXT_CAP = 1 << 20


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def init_case(path: str | Path) -> Path:
    """Create (or reuse) a case folder and return its path."""
    root = Path(path)
    if root.exists() and not root.is_dir():
        raise CaseError(f"{root}: exists and is not a folder")
    if root.is_dir() and any(root.iterdir()) and not (root / MANIFEST).exists():
        raise CaseError(f"{root}: folder is not empty and is not a case (no {MANIFEST})")
    for sub in (EVENTS, QUARANTINE, DERIVED):
        (root / sub).mkdir(parents=True, exist_ok=True)
    if not (root / MANIFEST).exists():
        save_manifest(
            root,
            {
                "schema_version": SCHEMA_VERSION,
                "tool": "iamforensics",
                "tool_version": __version__,
                "created": now(),
                "runs": [],
            },
        )
    return root


def require_case(path: str | Path) -> Path:
    """Path of an existing case, or :class:`CaseError` saying why it is not one."""
    root = Path(path)
    if not root.exists():
        raise CaseError(f"{root}: no such case folder")
    if not (root / MANIFEST).is_file():
        raise CaseError(f"{root}: not a case folder (no {MANIFEST}); create one with 'iamforensics ingest'")
    return root


def load_manifest(root: str | Path) -> dict[str, Any]:
    p = Path(root) / MANIFEST
    try:
        return json.loads(p.read_text(encoding="utf-8"))  # type: ignore[no-any-return]
    except (OSError, ValueError) as exc:
        raise CaseError(f"{p}: unreadable manifest: {exc}") from None


def save_manifest(root: str | Path, manifest: dict[str, Any]) -> None:
    p = Path(root) / MANIFEST
    tmp = p.with_suffix(".json.tmp")
    tmp.write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
    os.replace(tmp, p)


# --- quarantine -----------------------------------------------------------------------


class QuarantineWriter:
    """Appends quarantined units (source, position, reason, original text) to a jsonl.gz."""

    def __init__(self, root: str | Path, name: str):
        self.path = Path(root) / QUARANTINE / f"{name}.jsonl.gz"
        self._fh: Any = None
        self.count = 0

    def add(self, source: str, position: int | str, reason: str, text: bytes | str) -> None:
        if self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = gzip.open(self.path, "ab")
        if isinstance(text, bytes):
            truncated = len(text) > QUARANTINE_TEXT_CAP
            text = text[:QUARANTINE_TEXT_CAP].decode("utf-8", errors="backslashreplace")
        else:
            truncated = len(text) > QUARANTINE_TEXT_CAP
            text = text[:QUARANTINE_TEXT_CAP]
        # The quarantine keeps the original text, secrets aside: a record that failed to
        # normalize may still carry an STS sessionToken. A regex, because the text may
        # not be valid JSON at all.
        text = redact_text(text)
        line = {"source": source, "position": position, "reason": reason, "text": text}
        if truncated:
            line["text_truncated"] = True
        self._fh.write(orjson.dumps(line) + b"\n")
        self.count += 1

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def read_quarantine(root: str | Path) -> list[dict[str, Any]]:
    """Every quarantined unit of a case."""
    out: list[dict[str, Any]] = []
    for p in sorted((Path(root) / QUARANTINE).glob("*.jsonl.gz")):
        with gzip.open(p, "rb") as fh:
            out.extend(orjson.loads(line) for line in fh if line.strip())
    return out


# --- staging ----------------------------------------------------------------------------


def event_dates(table: pa.Table) -> pa.Array:
    """UTC calendar date of each event_time."""
    return pc.cast(pc.cast(table.column("event_time"), pa.timestamp("us")), pa.date32())


def _split_dates(table: pa.Table) -> list[tuple[str, pa.Table]]:
    """(ISO date, rows of that UTC event date) for each date in a table."""
    dates = event_dates(table)
    lo, hi = pc.min_max(dates).values()
    if lo == hi:  # the usual case: one delivery file covers minutes, not days
        return [(lo.as_py().isoformat(), table)]
    return [
        (d.isoformat(), table.filter(pc.equal(dates, pa.scalar(d, pa.date32()))))
        for d in pc.unique(dates).to_pylist()
    ]


def _write_stage(folder: Path, tag: str, table: pa.Table) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    f = folder / f"{tag}-{uuid.uuid4().hex[:12]}{STAGE_SUFFIX}"
    write_run(f, table)
    return str(f)


def stage_table(staging: Path, table: pa.Table, tag: str) -> dict[str, list[str]]:
    """Write one normalized table into per-date staging parts; returns {date: [files]}."""
    out: dict[str, list[str]] = {}
    if table.num_rows == 0:
        return out
    for d, part in _split_dates(table):
        f = _write_stage(staging / f"{PARTITION_COLUMN}={d}", tag, part)
        out.setdefault(d, []).append(f)
    return out


class Stager:
    """Stages one worker task's rows by event date, in parts of about ``rows`` rows.

    Buffering many small delivery files into one part per date keeps the staging files
    few and their batches large (the merge reads them back in one piece), while memory
    stays bounded by ``rows`` rows in flight, whatever the number of dates a task spans.
    """

    def __init__(self, staging: Path, tag: str, rows: int = STAGE_ROWS):
        self.staging = staging
        self.tag = tag
        self.rows = rows
        self._buf: dict[str, list[pa.Table]] = {}
        self._n: dict[str, int] = {}
        self.files: dict[str, list[str]] = {}

    def add(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        for d, part in _split_dates(table):
            self._buf.setdefault(d, []).append(part)
            self._n[d] = self._n.get(d, 0) + part.num_rows
        if sum(self._n.values()) >= self.rows:
            for d in list(self._buf):
                self._flush(d)

    def _flush(self, d: str) -> None:
        parts = self._buf.pop(d, [])
        self._n.pop(d, None)
        if parts:
            f = _write_stage(self.staging / f"{PARTITION_COLUMN}={d}", self.tag, pa.concat_tables(parts))
            self.files.setdefault(d, []).append(f)

    def close(self) -> dict[str, list[str]]:
        """Write what is buffered; returns {date: [files]} of everything staged."""
        for d in list(self._buf):
            self._flush(d)
        return self.files


# --- merge (dedup) --------------------------------------------------------------------


def partition_dir(root: str | Path, date: str) -> Path:
    return Path(root) / EVENTS / f"{PARTITION_COLUMN}={date}"


def merge_partition(
    root: str | Path, date: str, staged_files: list[str], taken: frozenset[str] = frozenset()
) -> dict[str, int]:
    """Merge staged rows into one date partition, dropping duplicates of eventID.

    A staged row whose event_id is already present with the same event_time, event_source
    and event_name is a duplicate (counted, dropped), unless both copies are full records
    whose CloudTrail fields differ (two examples written under one id). Same id with
    different content is a different event under a reused id: it is kept with a
    deterministic suffix and counted as an id conflict, as is a staged id in ``taken`` (held by another date, see
    :func:`cross_date_conflicts`). Existing rows are never changed; when nothing is new the partition
    files are left untouched, so re-ingesting evidence changes nothing but the manifest.

    Staging parts and partition files are sorted runs (:mod:`iamforensics.sorted_runs`):
    dedup and ordering read their key columns only, and each output row group is gathered
    from the slices of the runs that hold it, so memory is a row group, not the date.
    """
    pdir = partition_dir(root, date)
    existing_files = sorted(pdir.glob("*.parquet")) if pdir.exists() else []
    old_runs = [Run(f) for f in existing_files]
    new_runs = [Run(f) for f in staged_files]
    try:
        existing = _keys(old_runs)
        staged = _keys(new_runs)
        ids = staged.column("event_id")
        if existing.num_rows == 0 and not taken and pc.count_distinct(ids).as_py() == staged.num_rows:
            # Nothing to compare with and no id twice: every row is kept as it is (what the
            # loop below would conclude, without a Python step per row).
            keep: list[int] | pa.Array = pa.array(range(staged.num_rows), pa.int64())
            new_ids = ids
            duplicates = conflicts = 0
        else:
            raw_of = {False: Runs(old_runs), True: Runs(new_runs)}
            keep, new_ids, duplicates, conflicts = _dedup(existing, staged, taken, raw_of)
        written = len(keep)
        if written:
            # One permutation of existing + kept rows, sorted by (event_time, event_id), in
            # the numbering of all runs (existing first); gathered a row group at a time.
            n_old = existing.num_rows
            keep_arr = pa.array(keep, pa.int64()) if isinstance(keep, list) else keep
            times = pa.concat_arrays(
                [
                    existing.column("event_time").combine_chunks(),
                    _as_array(staged.column("event_time").take(keep_arr)),
                ]
            )
            all_ids = pa.concat_arrays([existing.column("event_id").combine_chunks(), _as_array(new_ids)])
            order = pc.sort_indices(
                pa.table({"t": times, "i": all_ids}), sort_keys=[("t", "ascending"), ("i", "ascending")]
            )
            rows = pa.concat_arrays([pa.array(range(n_old), pa.int64()), pc.add(keep_arr, n_old)])
            pdir.mkdir(parents=True, exist_ok=True)
            tmp = pdir / f".part-{uuid.uuid4().hex}.parquet.tmp"
            both = Runs(old_runs + new_runs)
            write_events(_sorted_groups(both, rows.take(order).to_numpy(), all_ids.take(order)), tmp)
            final = pdir / f"part-{uuid.uuid4().hex[:16]}.parquet"
            os.replace(tmp, final)
    finally:
        for r in old_runs + new_runs:
            r.close()
    if written:
        for f in existing_files:
            f.unlink()
    return {
        "staged": staged.num_rows,
        "written": written,
        "duplicates": duplicates,
        "id_conflicts": conflicts,
    }


#: What dedup and ordering read of every run.
_KEYS = ["event_id", "event_time", "event_source", "event_name", "fidelity", "source", "source_index"]


def _keys(runs: list[Run]) -> pa.Table:
    tables = [r.keys(_KEYS) for r in runs]
    schema = sub_schema(_KEYS)
    return pa.concat_tables(tables).combine_chunks() if tables else schema.empty_table()


def _as_array(a: pa.Array | pa.ChunkedArray | list[str]) -> pa.Array:
    if isinstance(a, list):
        return string_array(a)
    return a.combine_chunks() if isinstance(a, pa.ChunkedArray) else a


def _dedup(
    existing: pa.Table, staged: pa.Table, taken: frozenset[str], raw_of: dict[bool, Runs]
) -> tuple[list[int], list[str], int, int]:
    """(staged rows kept, their event ids, duplicates, id conflicts), see merge_partition."""
    # "full" sorts before "partial": when one run holds both a lossy copy (console CSV,
    # SIEM export) and AWS's own record of an event, the full record is the one kept.
    order = pc.sort_indices(
        staged.select(["fidelity", "source", "source_index"]),
        sort_keys=[("fidelity", "ascending"), ("source", "ascending"), ("source_index", "ascending")],
    )
    seen: dict[str, tuple[Any, ...]] = {}
    # Where the row holding each id is: (False, existing row) or (True, staged row), full records only.
    holder: dict[str, tuple[bool, int]] = {}
    for j, (eid, t, s, n, fid) in enumerate(
        zip(
            existing.column("event_id").to_pylist(),
            existing.column("event_time").cast(pa.int64()).to_pylist(),
            existing.column("event_source").to_pylist(),
            existing.column("event_name").to_pylist(),
            existing.column("fidelity").to_pylist(),
            strict=True,
        )
    ):
        seen[eid] = (t, s, n)
        if fid == "full":
            holder[eid] = (False, j)
    for eid in taken:
        seen.setdefault(eid, _ELSEWHERE)
    keep: list[int] = []
    new_ids: list[str] = []
    duplicates = conflicts = 0
    # Same id, time, source and name, both full records: duplicates unless their fields differ.
    pending: list[tuple[int, str, bool, int]] = []
    for i, eid, t, s, n, fid in zip(
        order.to_pylist(),
        staged.column("event_id").take(order).to_pylist(),
        staged.column("event_time").take(order).cast(pa.int64()).to_pylist(),
        staged.column("event_source").take(order).to_pylist(),
        staged.column("event_name").take(order).to_pylist(),
        staged.column("fidelity").take(order).to_pylist(),
        strict=True,
    ):
        content = (t, s, n)
        prev = seen.get(eid)
        if prev is None:
            seen[eid] = content
            if fid == "full":
                holder[eid] = (True, i)
            keep.append(i)
            new_ids.append(eid)
            continue
        if prev == content:
            duplicates += 1
            if fid == "full" and eid in holder:
                pending.append((i, eid, *holder[eid]))
            continue
        alt = f"{eid}~{hashlib.sha256(repr(content).encode()).hexdigest()[:12]}"
        prev_alt = seen.get(alt)
        if prev_alt is not None:
            duplicates += 1
            continue
        seen[alt] = content
        keep.append(i)
        new_ids.append(alt)
        conflicts += 1
    for i, eid, raw in _differing(raw_of, pending):
        # Kept under an id made from its own text: the same record again is a duplicate.
        alt = f"{eid}~{hashlib.sha256(raw.encode()).hexdigest()[:12]}"
        if alt in seen:
            continue
        seen[alt] = ("differs",)
        keep.append(i)
        new_ids.append(alt)
        duplicates -= 1
        conflicts += 1
    return keep, new_ids, duplicates, conflicts


#: Top-level keys of a CloudTrail record; keys tools add (Panther's p_*, Logstash's @...) are not content.
_RECORD_KEYS = frozenset(c.path.split(".")[0] for c in COLUMNS if c.path)
_CHUNK = 65536


def _differing(
    raw_of: dict[bool, Runs], pending: list[tuple[int, str, bool, int]]
) -> list[tuple[int, str, str]]:
    """(staged row, id, raw) of the pending pairs whose records are not the same record.

    The raw texts are compared in bulk first (a re-ingest gives identical text); only pairs
    whose text differs are parsed, and then only the CloudTrail fields are compared, so a
    copy with a tool's extra keys or another key order is still a duplicate. ``raw_of``
    holds the existing (False) and staged (True) runs; only the raw column of the pieces
    holding pending rows is read.
    """
    out: list[tuple[int, str, str]] = []
    for start in range(0, len(pending), _CHUNK):
        chunk = pending[start : start + _CHUNK]
        mine = raw_of[True].column_at("raw", [p[0] for p in chunk])
        for where in (False, True):
            sel = [k for k, p in enumerate(chunk) if p[2] is where]
            if not sel:
                continue
            a = mine.take(pa.array(sel, pa.int64()))
            b = raw_of[where].column_at("raw", [chunk[k][3] for k in sel])
            same = pc.fill_null(pc.equal(a, b), False).to_pylist()
            for k, eq, x, y in zip(sel, same, a, b, strict=True):
                if eq:
                    continue
                ax, by = x.as_py(), y.as_py()
                if not _same_record(ax, by):
                    out.append((chunk[k][0], chunk[k][1], ax))
    return out


def _same_record(a: str | None, b: str | None) -> bool:
    try:
        x, y = json.loads(a or "null"), json.loads(b or "null")
    except ValueError:
        return a == b
    if isinstance(x, dict) and isinstance(y, dict):
        x = {k: v for k, v in x.items() if k in _RECORD_KEYS}
        y = {k: v for k, v in y.items() if k in _RECORD_KEYS}
    return bool(x == y)


#: Columns with few distinct values: dictionary encoding pays for them only.
_HIGH_CARDINALITY = {
    "event_id", "request_id", "shared_event_id", "principal_id", "access_key_id", "session_name",
    "source_index", "raw", "event_time", "session_creation_date", "error_message",
    "request_parameters", "response_elements", "additional_event_data", "resources", "service_event_details",
    "addendum", "insight_details", "edge_device_details", "event_context", "on_behalf_of", "in_scope_of",
}  # fmt: skip
#: Columns queries never filter on by value: no min/max statistics to compute.
_NO_STATS = {"raw", "request_parameters", "response_elements", "additional_event_data", "resources",
             "service_event_details", "tls_details", "addendum", "insight_details", "edge_device_details",
             "event_context", "error_message", "missing_fields"}  # fmt: skip


def _sorted_groups(runs: Runs, rows: np.ndarray, ids: pa.Array) -> Iterator[pa.Table]:
    """The rows numbered ``rows`` of the runs, with event_id set to ``ids``, ROW_GROUP rows at a time."""
    idx = EVENTS_SCHEMA.get_field_index("event_id")
    for i in range(0, len(rows), ROW_GROUP):
        # No name holds the gathered rows here: the next group is read after the writer
        # let go of this one, so one row group (~100 MB) is in memory, not two.
        yield runs.gather(rows[i : i + ROW_GROUP]).set_column(idx, "event_id", ids.slice(i, ROW_GROUP))


def write_events(tables: pa.Table | Iterable[pa.Table], path: str | Path) -> None:
    """Write events as a partition file: zstd, row groups of at most ROW_GROUP rows."""
    names = EVENTS_SCHEMA.names
    with pq.ParquetWriter(
        path,
        EVENTS_SCHEMA,
        compression="zstd",
        use_dictionary=[c for c in names if c not in _HIGH_CARDINALITY and c != "missing_fields"],
        write_statistics=[c for c in names if c not in _NO_STATS],
    ) as w:
        for t in [tables] if isinstance(tables, pa.Table) else tables:
            w.write_table(t, row_group_size=ROW_GROUP)
            del t  # before the generator makes the next group


#: DuckDB's memory cap while it looks for ids claimed by two dates (it spills beyond it).
CONFLICTS_MEMORY = "192MB"
#: Stand-in content for an id that belongs to another date partition: never equal to a row's.
_ELSEWHERE = ("claimed by another date",)


def cross_date_conflicts(root: str | Path, staged: dict[str, list[str]]) -> dict[str, frozenset[str]]:
    """Event ids staged for a date that another date already holds: {date: ids}.

    Duplicates share their eventTime, so dedup runs per date partition; but a reused id
    (a copied example, a placeholder) can come back with another time on another day.
    Such a row is a different event: the merge keeps it under a suffixed id and counts an
    id conflict, so no event id is ever in the case twice. The date that keeps the plain
    id is the one already in the case, else the earliest staged. DuckDB does the
    comparison (it spills to disk), so memory stays bounded whatever the evidence size.
    """
    if not staged:
        return {}
    import duckdb
    import pyarrow.dataset as ds

    files = [f for fs in staged.values() for f in fs]
    existing = event_files(root)
    if len(staged) == 1 and not existing:
        return {}
    fmt = "parquet" if files[0].endswith(".parquet") else "ipc"
    base = str(Path(files[0]).parent.parent)
    part = ds.partitioning(pa.schema([(PARTITION_COLUMN, pa.string())]), flavor="hive")
    con = duckdb.connect()
    try:
        # The distinct ids of the whole run grow with the evidence (3M ids held ~900 MB):
        # a memory cap makes DuckDB spill them to the run's staging folder instead.
        tmp = str(Path(base) / "duckdb-tmp").replace("'", "''")
        con.execute(f"SET memory_limit = '{CONFLICTS_MEMORY}'")
        con.execute(f"SET temp_directory = '{tmp}'")
        con.execute("SET preserve_insertion_order = false")
        con.register(
            "staged_ids",
            ds.dataset(files, format=fmt, partitioning=part, partition_base_dir=base).scanner(
                columns=["event_id", PARTITION_COLUMN]
            ),
        )
        con.execute(
            f"CREATE TEMP TABLE s AS SELECT DISTINCT event_id, CAST({PARTITION_COLUMN} AS DATE) AS d "
            "FROM staged_ids"
        )
        if existing:
            pattern = str(Path(root) / EVENTS / f"{PARTITION_COLUMN}=*" / "*.parquet").replace("'", "''")
            con.execute(
                f"CREATE TEMP TABLE e AS SELECT DISTINCT event_id, {PARTITION_COLUMN} AS d FROM read_parquet("
                f"'{pattern}', hive_partitioning=true, hive_types={{'{PARTITION_COLUMN}': DATE}}) "
                "WHERE event_id IN (SELECT event_id FROM s)"
            )
        else:
            con.execute("CREATE TEMP TABLE e AS SELECT * FROM s LIMIT 0")
        rows = con.execute(
            "WITH keeper AS ("
            "  SELECT event_id, coalesce((SELECT min(e.d) FROM e WHERE e.event_id = a.event_id), min(a.d)) AS d"
            "  FROM (SELECT event_id, d FROM s UNION SELECT event_id, d FROM e) a"
            "  GROUP BY event_id HAVING count(DISTINCT d) > 1"
            ") SELECT s.d, s.event_id FROM s JOIN keeper k USING (event_id) WHERE s.d <> k.d"
        ).fetchall()
    finally:
        con.close()
    out: dict[str, set[str]] = {}
    for d, eid in rows:
        out.setdefault(d.isoformat(), set()).add(eid)
    return {d: frozenset(ids) for d, ids in out.items()}


def clear_staging(root: str | Path, run_id: str) -> None:
    shutil.rmtree(Path(root) / STAGING / run_id, ignore_errors=True)
    try:
        (Path(root) / STAGING).rmdir()
    except OSError:
        pass


def event_files(root: str | Path) -> list[Path]:
    """All Parquet files of a case's events dataset."""
    return sorted((Path(root) / EVENTS).glob(f"{PARTITION_COLUMN}=*/*.parquet"))
