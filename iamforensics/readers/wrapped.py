"""Records wrapped in an envelope object: ``{"event": {...}}``, ``{"detail": {...}}``, ...

Tools that re-export CloudTrail often put each record under one key next to their own
metadata: ``{"_source_file": ..., "_rule_id": ..., "event": {<record>}}`` (the Panther
and AWS-docs extractions in the shared datasets), ``{"detail": {<record>}}`` without
EventBridge's ``detail-type`` (an EventBridge target that kept only part of the
envelope), ``{"record": ...}`` or ``{"log": ...}``. The wrapped value may itself be a
JSON string (double-encoded). Envelope keys are dropped; the record is what the raw
column keeps.

Panther adds ``p_event_time`` (its parse of ``eventTime``) to records; when a record has
no ``eventTime`` but ``p_event_time``, that time is used and the record is ``partial``
with ``missing_fields=["eventTime"]``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..normalize import Item, Reject
from . import Reader, register
from ._common import (
    Bad,
    bad_reject,
    decode_json_string,
    filled_item,
    first_object,
    is_record,
    iter_json,
    json_text,
)

#: Envelope keys tried in order; the first whose value is a CloudTrail record wins.
WRAPPER_KEYS = ("event", "detail", "record", "Record", "log", "cloudtrail", "CloudTrail")


def unwrap(obj: Any) -> tuple[str, dict[str, Any]] | None:
    """(key, record) when ``obj`` is an envelope around one CloudTrail record."""
    if not isinstance(obj, dict) or "detail-type" in obj or is_record(obj):
        return None
    for key in WRAPPER_KEYS:
        if key in obj:
            inner = decode_json_string(obj[key])
            if is_record(inner):
                return key, inner
    return None


def sniff(head: bytes) -> int:
    obj = first_object(head)
    if obj is None:
        return 0
    return 85 if unwrap(obj) is not None else 0


def record_item(record: dict[str, Any], idx: int) -> Item | Reject:
    fill = {}
    if "eventTime" not in record and record.get("p_event_time"):
        fill["eventTime"] = str(record["p_event_time"])
    return filled_item(json_text(record), idx, fill)


def read(data: bytes, source: str) -> Iterator[Item | Reject]:
    idx = 0
    for value in iter_json(data):
        if isinstance(value, Bad):
            yield bad_reject(value, idx)
            idx += 1
            continue
        for obj in value if isinstance(value, list) else [value]:
            found = unwrap(obj)
            if found is None:
                if is_record(obj):
                    yield record_item(obj, idx)
                else:
                    yield Reject(
                        idx,
                        f"no CloudTrail record under any of the keys {', '.join(WRAPPER_KEYS)}",
                        json_text(obj),
                    )
            else:
                yield record_item(found[1], idx)
            idx += 1


register(
    Reader(
        "wrapped",
        'records wrapped one per object: {"event": {...}}, {"detail": {...}} (Panther/doc extractions)',
        sniff,
        read,
    )
)
