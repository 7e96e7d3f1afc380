"""CloudTrail records as Datadog's log pipeline re-shaped them.

Datadog's CloudTrail pipeline remaps standard attributes: ``sourceIPAddress`` ->
``network.client.ip``, ``userAgent`` -> ``http.useragent``, ``eventName`` -> ``evt.name``
(``requestID`` -> ``http.request_id`` where kept), removes the originals, and adds its own
(``service``, ``http.useragent_details``, ``network.client.geoip``,
``userIdentity.session_name``, ``userIdentity.assumed_role``, ``aws.s3.key`` ...). This
reader maps the standard ones back. Containers: bare records (archives, JSON lines), the
Log Explorer export ``[{"id", "content": {"timestamp", "attributes": {...}}}]`` and the
Logs API ``{"data": [{"attributes": {"timestamp", "attributes": {...}}}]}``. A time from
the envelope stands in for a missing ``eventTime``. Every record is ``partial`` (the
pipeline changed it); ``missing_fields`` lists what could not be mapped back; the raw
column keeps the document as exported.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..normalize import Item, Reject
from . import Reader, register
from ._common import (
    Bad,
    bad_reject,
    dig,
    first_object,
    is_record,
    iter_json,
    json_text,
    missing_of,
    rebuilt_item,
)

#: CloudTrail field <- Datadog standard attribute (dotted path).
MAPPED_BACK = (
    ("sourceIPAddress", "network.client.ip"),
    ("userAgent", "http.useragent"),
    ("eventName", "evt.name"),
    ("requestID", "http.request_id"),
)
_DD_ONLY = {
    "evt",
    "network",
    "http",
    "service",
    "host",
    "ddsource",
    "ddtags",
    "status",
    "timestamp",
    "date",
    "tags",
}


def _record_and_time(obj: Any) -> tuple[dict[str, Any], Any] | None:
    """(record-carrying attributes, envelope time) for the shapes Datadog exports."""
    if not isinstance(obj, dict):
        return None
    for outer, inner in (("content", "attributes"), ("attributes", "attributes")):
        env = obj.get(outer)
        if isinstance(env, dict) and isinstance(env.get(inner), dict):
            return env[inner], env.get("timestamp") or obj.get("timestamp")
    if isinstance(obj.get("attributes"), dict):
        return obj["attributes"], obj.get("timestamp") or obj.get("date")
    return obj, obj.get("timestamp") or obj.get("date")


def _is_datadog(attrs: Any) -> bool:
    if not isinstance(attrs, dict):
        return False
    enriched = any(dig(attrs, p) is not None for p in ("evt.name", "network.client.ip", "http.useragent"))
    return enriched and (is_record(attrs) or dig(attrs, "evt.name") is not None)


def sniff(head: bytes) -> int:
    obj = first_object(head)
    if obj is None:  # one big document cut by the head: look for the remapped attributes
        remapped = b'"evt"' in head and (b'"network"' in head or b'"http"' in head)
        return 75 if remapped and b'"eventSource"' in head else 0
    if isinstance(obj.get("data"), list) and obj["data"]:
        obj = obj["data"][0]
    found = _record_and_time(obj)
    return 85 if found is not None and _is_datadog(found[0]) else 0


def _docs(value: Any) -> Iterator[Any]:
    if isinstance(value, list):
        for el in value:
            yield from _docs(el)
    elif isinstance(value, dict) and isinstance(value.get("data"), list):
        yield from value["data"]
    else:
        yield value


def rebuild(attrs: dict[str, Any], when: Any) -> tuple[dict[str, Any], list[str]]:
    """(CloudTrail-shaped record, missing fields) from Datadog attributes."""
    rec = {k: v for k, v in attrs.items() if k not in _DD_ONLY and "." not in k}
    for name, path in MAPPED_BACK:
        if name not in rec:
            v = dig(attrs, path)
            if v is not None:
                rec[name] = v
    filled_time = "eventTime" not in rec and when is not None
    if filled_time:
        rec["eventTime"] = when
    missing = missing_of(rec, whole_identity=True)
    if filled_time:
        missing.append("eventTime")
    return rec, missing


def doc_item(doc: Any, idx: int) -> Item | Reject:
    found = _record_and_time(doc)
    if found is None or not (is_record(found[0]) or _is_datadog(found[0])):
        return Reject(idx, "not a Datadog CloudTrail log (no record attributes)", json_text(doc))
    rec, missing = rebuild(*found)
    return rebuilt_item(rec, idx, evidence=doc, missing=missing)


def read(data: bytes, source: str) -> Iterator[Item | Reject]:
    idx = 0
    for value in iter_json(data):
        if isinstance(value, Bad):
            yield bad_reject(value, idx)
            idx += 1
            continue
        for doc in _docs(value):
            yield doc_item(doc, idx)
            idx += 1


register(
    Reader(
        "datadog",
        "Datadog-enriched records: network.client.ip, http.useragent, evt.name mapped back (partial)",
        sniff,
        read,
    )
)
