"""CloudTrail console "Event history" CSV downloads, and CSV exports carrying whole events.

The console's CSV has human-readable column labels (``Event ID, Event time, User name,
Event name, Event source, Resource type, Resource name, AWS access key, AWS region, Error
code, Source IP address, Read-only``; the exact set and order vary and are not
documented), parsed by header name, never by position. It does not carry the
``userIdentity`` details, the request or the response, so its rows become ``partial``
records whose ``missing_fields`` list what the download lacked. When a column holds the
whole event (``CloudTrail event``; also a Splunk ``_raw`` or Elastic ``event.original``
column in those tools' CSV exports) that record is used as AWS wrote it. Times in the
console's ``January 10, 2024, 15:07:19 (UTC+05:30)`` form are converted to UTC.

The console's JSON download is read by ``cloudtrail`` (``{"Records": [...]}``) or
``lookup-events`` (Events with ``CloudTrailEvent``), whichever shape it has.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..normalize import Item, Reject
from . import Reader, register
from ._tabular import COLUMNS, csv_explain, full_event_column, header_of, norm, read_csv


def sniff(head: bytes) -> int:
    header = header_of(head)
    if header is None:
        return 0
    if full_event_column(header) is not None:
        return 72
    have = {COLUMNS.get(norm(h)) for h in header}
    return 70 if {"eventName", "eventTime"} <= have else 0


def explain(head: bytes) -> tuple[int, str]:
    return csv_explain(head, ("eventName", "eventTime"), "Event history CSV needs Event name and Event time")


def read(data: bytes, source: str) -> Iterator[Item | Reject]:
    return read_csv(data, literal=False)


register(
    Reader(
        "console-csv",
        "CSV by header name: console Event history download (partial), or any CSV with the whole event",
        sniff,
        read,
        explain=explain,
    )
)
