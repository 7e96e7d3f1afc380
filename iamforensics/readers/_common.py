"""Shared machinery of the readers for re-shaped evidence (not a format itself).

Three things every non-trail reader needs:

* :func:`iter_json`: the top-level JSON values of a file, whatever the container (one
  document, JSON lines, documents concatenated with or without whitespace), with a
  per-value error instead of an exception so one bad line never loses the rest;
* :func:`dig`: a field by dotted path whether the export nested it (``{"event":
  {"original": ...}}``) or flattened it (``{"event.original": ...}``);
* the three ways a reader hands a record to normalize: :func:`full_item` (the record as
  AWS wrote it, JSON bytes), :func:`filled_item` (AWS's record lacking a field the
  envelope carries, e.g. ``eventTime`` from Logstash's ``@timestamp``) and
  :func:`rebuilt_item` (a record rebuilt from a lossy shape: ``fidelity="partial"`` and
  the list of CloudTrail fields the shape did not carry, so an analysis can tell
  "absent in the evidence" from "absent in AWS").
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import msgspec
import orjson

from ..normalize import Item, Reject, check, compact_raw, decode_record, prepare, record_from_obj

_GENERIC = msgspec.json.Decoder()
_TRAILING = re.compile(r"trailing characters \(byte (\d+)\)")
_BOM = b"\xef\xbb\xbf"

#: Top-level CloudTrail fields whose absence a rebuilt record reports in ``missing_fields``.
CORE_FIELDS = (
    "eventVersion",
    "eventTime",
    "eventID",
    "eventSource",
    "eventName",
    "eventType",
    "awsRegion",
    "sourceIPAddress",
    "userAgent",
    "requestID",
    "recipientAccountId",
    "requestParameters",
    "responseElements",
)
#: userIdentity leaves reported when a shape carries only some of the identity.
IDENTITY_FIELDS = ("type", "principalId", "arn", "accountId")
#: Keys that mark a JSON object as a CloudTrail record.
RECORD_KEYS = ("eventName", "eventSource", "eventVersion", "eventID", "eventTime", "userIdentity")


@dataclass(slots=True)
class Bad:
    """A top-level value that could not be decoded: where, why, and its text."""

    position: str
    reason: str
    raw: bytes


def strip_bom(data: bytes) -> bytes:
    return data[3:] if data.startswith(_BOM) else data


def first_char(head: bytes) -> int:
    s = strip_bom(head).lstrip(b" \t\r\n")
    return s[0] if s else 0


def _loads_lenient(text: bytes) -> Any:
    """json.loads without the control-character rule (raw newlines inside strings)."""
    return json.loads(text.decode("utf-8"), strict=False)


def iter_json(data: bytes) -> Iterator[Any | Bad]:
    """Every top-level JSON value in ``data``: one document, JSON lines, or concatenated.

    JSON lines and documents concatenated with or without whitespace (Firehose) may be
    mixed, one value per line or pretty-printed over many. A line that cannot be decoded
    becomes one :class:`Bad` and reading resumes on the next line, so one corrupt line
    never loses the rest of the file.

    Examples
    --------
    >>> list(iter_json(b'{"a":1}{"b":2}\\n[3]'))
    [{'a': 1}, {'b': 2}, [3]]
    """
    body = strip_bom(data).strip()
    if not body:
        return
    try:
        yield _GENERIC.decode(body)
        return
    except msgspec.DecodeError as exc:
        trailing = _TRAILING.search(str(exc)) is not None
    if not trailing:
        try:
            yield _loads_lenient(body)
            return
        except (ValueError, UnicodeDecodeError):
            pass
    yield from _scan(body)


def _scan(body: bytes) -> Iterator[Any | Bad]:
    pos, n = 0, len(body)
    while pos < n:
        while pos < n and body[pos] in b" \t\r\n,":
            pos += 1
        if pos >= n:
            return
        eol = body.find(b"\n", pos)
        line_end = n if eol < 0 else eol
        line = body[pos:line_end].strip()
        try:  # the fast path: one value per line
            yield _GENERIC.decode(line)
            pos = line_end
            continue
        except msgspec.DecodeError:
            pass
        found = _one_value(body, pos)
        if found is not None:
            value, pos = found
            yield value
            continue
        try:  # a line with raw control characters inside strings
            yield _loads_lenient(line)
        except (ValueError, UnicodeDecodeError) as exc:
            lineno = body.count(b"\n", 0, pos) + 1
            yield Bad(f"line {lineno}", f"invalid JSON: {exc}", line)
        pos = line_end


def _one_value(body: bytes, pos: int) -> tuple[Any, int] | None:
    """(first JSON value starting at ``pos``, byte just after it), or None."""
    rest = body[pos:]
    try:
        return _GENERIC.decode(rest), len(body)
    except msgspec.DecodeError as exc:
        m = _TRAILING.search(str(exc))
    if m is None:
        return None
    end = int(m.group(1)) - 1
    try:
        return _GENERIC.decode(rest[:end]), pos + end
    except msgspec.DecodeError:
        return None


#: (head, first_object(head)) of the last head seen: detect() hands the same head to every
#: reader's sniff, and each decode of a 64 KiB head costs ~0.5 ms (x10 readers per file).
_LAST_FIRST: list[Any] = [None, None]


def first_object(head: bytes) -> dict[str, Any] | None:
    """The first JSON object of a (possibly truncated) head, for sniffing; None if unknown.

    For a JSON array the first element is returned; for JSON lines the first line.
    Sniffers only read the result: it is shared by the calls made with the same head.
    """
    if _LAST_FIRST[0] is head:
        return _LAST_FIRST[1]  # type: ignore[no-any-return]
    obj = _first_object(head)
    _LAST_FIRST[:] = [head, obj]
    return obj


def _first_object(head: bytes) -> dict[str, Any] | None:
    try:
        return _first_object_of(head)
    except (ValueError, UnicodeError):  # text that is not UTF-8 JSON: no object to sniff
        return None


def _first_object_of(head: bytes) -> dict[str, Any] | None:
    s = strip_bom(head).lstrip(b" \t\r\n")
    if s[:1] == b"[":
        s = s[1:].lstrip(b" \t\r\n")
    if s[:1] != b"{":
        return None
    try:
        obj = _GENERIC.decode(s)
    except msgspec.DecodeError as exc:
        m = _TRAILING.search(str(exc))
        obj = None
        if m:
            try:
                obj = _GENERIC.decode(s[: int(m.group(1)) - 1])
            except msgspec.DecodeError:
                obj = None
        if obj is None:
            line = s.split(b"\n", 1)[0]
            try:
                obj = _GENERIC.decode(line)
            except msgspec.DecodeError:
                return None
    return obj if isinstance(obj, dict) else None


def dig(obj: Any, path: str) -> Any:
    """Value at a dotted path, through nested objects or flattened dotted keys.

    Examples
    --------
    >>> dig({"event": {"original": "x"}}, "event.original"), dig({"event.original": "y"}, "event.original")
    ('x', 'y')
    """
    if not isinstance(obj, dict):
        return None
    if path in obj:
        return obj[path]
    dot = path.find(".")
    while dot != -1:
        head = path[:dot]
        if head in obj:
            found = dig(obj[head], path[dot + 1 :])
            if found is not None:
                return found
        dot = path.find(".", dot + 1)
    return None


def is_record(obj: Any) -> bool:
    """True for a JSON object that carries CloudTrail record fields."""
    return isinstance(obj, dict) and any(k in obj for k in RECORD_KEYS)


def json_text(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)


def decode_json_string(value: Any) -> Any:
    """A value that may be JSON text (a double-encoded record or payload) as an object."""
    if isinstance(value, str | bytes):
        s = value.strip()
        if s[:1] in ("{", "[", b"{", b"["):
            try:
                return _GENERIC.decode(s.encode() if isinstance(s, str) else s)
            except msgspec.DecodeError:
                try:
                    return _loads_lenient(s.encode() if isinstance(s, str) else s)
                except (ValueError, UnicodeDecodeError):
                    return value
    return value


# --- records to normalize -----------------------------------------------------------------


def full_item(record: bytes | str | dict[str, Any], idx: int) -> Item | Reject:
    """A record as AWS wrote it (JSON bytes, or a decoded object): full fidelity."""
    if isinstance(record, dict):
        return filled_item(json_text(record), idx, {})
    if isinstance(record, str):
        record = record.encode("utf-8")
    return prepare(record, idx)


def filled_item(raw: bytes, idx: int, fill: dict[str, Any]) -> Item | Reject:
    """AWS's record (``raw``) with top-level fields it lacks taken from the envelope.

    The raw column keeps ``raw`` unchanged; a record that needed a fill is ``partial`` and
    names the filled fields in ``missing_fields``.
    """
    try:
        rec = decode_record(raw)
        text = compact_raw(raw).decode("utf-8")
    except UnicodeDecodeError as exc:
        return Reject(idx, f"invalid UTF-8 at byte {exc.start} of the record", raw)
    except (msgspec.DecodeError, orjson.JSONDecodeError, TypeError) as exc:
        return Reject(idx, f"invalid JSON record: {exc}", raw)
    filled = []
    for name, value in fill.items():
        if value is not None and getattr(rec, name) in (None, ""):
            setattr(rec, name, value)
            filled.append(name)
    out = check(rec, text, idx)
    if isinstance(out, Item) and filled:
        out.fidelity = "partial"
        out.missing_fields = filled
    return out


def missing_of(record: dict[str, Any], *, whole_identity: bool) -> list[str]:
    """CloudTrail fields a rebuilt record does not carry (dotted for identity leaves)."""
    out = [f for f in CORE_FIELDS if f not in record]
    ui = record.get("userIdentity")
    if not isinstance(ui, dict):
        out.append("userIdentity")
    elif not whole_identity:
        out.extend(f"userIdentity.{k}" for k in IDENTITY_FIELDS if k not in ui)
    return out


def rebuilt_item(
    record: dict[str, Any],
    idx: int,
    *,
    evidence: Any,
    whole_identity: bool = False,
    missing: list[str] | None = None,
) -> Item | Reject:
    """A record rebuilt from a lossy shape: ``partial``, with the fields it lacks.

    ``evidence`` (the row or document as received) is what the raw column keeps, so the
    investigator sees the evidence, not our reconstruction of it.
    """
    raw = json_text(evidence) if not isinstance(evidence, bytes) else evidence
    try:
        text = compact_raw(raw).decode("utf-8")
    except (orjson.JSONDecodeError, msgspec.DecodeError, UnicodeDecodeError):
        text = orjson.dumps(raw.decode("utf-8", errors="backslashreplace")).decode()
    out = check(record_from_obj(record), text, idx)
    if isinstance(out, Item):
        out.fidelity = "partial"
        out.missing_fields = (
            missing if missing is not None else missing_of(record, whole_identity=whole_identity)
        )
    return out


def bad_reject(bad: Bad, idx: int) -> Reject:
    return Reject(idx, f"{bad.position}: {bad.reason}", bad.raw)
