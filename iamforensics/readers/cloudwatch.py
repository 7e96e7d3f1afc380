"""CloudTrail delivered to CloudWatch Logs, in every shape it leaves CloudWatch in.

Each CloudWatch log event's ``message`` is one CloudTrail record (no ``Records``
wrapper). Shapes:

* subscription-filter payloads as Firehose writes them to S3 (gzip, envelopes concatenated
  without separators) or as a Lambda receives them (``{"awslogs": {"data": <base64
  gzip>}}``): ``{"messageType": "DATA_MESSAGE", "logGroup", "logStream", "logEvents":
  [{"id", "timestamp", "message"}]}``. ``CONTROL_MESSAGE`` envelopes are CloudWatch's
  health checks, not evidence: they are discarded and not counted as records;
* ``aws logs filter-log-events`` / ``get-log-events`` output: ``{"events": [{"message",
  "timestamp", ...}]}`` (pages concatenated allowed);
* Logs Insights results: ``{"results": [[{"field": "@message", "value": ...}, ...]]}``;
* export-task files: one ``<ISO timestamp> <message>`` per line.

The message is what the raw column keeps. A message without ``eventTime`` gets the log
event's ``timestamp`` (milliseconds) and is ``partial``. CloudWatch drops CloudTrail
events over 256 KB, so a CloudWatch-only dataset can be incomplete.
"""

from __future__ import annotations

import base64
import binascii
import re
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from ..normalize import Item, Reject
from . import Reader, register
from ._common import Bad, bad_reject, filled_item, first_object, iter_json, json_text

_EXPORT_LINE = re.compile(rb"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z?)\s+(\{.*)$")
_MAX_INNER = 4 * 1024**3


def _kind(obj: dict[str, Any]) -> str | None:
    if "logEvents" in obj and "messageType" in obj:
        return "subscription"
    if isinstance(obj.get("awslogs"), dict):
        return "lambda"
    ev = obj.get("events")
    if isinstance(ev, list) and (not ev or (isinstance(ev[0], dict) and "message" in ev[0])):
        return "events"
    res = obj.get("results")
    if isinstance(res, list) and res and isinstance(res[0], list):
        return "insights"
    return None


def sniff(head: bytes) -> int:
    obj = first_object(head)
    if obj is not None:
        return 90 if _kind(obj) else 0
    if b'"logEvents"' in head and b'"messageType"' in head:
        return 85
    if (
        b'"events"' in head
        and b'"message"' in head
        and (b'"ingestionTime"' in head or b'"logStreamName"' in head)
    ):
        return 80
    first = head.lstrip().split(b"\n", 1)[0]
    if _EXPORT_LINE.match(first.strip()):
        return 70
    return 0


def _ms_iso(ms: Any) -> str | None:
    if isinstance(ms, bool) or not isinstance(ms, int | float):
        return None
    try:
        dt = datetime.fromtimestamp(ms / 1000.0, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None
    return (
        dt.strftime("%Y-%m-%dT%H:%M:%S") + (f".{dt.microsecond // 1000:03d}" if dt.microsecond else "") + "Z"
    )


def message_item(message: Any, idx: int, fallback_time: str | None) -> Item | Reject:
    if isinstance(message, dict):
        raw = json_text(message)
    elif isinstance(message, str):
        raw = message.encode("utf-8")
    else:
        return Reject(idx, "log event message is not text", json_text(message))
    if not raw.lstrip()[:1] == b"{":
        return Reject(idx, "log event message is not a JSON record", raw)
    return filled_item(raw, idx, {"eventTime": fallback_time})


def _gunzip(data: bytes) -> bytes:
    d = zlib.decompressobj(wbits=47)
    out = d.decompress(data, _MAX_INNER)
    if d.unconsumed_tail:
        raise ValueError(f"decompressed size exceeds {_MAX_INNER} bytes")
    return out


def _values(obj: Any) -> Iterator[tuple[Any, str | None] | Bad]:
    """(message, fallback time) for every log event in one top-level value."""
    if isinstance(obj, list):
        for el in obj:
            yield from _values(el)
        return
    if not isinstance(obj, dict):
        yield Bad("value", "not a CloudWatch Logs object", json_text(obj))
        return
    kind = _kind(obj)
    if kind == "subscription":
        if obj.get("messageType") == "CONTROL_MESSAGE":
            return
        for ev in obj.get("logEvents") or []:
            yield (
                (ev.get("message"), _ms_iso(ev.get("timestamp")))
                if isinstance(ev, dict)
                else Bad("logEvents", "log event is not an object", json_text(ev))
            )
    elif kind == "lambda":
        try:
            inner = _gunzip(base64.b64decode(obj["awslogs"].get("data") or b"", validate=True))
        except (binascii.Error, ValueError, zlib.error, TypeError) as exc:
            yield Bad("awslogs.data", f"cannot decode base64+gzip payload: {exc}", json_text(obj))
            return
        for value in iter_json(inner):
            yield from ([value] if isinstance(value, Bad) else _values(value))
    elif kind == "events":
        for ev in obj["events"]:
            yield (
                (ev.get("message"), _ms_iso(ev.get("timestamp")))
                if isinstance(ev, dict)
                else Bad("events", "log event is not an object", json_text(ev))
            )
    elif kind == "insights":
        for row in obj["results"]:
            fields = (
                {c.get("field"): c.get("value") for c in row if isinstance(c, dict)}
                if isinstance(row, list)
                else {}
            )
            if "@message" in fields:
                yield fields["@message"], fields.get("@timestamp")
            else:
                yield Bad(
                    "results",
                    "Logs Insights row without @message (select @message to export records)",
                    json_text(row),
                )
    else:
        yield Bad("value", "not a CloudWatch Logs object (no logEvents, events or results)", json_text(obj))


def _read_export(data: bytes) -> Iterator[Item | Reject]:
    idx = 0
    for lineno, line in enumerate(data.split(b"\n"), 1):
        line = line.strip()
        if not line:
            continue
        m = _EXPORT_LINE.match(line)
        if m is None:
            yield Reject(idx, f"line {lineno}: not '<timestamp> <JSON message>'", line)
        else:
            yield filled_item(m.group(2), idx, {"eventTime": m.group(1).decode()})
        idx += 1


def read(data: bytes, source: str) -> Iterator[Item | Reject]:
    if data.startswith(b"\x1f\x8b"):  # Firehose can gzip an already gzipped payload
        try:
            data = _gunzip(data)
        except (ValueError, zlib.error) as exc:
            yield Reject(0, f"corrupt inner gzip: {exc}", data[:4096])
            return
    first = data.lstrip().split(b"\n", 1)[0].strip()
    if _EXPORT_LINE.match(first):
        yield from _read_export(data)
        return
    idx = 0
    for value in iter_json(data):
        for out in [value] if isinstance(value, Bad) else _values(value):
            if isinstance(out, Bad):
                yield bad_reject(out, idx)
            else:
                yield message_item(out[0], idx, out[1])
            idx += 1


register(
    Reader(
        "cloudwatch",
        "CloudWatch Logs: subscription/Firehose envelopes (logEvents), filter-log-events, Insights, exports",
        sniff,
        read,
    )
)
