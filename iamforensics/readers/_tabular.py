"""CSV evidence, parsed by header name (never by position), shared by the CSV readers.

Header labels are matched after normalization (lower case, no spaces, dots, dashes or
underscores), so ``Event time``, ``eventTime``, ``eventtime`` and ``event_time`` are one
column, and the synonyms different exporters use (``Source IP``, ``Request User Agent``,
``AWS access key``, ``User ID``) map to their CloudTrail field. A column that holds the
whole event (``CloudTrail event``, Lake's ``eventjson``, Splunk's ``_raw``, Elastic's
``event.original``) wins: that record is used as AWS wrote it. Otherwise the row is
rebuilt (``partial``, with the CloudTrail fields no column carried), and the raw column
keeps the row as ``{header: cell}``.

Object cells are decoded as JSON, as Python literals (``ast.literal_eval``: repr() dicts
with single quotes; never ``eval``) where the format allows it, or as Lake's
``{key=value, ...}`` rendering; anything else stays the string it was.
"""

from __future__ import annotations

import ast
import csv
import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from ..normalize import Item, Reject
from ._common import decode_json_string, full_item, is_record, json_text, rebuilt_item

csv.field_size_limit(max(csv.field_size_limit(), 1 << 26))

#: Longest cell handed to ``ast.literal_eval`` (its parser recurses on nesting).
MAX_LITERAL = 1 << 20

#: normalized header -> CloudTrail path ("userIdentity.x" for identity leaves).
COLUMNS: dict[str, str] = {
    "eventid": "eventID",
    "eventtime": "eventTime",
    "eventdatetime": "eventTime",
    "eventname": "eventName",
    "eventsource": "eventSource",
    "eventtype": "eventType",
    "eventversion": "eventVersion",
    "eventcategory": "eventCategory",
    "awsregion": "awsRegion",
    "region": "awsRegion",
    "sourceipaddress": "sourceIPAddress",
    "sourceip": "sourceIPAddress",
    "useragent": "userAgent",
    "requestuseragent": "userAgent",
    "errorcode": "errorCode",
    "errormessage": "errorMessage",
    "readonly": "readOnly",
    "requestid": "requestID",
    "recipientaccountid": "recipientAccountId",
    "managementevent": "managementEvent",
    "sharedeventid": "sharedEventID",
    "vpcendpointid": "vpcEndpointId",
    "apiversion": "apiVersion",
    "sessioncredentialfromconsole": "sessionCredentialFromConsole",
    "requestparameters": "requestParameters",
    "responseelements": "responseElements",
    "additionaleventdata": "additionalEventData",
    "serviceeventdetails": "serviceEventDetails",
    "resources": "resources",
    "tlsdetails": "tlsDetails",
    "useridentity": "userIdentity",
    "userid": "userIdentity",
    "username": "userIdentity.userName",
    "awsaccesskey": "userIdentity.accessKeyId",
    "accesskeyid": "userIdentity.accessKeyId",
    "accesskey": "userIdentity.accessKeyId",
}
#: Bare identity leaves as CloudTrail Lake names them (``SELECT userIdentity.arn`` -> ``arn``).
LAKE_IDENTITY = {
    "principalid": "principalId",
    "arn": "arn",
    "accountid": "accountId",
    "invokedby": "invokedBy",
    "type": "type",
}
#: Columns that hold the whole record.
FULL_EVENT = {"cloudtrailevent", "eventjson", "raw", "eventoriginal"}
_OBJECT_FIELDS = {
    "requestParameters",
    "responseElements",
    "additionalEventData",
    "serviceEventDetails",
    "resources",
    "tlsDetails",
    "userIdentity",
}
_CONSOLE_TIME = re.compile(
    r"^([A-Z][a-z]+) (\d{1,2}), (\d{4}),? (\d{1,2}):(\d{2}):(\d{2})(?: ?([AP]M))? \(UTC([+-]\d{1,2})?:?(\d{2})?\)$"
)
_MONTHS = {
    m: i
    for i, m in enumerate(
        "january february march april may june july august september october november december".split(), 1
    )
}


def norm(header: str) -> str:
    """Normalized header label: lower case, letters and digits only."""
    return re.sub(r"[^a-z0-9]", "", header.strip().lower())


