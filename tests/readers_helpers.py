"""Helpers for the reader tests: run a reader like ingest does, and compare with the originals."""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa

from iamforensics import readers
from iamforensics.normalize import Item, Reject, normalize, normalize_records, split_unparsed_times
from tests.conftest import shared_path

#: Columns that describe where a row came from, not what the event says.
PROVENANCE = {"source", "source_format", "source_index", "raw", "fidelity", "missing_fields"}


def run(data: bytes, expect: str | None = None, source: str = "mem") -> tuple[pa.Table, list[Reject]]:
    """Detect (and check the detected format), read and normalize ``data`` as ingest does."""
    reader = readers.detect(data[: readers.HEAD_BYTES])
    if expect is not None:
        assert reader.name == expect
    items: list[Item] = []
    rejects: list[Reject] = []
    for out in reader.read(data, source):
        (items if isinstance(out, Item) else rejects).append(out)  # type: ignore[arg-type]
    table = normalize(items, source=source, source_format=reader.name)
    table, bad = split_unparsed_times(table, items)
    return table, rejects + bad


def stratus_records() -> list[dict[str, Any]]:
    """The 310 real (anonymized) records of the Stratus Red Team detonation logs."""
    folder = shared_path("stratus-red-team-detonation-logs", "raw")
    out: list[dict[str, Any]] = []
    for f in sorted(folder.glob("aws.*.json")):
        out.extend(json.loads(f.read_text()))
    return out


def plaso_events() -> list[dict[str, Any]]:
    """The 6 real lookup-events rows of plaso's test file."""
    path = shared_path("plaso-lookup-events-jsonl", "raw", "aws_cloudtrail.jsonl")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def by_id(table: pa.Table) -> dict[str, dict[str, Any]]:
    return {r["event_id"]: r for r in table.to_pylist()}


def assert_same_events(
    got: pa.Table, records: list[dict[str, Any]], *, ignore: set[str] = frozenset()
) -> None:
    """Every event column of ``got`` equals normalizing ``records`` directly (provenance aside)."""
    ref, rejects = normalize_records(records)
    assert not rejects
    a, b = by_id(got), by_id(ref)
    assert a.keys() == b.keys()
    for eid, row in b.items():
        for col, value in row.items():
            if col in PROVENANCE or col in ignore:
                continue
            assert _same(a[eid][col], value), (eid, col, a[eid][col], value)


def _same(a: Any, b: Any) -> bool:
    """Equal, JSON-text payloads compared as JSON (whitespace in the evidence is not content)."""
    if isinstance(a, str) and isinstance(b, str) and a[:1] in "{[" and b[:1] in "{[":
        try:
            return bool(json.loads(a) == json.loads(b))
        except ValueError:
            pass
    return bool(a == b)
