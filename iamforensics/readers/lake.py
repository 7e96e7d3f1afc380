"""CloudTrail Lake query results: ``get-query-results`` JSON and saved result files (CSV).

``GetQueryResults`` returns ``QueryResultRows``: each row a list of one-key maps
(``[{"eventID": "..."}, {"eventTime": "2023-01-22 16:53:53.000"}]``), every value a string,
keys echoing the SELECT expression (``userIdentity.arn`` comes back as ``arn``). Pages may
be concatenated in one file. Saved results (``result_<n>.csv.gz`` under
``CloudTrail-Lake/Query/``) have one column per selected expression.

A row with an ``eventjson`` column (``SELECT eventJson``) is the record as AWS wrote it:
full fidelity. Any other row is rebuilt: top-level names and bare identity leaves map to
their CloudTrail field; struct and map columns rendered as ``{key=value, ...}`` text
(``userIdentity``, ``requestParameters``...) are parsed best effort (Lake lower-cases
struct keys; identity keys are re-cased to CloudTrail's names, payload keys are kept, and
nested payload values stay the strings Lake flattened them to). Rebuilt rows are
``partial`` with the fields the query did not select. Rows without an event time
(aggregates such as ``COUNT(*)``) are not records and are quarantined as such.

``result_sign.json`` (the signature over the result files) is recognized and listed
(``lake-sign``), not read as events.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

from ..normalize import Item, Reject
from . import Reader, register
from ._common import (
    Bad,
    bad_reject,
    decode_json_string,
    first_char,
    first_object,
    full_item,
    is_record,
    iter_json,
    json_text,
    rebuilt_item,
)
from ._tabular import COLUMNS, FULL_EVENT, LAKE_IDENTITY, decode_text, header_of, norm, parse_kv

#: Lake's lower-cased userIdentity struct keys -> CloudTrail's spelling.
IDENTITY_CASE = {
    k.lower(): k
    for k in (
        "type principalId arn accountId accessKeyId userName invokedBy identityProvider credentialId "
        "sessionContext sessionIssuer attributes creationDate mfaAuthenticated sourceIdentity ec2RoleDelivery "
        "ec2IssuedInVPC webIdFederationData federatedProvider onBehalfOf userId identityStoreArn assumedRoot"
    ).split()
}


def _recase(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {IDENTITY_CASE.get(k.lower(), k): _recase(v) for k, v in obj.items()}
    return obj


def sniff(head: bytes) -> int:
    if first_char(head) in (ord("{"), ord("[")):
        obj = first_object(head)
        if obj is not None:
            return 90 if "QueryResultRows" in obj else 0
        return 85 if b'"QueryResultRows"' in head else 0
    header = header_of(head)
    if header is None or any(" " in h.strip() for h in header):
        return 0
    names = {norm(h) for h in header}
    if names & FULL_EVENT - {"cloudtrailevent"}:
        return 74 if "eventjson" in names else 0
    known = sum(1 for n in names if n in COLUMNS or n in LAKE_IDENTITY)
    return 74 if "eventtime" in names and known >= 2 else 0


def row_record(fields: dict[str, Any]) -> dict[str, Any]:
    """A CloudTrail-shaped record from one Lake row ({column: string value})."""
    rec: dict[str, Any] = {}
    for key, value in fields.items():
        n = norm(key)
        if n in LAKE_IDENTITY:
            rec.setdefault("userIdentity", {})[LAKE_IDENTITY[n]] = value
            continue
        path = COLUMNS.get(n)
        if path is None:
            continue
        if path == "userIdentity":
            ui = decode_json_string(value) if isinstance(value, str) else value
            if isinstance(ui, str):
                ui = parse_kv(ui) or ui
            if isinstance(ui, dict):
                merged = _recase(ui)
                merged.update(rec.get("userIdentity") or {})
                rec["userIdentity"] = merged
            continue
        if path.startswith("userIdentity."):
            rec.setdefault("userIdentity", {})[path.split(".", 1)[1]] = value
            continue
        if isinstance(value, str) and value.strip()[:1] in ("{", "["):
            obj = decode_json_string(value)
            if isinstance(obj, str):
                obj = parse_kv(obj) or obj
            value = obj
        rec[path] = value
    return rec


def row_item(row: Any, idx: int) -> Item | Reject:
    """One ``QueryResultRows`` row (a list of one-key maps) -> a prepared record."""
    if not isinstance(row, list):
        return Reject(idx, "QueryResultRows row is not a list of one-key maps", json_text(row))
    fields: dict[str, Any] = {}
    for cell in row:
        if isinstance(cell, dict):
            fields.update(cell)
    return fields_item(fields, idx, evidence=row)


def fields_item(fields: dict[str, Any], idx: int, *, evidence: Any) -> Item | Reject:
    """One result row as {column: value} -> a prepared record."""
    full = next((v for k, v in fields.items() if norm(k) == "eventjson"), None)
    if isinstance(full, str) and is_record(decode_json_string(full)):
        return full_item(full, idx)
    rec = row_record(fields)
    if "eventTime" not in rec or rec["eventTime"] in (None, ""):
        return Reject(
            idx,
            "Lake row without eventTime (select eventTime or eventJson to export records)",
            json_text(evidence),
        )
    whole = isinstance(rec.get("userIdentity"), dict) and any(norm(k) == "useridentity" for k in fields)
    return rebuilt_item(rec, idx, evidence=fields, whole_identity=whole)


def _read_json(data: bytes) -> Iterator[Item | Reject]:
    idx = 0
    for value in iter_json(data):
        if isinstance(value, Bad):
            yield bad_reject(value, idx)
            idx += 1
            continue
        for page in value if isinstance(value, list) else [value]:
            if not isinstance(page, dict) or not isinstance(page.get("QueryResultRows"), list):
                yield Reject(idx, "not a GetQueryResults page (no QueryResultRows)", json_text(page))
                idx += 1
                continue
            for row in page["QueryResultRows"]:
                yield row_item(row, idx)
                idx += 1


def read(data: bytes, source: str) -> Iterator[Item | Reject]:
    if first_char(data[:4096]) in (ord("{"), ord("[")):
        yield from _read_json(data)
        return
    # Saved CSV results: every value a string, struct/map columns as {k=v} text.
    text = decode_text(data)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    idx = 0
    try:
        for row in reader:
            fields = {k: v for k, v in row.items() if k is not None and v not in (None, "")}
            if not fields:
                continue
            yield fields_item(fields, idx, evidence=row)
            idx += 1
    except csv.Error as exc:
        yield Reject(idx, f"CSV line {reader.line_num}: {exc}", text.encode("utf-8")[:65536])


def sniff_sign(head: bytes) -> int:
    return 95 if b'"hashSignature"' in head and b'"queryCompleteTime"' in head else 0


def _no_events(data: bytes, source: str) -> Iterator[Item | Reject]:
    return iter(())


register(
    Reader(
        "lake", "CloudTrail Lake query results: QueryResultRows JSON pages, saved CSV results", sniff, read
    )
)
register(
    Reader(
        "lake-sign",
        "CloudTrail Lake result_sign.json (signature over result files; listed, not events)",
        sniff_sign,
        _no_events,
        events=False,
    )
)