def decode_text(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def header_of(head: bytes) -> list[str] | None:
    """The header row of a CSV head, or None when the head is not CSV-like."""
    text = decode_text(head[:65536])
    first = text.split("\n", 1)[0].rstrip("\r")
    if not first or first.lstrip()[:1] in ("{", "[") or ("," not in first and "\t" not in first):
        return None
    delim = "\t" if first.count("\t") > first.count(",") else ","
    try:
        row = next(csv.reader([first], delimiter=delim))
    except (csv.Error, StopIteration):
        return None
    return row if len(row) >= 2 else None


def mapped(header: list[str], *, lake: bool = False) -> dict[str, str]:
    """{header label: CloudTrail path} for the labels this module knows."""
    out = {}
    for h in header:
        n = norm(h)
        if n in COLUMNS:
            out[h] = COLUMNS[n]
        elif lake and n in LAKE_IDENTITY:
            out[h] = "userIdentity." + LAKE_IDENTITY[n]
    return out


def full_event_column(header: list[str]) -> str | None:
    return next((h for h in header if norm(h) in FULL_EVENT), None)


def console_time(value: str) -> str | None:
    """The console's ``January 10, 2024, 15:07:19 (UTC+05:30)`` as ISO UTC, else None."""
    m = _CONSOLE_TIME.match(value.strip())
    if not m:
        return None
    mon, d, y, h, mi, s, ampm, oh, om = m.groups()
    month = _MONTHS.get(mon.lower())
    if month is None:
        return None
    hour = int(h) % 12 + (12 if ampm == "PM" else 0) if ampm else int(h)
    try:
        dt = datetime(int(y), month, int(d), hour, int(mi), int(s), tzinfo=UTC)
    except ValueError:
        return None
    if oh:
        sign = -1 if oh.startswith("-") else 1
        dt -= sign * timedelta(hours=abs(int(oh)), minutes=int(om or 0))
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_kv(text: str) -> Any:
    """Lake's / Java's ``{k=v, k2={a=b}, k3=[x, y]}`` rendering -> dict (strings), or None.

    Values that contain ``, `` or ``=`` themselves make the rendering ambiguous; the
    parse is best effort and the raw column keeps the original text.

    Examples
    --------
    >>> parse_kv("{bucketName=b, Host=b.s3.amazonaws.com, tags={a=1}}")
    {'bucketName': 'b', 'Host': 'b.s3.amazonaws.com', 'tags': {'a': '1'}}
    """
    s = text.strip()
    if not (s.startswith("{") and s.endswith("}")) or "=" not in s:
        return None
    try:
        value, end = _kv_value(s, 0)
    except (IndexError, ValueError):
        return None
    return value if end == len(s) and isinstance(value, dict) else None


def _kv_value(s: str, i: int) -> tuple[Any, int]:
    if s[i] == "{":
        out: dict[str, Any] = {}
        i += 1
        while s[i] != "}":
            eq = s.index("=", i)
            key = s[i:eq].strip()
            val, i = _kv_value(s, eq + 1)
            out[key] = val
            if s[i] == ",":
                i += 1
                while s[i] == " ":
                    i += 1
        return out, i + 1
    if s[i] == "[":
        items: list[Any] = []
        i += 1
        while s[i] != "]":
            val, i = _kv_value(s, i)
            items.append(val)
            if s[i] == ",":
                i += 1
                while s[i] == " ":
                    i += 1
        return items, i + 1
    depth, j = 0, i
    while j < len(s):
        c = s[j]
        if c in "{[":
            depth += 1
        elif c in "}]":
            if depth == 0:
                break
            depth -= 1
        elif c == "," and depth == 0:
            break
        j += 1
    val = s[i:j].strip()
    return (None if val == "null" else val), j


def decode_cell(value: str, *, literal: bool) -> Any:
    """An object-typed cell as an object when it is JSON, a Python literal or ``{k=v}`` text."""
    s = value.strip()
    if not s:
        return None
    if s[:1] not in "{[":
        return s
    obj = decode_json_string(s)
    if obj is not s and not isinstance(obj, str):
        return obj
    if literal and len(s) <= MAX_LITERAL:
        try:
            lit = ast.literal_eval(s)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            lit = None
        if isinstance(lit, dict | list):
            return lit
    kv = parse_kv(s)
    return kv if kv is not None else s


def row_record(row: dict[str, str], columns: dict[str, str], *, literal: bool) -> tuple[dict[str, Any], bool]:
    """(CloudTrail-shaped record, whether a column held the whole userIdentity)."""
    rec: dict[str, Any] = {}
    whole_identity = False
    resource_types = resource_names = None
    for header, path in columns.items():
        cell = row.get(header)
        if cell is None:
            continue
        if path.startswith("userIdentity."):
            if cell.strip():
                rec.setdefault("userIdentity", {})
                if isinstance(rec["userIdentity"], dict):
                    rec["userIdentity"][path.split(".", 1)[1]] = cell.strip()
            continue
        if path == "userIdentity":
            ui = decode_cell(cell, literal=literal)
            if isinstance(ui, dict):
                ui.update(rec.get("userIdentity") or {})
                rec["userIdentity"] = ui
                whole_identity = True
            continue
        if path in _OBJECT_FIELDS:
            rec[path] = decode_cell(cell, literal=literal)
        elif path == "eventTime":
            rec[path] = console_time(cell) or cell.strip() or None
        else:
            rec[path] = cell.strip() or None
    for header in row:
        n = norm(header or "")
        if n == "resourcetype":
            resource_types = row[header]
        elif n == "resourcename":
            resource_names = row[header]
    if "resources" not in rec and (resource_types or resource_names):
        types = [t.strip() for t in (resource_types or "").split(",")]
        names = [n.strip() for n in (resource_names or "").split(",")]
        if len(types) != len(names):
            types = [resource_types or ""] * len(names) if len(names) > 1 else [resource_types or ""]
            names = names if len(names) > 1 else [resource_names or ""]
        rec["resources"] = [{"type": t or None, "ARN": n or None} for t, n in zip(types, names, strict=False)]
    return rec, whole_identity


def read_csv(data: bytes, *, literal: bool, lake: bool = False) -> Iterator[Item | Reject]:
    """Yield one prepared record (or reject) per data row of a CSV file."""
    text = decode_text(data)
    first = text.split("\n", 1)[0]
    delim = "\t" if first.count("\t") > first.count(",") else ","
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delim)
    header = list(reader.fieldnames or [])
    columns = mapped(header, lake=lake)
    full_col = full_event_column(header)
    idx = 0
    try:
        for row in reader:
            if not any((v or "").strip() for k, v in row.items() if k is not None):
                continue
            evidence = {k: v for k, v in row.items() if k is not None}
            if None in row:
                evidence["(extra cells)"] = row[None]  # type: ignore[index]
            yield _row_item(row, evidence, columns, full_col, idx, literal=literal, lineno=reader.line_num)
            idx += 1
    except csv.Error as exc:
        yield Reject(idx, f"CSV line {reader.line_num}: {exc}", text.encode("utf-8")[:65536])


