"""Timesketch JSONL export: one line per event with message, datetime, timestamp_desc.

Timesketch's JSONL importer requires ``message`` (string), ``datetime`` (ISO 8601) and
``timestamp_desc`` (string) on every line; ``timestamp`` (microseconds since the epoch) is
added so no time parsing is needed on import. Events are streamed from DuckDB in batches,
so a case of any size exports in bounded memory.

Examples
--------
>>> write_timesketch(open_case("out/case"), "out/report/timesketch.jsonl")  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from ..case import Case, TimeLike

FIELDS = (
    "event_id",
    "event_source",
    "event_name",
    "event_type",
    "aws_region",
    "actor",
    "user_type",
    "user_name",
    "access_key_id",
    "account_id",
    "recipient_account_id",
    "source_ip_address",
    "ip_class",
    "user_agent",
    "error_code",
    "error_message",
    "read_only",
    "session_name",
    "mfa_authenticated",
    "source",
)
TIMESTAMP_DESC = "Event Time"


def message_of(row: dict[str, Any]) -> str:
    """One readable line for an event (a data string: Timesketch escapes it on display)."""
    who = row.get("actor") or row.get("user_name") or "unknown"
    msg = f"{who} {row.get('event_name')} ({row.get('event_source')})"
    if row.get("source_ip_address"):
        msg += f" from {row['source_ip_address']}"
    if row.get("error_code"):
        msg += f" [{row['error_code']}]"
    return msg


def write_timesketch(
    case: Case, path: str | Path, start: TimeLike = None, end: TimeLike = None, *, batch: int = 50_000
) -> int:
    """Write every event of the window as Timesketch JSONL; returns the number of lines."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    where, params = case.where(start, end)
    cols = ", ".join(("event_time",) + FIELDS)
    cur = case.connection().execute(f"SELECT {cols} FROM events{where} ORDER BY event_time, event_id", params)
    names = [d[0] for d in cur.description]
    n = 0
    with open(p, "wb") as fh:
        while rows := cur.fetchmany(batch):
            for values in rows:
                row = dict(zip(names, values, strict=True))
                t = row.pop("event_time")
                line = {
                    "message": message_of(row),
                    "datetime": t.isoformat(),
                    "timestamp": int(t.timestamp() * 1_000_000),
                    "timestamp_desc": TIMESTAMP_DESC,
                    "data_type": "aws:cloudtrail:event",
                }
                line.update({k: v for k, v in row.items() if v is not None})
                fh.write(orjson.dumps(line) + b"\n")
                n += 1
    return n
