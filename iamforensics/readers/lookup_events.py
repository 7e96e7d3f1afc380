"""``aws cloudtrail lookup-events`` / boto3 ``lookup_events()`` output (also Event history JSON).

Containers: the CLI's ``{"Events": [...], "NextToken": ...}`` (several pages concatenated
in one file, or one page per file), a bare array of Events, and one Event per line
(``jq -c '.Events[]'``, plaso's JSONL). Each Event carries the real record as a JSON
*string* in ``CloudTrailEvent``, decoded a second time here; that record is what the raw
column keeps. The outer ``EventTime`` is a protocol timestamp rendered in the analyst's
local zone (``2022-02-08 09:23:37+11:00``) or epoch seconds; it is converted to UTC and
used only when the inner record lacks ``eventTime`` (then ``fidelity="partial"``). An
Event without ``CloudTrailEvent`` (stripped by ``--query``) is rebuilt from the outer
fields (``EventId, EventName, EventSource, EventTime, Username, AccessKeyId, ReadOnly,
Resources``) as a partial record.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from ..normalize import Item, Reject
from ..timeparse import parse_time
from . import Reader, register
from ._common import (
    Bad,
    bad_reject,
    filled_item,
    first_char,
    first_object,
    iter_json,
    json_text,
    rebuilt_item,
)


def _is_event(obj: Any) -> bool:
    return isinstance(obj, dict) and ("CloudTrailEvent" in obj or ("EventId" in obj and "EventTime" in obj))


def sniff(head: bytes) -> int:
    if first_char(head) not in (ord("{"), ord("[")):
        return 0
    if b'"CloudTrailEvent"' in head:
        return 90
    obj = first_object(head)
    if obj is not None and (_is_event(obj) or isinstance(obj.get("Events"), list)):
        return 85 if "Events" in obj or _is_event(obj) else 0
    if b'"EventId"' in head and b'"EventTime"' in head:
        return 70
    return 0


def outer_time(value: Any) -> str | None:
    """The Event's ``EventTime`` (local offset, ISO or epoch seconds) as ISO UTC, or None.

    Examples
    --------
    >>> outer_time("2022-02-08 09:23:37+11:00"), outer_time(1424476529.0)
    ('2022-02-07T22:23:37Z', '2015-02-20T23:55:29Z')
    """
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        try:
            dt = datetime.fromtimestamp(float(value), tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    else:
        dt = parse_time(str(value))  # type: ignore[assignment]
        if dt is None:
            return None
    frac = f".{dt.microsecond:06d}" if dt.microsecond else ""
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + frac + "Z"


def _read_only(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


def _events(value: Any) -> Iterator[dict[str, Any] | Any]:
    if isinstance(value, list):
        for el in value:
            yield from _events(el)
    elif isinstance(value, dict) and isinstance(value.get("Events"), list):
        yield from value["Events"]
    else:
        yield value


def event_item(event: Any, idx: int) -> Item | Reject:
    """One lookup-events Event -> a prepared record."""
    if not _is_event(event):
        return Reject(
            idx, "not a lookup-events Event (no CloudTrailEvent or EventId/EventTime)", json_text(event)
        )
    inner = event.get("CloudTrailEvent")
    when = outer_time(event.get("EventTime"))
    if isinstance(inner, dict):
        inner_raw = json_text(inner)
    elif isinstance(inner, str):
        inner_raw = inner.encode("utf-8")
    else:
        return _rebuild(event, idx, when)
    out = filled_item(inner_raw, idx, {"eventTime": when})
    if isinstance(out, Reject):
        out.reason = f"CloudTrailEvent: {out.reason}"
    return out


def _rebuild(event: dict[str, Any], idx: int, when: str | None) -> Item | Reject:
    rec: dict[str, Any] = {"eventTime": when}
    for outer, name in (("EventId", "eventID"), ("EventName", "eventName"), ("EventSource", "eventSource")):
        if outer in event:
            rec[name] = event[outer]
    ro = _read_only(event.get("ReadOnly"))
    if ro is not None:
        rec["readOnly"] = ro
    ui = {}
    if event.get("Username"):
        ui["userName"] = event["Username"]
    if event.get("AccessKeyId"):
        ui["accessKeyId"] = event["AccessKeyId"]
    if ui:
        rec["userIdentity"] = ui
    res = event.get("Resources")
    if isinstance(res, list) and res:
        rec["resources"] = [
            {"type": r.get("ResourceType"), "ARN": r.get("ResourceName")} for r in res if isinstance(r, dict)
        ]
    return rebuilt_item(rec, idx, evidence=event)


def read(data: bytes, source: str) -> Iterator[Item | Reject]:
    idx = 0
    for value in iter_json(data):
        if isinstance(value, Bad):
            yield bad_reject(value, idx)
            idx += 1
            continue
        for event in _events(value):
            yield event_item(event, idx)
            idx += 1


register(
    Reader(
        "lookup-events",
        'aws cloudtrail lookup-events output: {"Events":[...]} pages, arrays or one Event per line',
        sniff,
        read,
    )
)