def _row_item(
    row: dict[str, Any],
    evidence: dict[str, Any],
    columns: dict[str, str],
    full_col: str | None,
    idx: int,
    *,
    literal: bool,
    lineno: int,
) -> Item | Reject:
    if full_col is not None:
        full = decode_json_string(row.get(full_col) or "")
        if is_record(full):
            return full_item(row[full_col], idx)
    rec, whole_identity = row_record(row, columns, literal=literal)
    if not is_record(rec):
        return Reject(idx, f"CSV line {lineno}: no CloudTrail fields in this row", json_text(evidence))
    return rebuilt_item(rec, idx, evidence=evidence, whole_identity=whole_identity)


def csv_explain(head: bytes, need: tuple[str, ...], what: str) -> tuple[int, str]:
    """Near miss for a CSV reader: which of the columns it needs the header lacks."""
    header = header_of(head)
    if header is None:
        return 0, ""
    have = {COLUMNS.get(norm(h)) for h in header}
    lacking = [n for n in need if n not in have]
    if not lacking:
        return 0, ""
    score = 30 + 30 * (len(need) - len(lacking)) // max(len(need), 1)
    shown = ", ".join(header[:8]) + (", ..." if len(header) > 8 else "")
    return score, f"the CSV header ({shown}) has no column for {', '.join(lacking)} ({what})"
