"""CloudTrail records as AWS and most tools write them.

Containers: the S3 delivery object ``{"Records": [...]}``, a bare JSON array, a bare single
record, an empty array, JSON lines (one record per line), and records concatenated without
separators (``}\\n{``). Records stay raw bytes until normalize decodes them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import msgspec

from ..normalize import Item, Reject, prepare
from . import Reader, register


class _Envelope(msgspec.Struct):
    Records: list[msgspec.Raw] | None = None


_DOC = msgspec.json.Decoder(_Envelope | list[msgspec.Raw])  # type: ignore[arg-type]
_RAW = msgspec.json.Decoder(msgspec.Raw)


def _first_byte(head: bytes) -> int:
    s = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    return s[0] if s else 0


def sniff(head: bytes) -> int:
    first = _first_byte(head)
    if first not in (ord("{"), ord("[")):
        return 0
    if b'"Records"' in head[:4096]:
        return 80
    if b'"eventVersion"' in head or b'"eventTime"' in head or b'"eventName"' in head:
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


def _utf8_problem(data: bytes) -> str | None:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"invalid UTF-8 at byte {exc.start}"
    return None


def read(data: bytes, source: str) -> Iterator[Item | Reject]:
    body = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
    if not body.strip():
        return
    try:
        doc = _DOC.decode(body)
    except msgspec.ValidationError:
        # A bare single object that is not an envelope: one record.
        yield prepare(body.strip(), 0)
        return
    except msgspec.DecodeError as exc:
        bad = _utf8_problem(body)
        if bad:
            yield Reject(0, bad, body)
            return
        if "trailing characters" in str(exc) or "extra data" in str(exc).lower():
            yield from _read_many(body, source)
            return
        yield Reject(0, f"invalid JSON: {exc}", body)
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


def _read_many(body: bytes, source: str) -> Iterator[Item | Reject]:
    """JSON lines, or JSON values concatenated with any whitespace between them."""
    lines = body.splitlines()
    first = next((ln.strip() for ln in lines if ln.strip()), b"")
    if first in (b"{", b"["):
        yield from _read_concatenated(body)
        return
    idx = 0
    for lineno, line in enumerate(lines, 1):
        line = line.strip()
        if not line:
            continue
        try:
            raw = _RAW.decode(line)
        except msgspec.DecodeError as exc:
            bad = _utf8_problem(line)
            yield Reject(idx, f"line {lineno}: {bad or f'invalid JSON: {exc}'}", line)
            idx += 1
            continue
        yield prepare(bytes(raw), idx)
        idx += 1


def _read_concatenated(body: bytes) -> Iterator[Item | Reject]:
    text = body.decode("utf-8", errors="replace")
    dec = json.JSONDecoder(strict=False)
    pos, idx, n = 0, 0, len(text)
    while pos < n:
        while pos < n and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= n:
            break
        try:
            obj, end = dec.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            yield Reject(idx, f"invalid JSON at character {pos}: {exc.msg}", text[pos:].encode())
            return
        chunk = text[pos:end].encode()
        if isinstance(obj, list):
            for el in obj:
                yield prepare(json.dumps(el).encode(), idx)
                idx += 1
        else:
            yield prepare(chunk, idx)
            idx += 1
        pos = end


register(
    Reader(
        "cloudtrail",
        'CloudTrail records: S3 {"Records"}, arrays, single objects, JSON lines',
        sniff,
        read,
        explain=explain,
    )
)
