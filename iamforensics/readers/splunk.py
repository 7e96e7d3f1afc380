"""Splunk search exports of ``sourcetype=aws:cloudtrail`` events (JSON).

Containers: the streaming export (``/services/search/jobs/export?output_mode=json`` and
the web UI's JSON export): one ``{"preview": false, "result": {...}}`` per line; the
non-streaming ``{"results": [{...}, ...]}``; or bare result objects. ``_raw`` holds the
record as AWS wrote it (used: full fidelity). A result without ``_raw`` (a ``| table``
or ``| fields`` export) is rebuilt from its extracted fields: dotted names
(``userIdentity.arn``, ``requestParameters.bucketName``) are nested back, Splunk's own
fields (``_time``, ``host``, ``source``, ``index``, ``date_*`` ...) are dropped, ``_time``
stands in for a missing ``eventTime``; the record is ``partial``. Splunk's CSV export with
a ``_raw`` column is read by the CSV readers.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..normalize import Item, Reject
from . import Reader, register
from ._common import Bad, bad_reject, first_object, full_item, is_record, iter_json, json_text, rebuilt_item

_SPLUNK_FIELDS = {
    "_time",
    "_raw",
    "_cd",
    "_bkt",
    "_indextime",
    "_serial",
    "_si",
    "_sourcetype",
    "_kv",
    "_eventtype_color",
    "host",
    "index",
    "linecount",
    "source",
    "sourcetype",
    "splunk_server",
    "splunk_server_group",
    "punct",
    "timestartpos",
    "timeendpos",
    "eventtype",
    "tag",
}


def _result(obj: Any) -> Any:
    if isinstance(obj, dict) and isinstance(obj.get("result"), dict):
        return obj["result"]
    return obj


def _is_result(obj: Any) -> bool:
    return isinstance(obj, dict) and (
        "_raw" in obj or ("_time" in obj and ("sourcetype" in obj or is_record(obj)))
    )


def sniff(head: bytes) -> int:
    obj = first_object(head)
    if obj is not None:
        if isinstance(obj.get("results"), list) and b'"_raw"' in head:
            return 85
        return 85 if _is_result(_result(obj)) else 0
    return 75 if b'"_raw"' in head and (b'"result"' in head or b'"_time"' in head) else 0


def _results(value: Any) -> Iterator[Any]:
    if isinstance(value, list):
        for el in value:
            yield from _results(el)
    elif isinstance(value, dict) and isinstance(value.get("results"), list):
        yield from value["results"]
    elif isinstance(value, dict) and "result" not in value and ("lastrow" in value or "preview" in value):
        return  # a streaming export's status line ({"preview": false, "lastrow": true}) holds no event
    else:
        yield _result(value)


def unflatten(fields: dict[str, Any]) -> dict[str, Any]:
    """Nest Splunk's dotted field names back into objects (``a.b`` -> ``{"a": {"b": ...}}``).

    Examples
    --------
    >>> unflatten({"userIdentity.arn": "x", "eventName": "E", "_time": "t"})
    {'userIdentity': {'arn': 'x'}, 'eventName': 'E'}
    """
    out: dict[str, Any] = {}
    for key, value in fields.items():
        if key in _SPLUNK_FIELDS or key.startswith(("date_", "tag::")) or "{}" in key:
            continue
        parts = key.split(".")
        node = out
        for p in parts[:-1]:
            nxt = node.get(p)
            if not isinstance(nxt, dict):
                nxt = node[p] = {}
            node = nxt
        node[parts[-1]] = value
    return out


def result_item(result: Any, idx: int) -> Item | Reject:
    if not isinstance(result, dict):
        return Reject(idx, "not a Splunk result object", json_text(result))
    raw = result.get("_raw")
    if isinstance(raw, str) and raw.lstrip().startswith("{"):
        out = full_item(raw, idx)
        if isinstance(out, Reject):
            out.reason = f"_raw: {out.reason}"
        return out
    rec = unflatten(result)
    if "eventTime" not in rec and result.get("_time") is not None:
        rec["eventTime"] = result["_time"]
        missing = ["eventTime"]
    else:
        missing = []
    if not is_record(rec):
        return Reject(idx, "Splunk result without _raw or CloudTrail fields", json_text(result))
    out = rebuilt_item(rec, idx, evidence=result)
    if isinstance(out, Item) and out.missing_fields is not None:
        out.missing_fields = sorted(set(out.missing_fields) | set(missing))
    return out


def read(data: bytes, source: str) -> Iterator[Item | Reject]:
    idx = 0
    for value in iter_json(data):
        if isinstance(value, Bad):
            yield bad_reject(value, idx)
            idx += 1
            continue
        for result in _results(value):
            yield result_item(result, idx)
            idx += 1


register(
    Reader(
        "splunk",
        'Splunk JSON exports: {"result": {"_raw": ...}} lines, {"results": [...]}, or extracted fields',
        sniff,
        read,
    )
)
