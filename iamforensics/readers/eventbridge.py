"""EventBridge events carrying CloudTrail records (``detail-type`` + ``detail``).

``{"version": "0", "id": ..., "detail-type": "AWS API Call via CloudTrail", "source":
"aws.<service>", "account", "time", "region", "resources": [], "detail": <record>}``, as
an EventBridge target (SQS, Lambda, Firehose to S3, a log archive) stores it: one per
file, JSON lines, an array, or concatenated by Firehose without separators. ``detail``
is the CloudTrail record and is what the raw column keeps; when it lacks ``eventTime``
the envelope's ``time`` is used (``partial``). EventBridge drops events over 256 KB, so
a dataset from it can be incomplete (say so in the report).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..normalize import Item, Reject
from . import Reader, register
from ._common import Bad, bad_reject, decode_json_string, filled_item, first_object, iter_json, json_text


def sniff(head: bytes) -> int:
    obj = first_object(head)
    if obj is not None:
        return 90 if "detail-type" in obj and "detail" in obj else 0
    return 80 if b'"detail-type"' in head and b'"detail"' in head else 0


def envelope_item(env: Any, idx: int) -> Item | Reject:
    if not isinstance(env, dict) or "detail" not in env:
        return Reject(idx, "not an EventBridge event (no detail)", json_text(env))
    detail = decode_json_string(env["detail"])
    if not isinstance(detail, dict):
        return Reject(idx, "EventBridge detail is not a JSON object", json_text(env))
    return filled_item(json_text(detail), idx, {"eventTime": env.get("time")})


def read(data: bytes, source: str) -> Iterator[Item | Reject]:
    idx = 0
    for value in iter_json(data):
        if isinstance(value, Bad):
            yield bad_reject(value, idx)
            idx += 1
            continue
        for env in value if isinstance(value, list) else [value]:
            yield envelope_item(env, idx)
            idx += 1


register(
    Reader(
        "eventbridge",
        'EventBridge events: {"detail-type": ..., "detail": <record>} one per line, array or concatenated',
        sniff,
        read,
    )
)
