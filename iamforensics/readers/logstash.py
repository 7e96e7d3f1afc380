"""CloudTrail records shipped through Logstash: the record's fields plus ``@timestamp``/``@version``.

Logstash's JSON output (and an Elasticsearch export of what it indexed without an ECS
pipeline) keeps every record field at the top level, adds ``@timestamp`` (with
milliseconds) and ``@version``, and, when the pipeline used ``eventTime`` as the event
date, removes ``eventTime`` (the OTRF ``ec2_proxy_s3_exfiltration`` set). Such a record
gets its time from ``@timestamp`` and is ``partial`` with ``missing_fields=["eventTime"]``;
the raw column keeps the line as exported, ``@`` fields included.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..normalize import Item, Reject
from . import Reader, register
from ._common import Bad, bad_reject, filled_item, first_object, is_record, iter_json, json_text


def _is_logstash(obj: Any) -> bool:
    return isinstance(obj, dict) and "@timestamp" in obj and "@version" in obj and is_record(obj)


def sniff(head: bytes) -> int:
    obj = first_object(head)
    if obj is not None:
        return 85 if _is_logstash(obj) else 0
    if b'"@version"' in head and b'"@timestamp"' in head and b'"eventName"' in head:
        return 65
    return 0


def explain(head: bytes) -> tuple[int, str]:
    obj = first_object(head)
    if isinstance(obj, dict) and "@timestamp" in obj and not is_record(obj):
        return 40, "its first object has @timestamp but no CloudTrail record fields at the top level"
    return 0, ""


def read(data: bytes, source: str) -> Iterator[Item | Reject]:
    idx = 0
    for value in iter_json(data):
        if isinstance(value, Bad):
            yield bad_reject(value, idx)
            idx += 1
            continue
        for obj in value if isinstance(value, list) else [value]:
            if not isinstance(obj, dict):
                yield Reject(idx, "not a JSON object", json_text(obj))
            else:
                ts = obj.get("@timestamp")
                yield filled_item(json_text(obj), idx, {"eventTime": str(ts) if ts is not None else None})
            idx += 1


register(
    Reader(
        "logstash",
        "JSON lines from Logstash: record fields plus @timestamp/@version, eventTime possibly removed",
        sniff,
        read,
        explain=explain,
    )
)
