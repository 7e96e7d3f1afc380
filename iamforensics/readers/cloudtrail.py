"""CloudTrail records as AWS and most tools write them.

Containers: the S3 delivery object ``{"Records": [...]}``, a bare JSON array, a bare single
record, an empty array, JSON lines (one record per line), and records concatenated without
separators (``}\\n{``). Records stay raw bytes until normalize decodes them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import msgspec

from ..normalize import Item, Record, Reject, check, has_session_token, prepare, redact_keys
from . import Reader, register


class _Envelope(msgspec.Struct):
    Records: list[msgspec.Raw] | None = None


class _TypedEnvelope(msgspec.Struct):
    Records: list[Record]


_DOC = msgspec.json.Decoder(_Envelope | list[msgspec.Raw])  # type: ignore[arg-type]
_TYPED = msgspec.json.Decoder(_TypedEnvelope)
_RAW = msgspec.json.Decoder(msgspec.Raw)
#: Largest file decoded into structs in one call; bigger ones go record by record, so a
#: huge file never holds all its records as Python objects at once.
WHOLE_FILE_BYTES = 64 * 1024**2


def _first_byte(head: bytes) -> int:
    s = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    return s[0] if s else 0


#: The S3 delivery envelope as AWS writes it: ``Records`` the first key, its value an array.
_ENVELOPE = re.compile(rb'\A(?:\xef\xbb\xbf)?\s*\{\s*"Records"\s*:\s*\[\s*(\]|\{|\Z)?')
_MARKERS = (b'"eventVersion"', b'"eventTime"', b'"eventName"', b'"eventSource"')


def sniff(head: bytes) -> int:
    first = _first_byte(head)
    if first not in (ord("{"), ord("[")):
        return 0
    marked = any(m in head for m in _MARKERS)
    m = _ENVELOPE.match(head)
    # A "Records" key alone proves nothing (S3 notifications, Kinesis/SQS events, any
    # JSON mentioning the word): the envelope must open the document with an array that
    # is empty or holds records with CloudTrail fields.
    if m is not None and (m.group(1) in (b"]", b"") or (m.group(1) == b"{" and marked)):
        return 80
    if marked:
        return 60
    return 20  # JSON of some kind: this reader will say why it is not CloudTrail


_FIELD_KEY = re.compile(rb"(?i)\bevent(?:name|time|source|id|version)[\"']?\s*[:=]")


def explain(head: bytes) -> tuple[int, str]:
    """Near miss for text that is not JSON but names record fields (YAML, Markdown, notes)."""
    if _first_byte(head) in (ord("{"), ord("[")) or not _FIELD_KEY.search(head):
        return 0, ""
    return (
        40,
        "it is not JSON (records written as YAML, Markdown or key: value text must be converted to JSON)",
    )


def _whole_file(body: bytes) -> list[Item | Reject] | None:
    """The records of an S3 delivery file decoded in one call, or None to go record by record.

    The same values as :func:`prepare` on each record (the whole file is compacted, so each
    record's text and payloads are its compact text), without a decoder call per record:
    msgspec decodes every record into its typed struct in one pass. A record holding a
    sessionToken keeps its struct when every token is a key (its text redacted in place by
    :func:`redact_keys`, its payloads again by normalize); any other mention of a token sends
    it through :func:`prepare`, which redacts it. Anything unusual
    (a value of the wrong type, invalid UTF-8, another container) returns None.
    """
    if len(body) > WHOLE_FILE_BYTES or not body.lstrip()[:1] == b"{":
        return None
    try:
        compact = msgspec.json.format(body, indent=-1)
        recs = _TYPED.decode(compact).Records
        env = _DOC.decode(compact)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    if not isinstance(env, _Envelope) or env.Records is None or len(env.Records) != len(recs):
        return None
    # One case-insensitive count over the file instead of two scans of every record: none
    # at all, or all spelled as AWS does, lets each record take one plain substring test.
    tokens = compact.lower().count(b"sessiontoken")
    exact = tokens == compact.count(b"sessionToken")
    out: list[Item | Reject] = []
    for i, (rec, r) in enumerate(zip(recs, env.Records, strict=True)):
        raw = bytes(r)
        if tokens and (b"sessionToken" in raw if exact else has_session_token(raw)):
            # Every token a key (what AWS writes): the text is redacted in place and the
            # struct kept - its payloads are redacted again when their columns are built
            # (secret=True), and no other value can name a token. Else the full path.
            red = redact_keys(raw)
            out.append(prepare(raw, i) if red is None else check(rec, red.decode("utf-8"), i, secret=True))
        else:
            out.append(check(rec, raw.decode("utf-8"), i, secret=False))
    return out


def read(data: bytes, source: str) -> Iterator[Item | Reject]:
    body = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
    if not body.strip():
        return
    fast = _whole_file(body)
    if fast is not None:
        yield from fast
        return
    try:
        doc = _DOC.decode(body)
    except msgspec.ValidationError:
        # A bare single object that is not an envelope: one record.
        yield prepare(body.strip(), 0)
        return
    except (msgspec.DecodeError, UnicodeDecodeError):
        # JSON lines, concatenated values, or damage: read value by value, so one bad
        # record or line never loses the others.
        yield from _scan(body)
        return
    if isinstance(doc, list):
        raws = doc
    elif doc.Records is not None:
        raws = doc.Records
    else:
        yield prepare(body.strip(), 0)
        return
    for i, raw in enumerate(raws):
        yield prepare(bytes(raw), i)


_TRAILING = re.compile(r"trailing characters \(byte (\d+)\)")
_SPACE = b" \t\r\n,"


def _next_value(body: bytes, pos: int) -> int:
    """Start of the next line that opens a top-level value ({ or [ in column 0), or the end."""
    ends = [i + 1 for i in (body.find(b"\n{", pos), body.find(b"\n[", pos)) if i >= 0]
    return min(ends) if ends else len(body)


def _scan(body: bytes) -> Iterator[Item | Reject]:
    """Every record of JSON lines or of JSON values concatenated with or without whitespace.

    Values stay raw bytes (sliced out of the file, never re-serialized). An array or a
    ``{"Records": [...]}`` envelope among them is expanded into its records. Bytes that
    are not valid JSON are rejected up to the next line that starts a value, with their
    line number, and reading goes on from there.
    """
    view = memoryview(body)
    n, pos, idx = len(body), 0, 0
    while True:
        while pos < n and body[pos] in _SPACE:
            pos += 1
        if pos >= n:
            return
        try:
            raw = _RAW.decode(view[pos:])
            end = n
        except msgspec.DecodeError as exc:
            m = _TRAILING.search(str(exc))
            if m is None:
                stop = _next_value(body, pos)
                line = body.count(b"\n", 0, pos) + 1
                yield Reject(idx, f"line {line}: invalid JSON: {exc}", body[pos:stop])
                idx += 1
                pos = stop
                continue
            end = pos + int(m.group(1)) - 1  # msgspec counts bytes from 1
            raw = _RAW.decode(view[pos:end])
        for rec in _records_of(bytes(raw)):
            yield prepare(rec, idx)
            idx += 1
        pos = end


def _records_of(value: bytes) -> list[bytes]:
    """The records in one top-level value: itself, an array's elements, or an envelope's Records."""
    if value[:1] not in (b"[", b"{") or (value[:1] == b"{" and b'"Records"' not in value[:4096]):
        return [value]
    try:
        doc = _DOC.decode(value)
    except (msgspec.ValidationError, msgspec.DecodeError, UnicodeDecodeError):
        return [value]
    if isinstance(doc, list):
        return [bytes(r) for r in doc]
    if doc.Records is not None:
        return [bytes(r) for r in doc.Records]
    return [value]


register(
    Reader(
        "cloudtrail",
        'CloudTrail records: S3 {"Records"}, arrays, single objects, JSON lines',
        sniff,
        read,
        explain=explain,
    )
)
