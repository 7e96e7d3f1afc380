"""Evidence formats: a small registry, each format one module with ``sniff`` + ``read``.

``sniff(head)`` looks at the first bytes of a decompressed file and returns a confidence
from 0 (not this format) to 100; ``read(data, source)`` yields prepared records
(:class:`~iamforensics.normalize.Item`) and rejects. Detection is by content, never by
file extension. Adding a format is adding one module here that calls :func:`register`.

Examples
--------
>>> from iamforensics.readers import detect
>>> detect(b'{"Records": []}').name
'cloudtrail'
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from ..errors import EvidenceError
from ..normalize import Item, Reject

#: Bytes of a file shown to ``sniff``.
HEAD_BYTES = 64 * 1024


@dataclass(frozen=True)
class Reader:
    """One evidence format."""

    name: str
    description: str
    sniff: Callable[[bytes], int]
    read: Callable[[bytes, str], Iterator[Item | Reject]]
    events: bool = True  # False for files that are recognized but hold no events (digests)
    #: Near miss for content no reader accepts: (closeness 0..100, why it is not this format).
    explain: Callable[[bytes], tuple[int, str]] | None = None


class NoFormatError(EvidenceError):
    """No reader accepts a file; names the closest format and why it is not that format."""

    def __init__(self, closest: str | None, why: str):
        self.closest = closest
        self.why = why
        if closest:
            msg = f"no known evidence format matches; closest is {closest}, but {why}"
        else:
            msg = f"no known evidence format matches ({why})"
        super().__init__(msg)


REGISTRY: dict[str, Reader] = {}


def register(reader: Reader) -> Reader:
    """Add a format to the registry (called by each reader module at import)."""
    REGISTRY[reader.name] = reader
    return reader


def _load() -> None:
    for mod in sorted(m.name for m in pkgutil.iter_modules(__path__)):
        importlib.import_module(f"{__name__}.{mod}")


def detect(head: bytes) -> Reader:
    """The registered reader with the highest confidence for these bytes.

    Raises :class:`NoFormatError` (an :class:`EvidenceError`) naming the closest format
    and why the content is not that format when no reader recognizes them.
    """
    wide = wide_encoding(head)
    if wide is not None:
        raise NoFormatError(None, wide)
    best: tuple[int, str] = (0, "")
    for name, reader in sorted(REGISTRY.items()):
        try:
            score = reader.sniff(head)
        except Exception:  # noqa: BLE001 - a sniffer choking on odd bytes (invalid UTF-8) means "not mine"
            score = 0
        if score > best[0]:
            best = (score, name)
    if not best[1]:
        raise NoFormatError(*closest(head))
    return REGISTRY[best[1]]


#: Byte-order marks of the encodings AWS never writes (longest first: UTF-32 LE starts like UTF-16 LE).
_BOMS = (
    (b"\xff\xfe\x00\x00", "UTF-32-LE"),
    (b"\x00\x00\xfe\xff", "UTF-32-BE"),
    (b"\xff\xfe", "UTF-16-LE"),
    (b"\xfe\xff", "UTF-16-BE"),
)


def _wide_guess(head: bytes) -> str | None:
    """UTF-16/32 encoding of a head, from its byte-order mark or its NUL pattern, else None."""
    for bom, enc in _BOMS:
        if head.startswith(bom):
            return enc
    h = head[:64]
    if len(h) < 8 or h.count(0) < len(h) // 3:
        return None
    # ASCII text in a wide encoding: every other (or three in four) byte is NUL.
    if h[0] and not h[1] and not h[2] and not h[3]:
        return "UTF-32-LE"
    if not h[0] and not h[1] and not h[2] and h[3]:
        return "UTF-32-BE"
    if h[0] and not h[1] and h[2] and not h[3]:
        return "UTF-16-LE"
    if not h[0] and h[1] and not h[2] and h[3]:
        return "UTF-16-BE"
    return None


def wide_encoding(head: bytes) -> str | None:
    """Why a head in UTF-16/32 that holds JSON or names CloudTrail fields is not read, else None.

    Every reader reads UTF-8 (what AWS writes); a file re-saved as UTF-16 (Windows tools,
    PowerShell's ``Out-File``) would otherwise be skipped as binary or read as garbage
    columns. Wide text that names no CloudTrail field is left to the other rules.

    Examples
    --------
    >>> wide_encoding('{"Records": []}'.encode("utf-16")).split(":")[0]
    'it is UTF-16-LE text, not UTF-8'
    """
    enc = _wide_guess(head)
    if enc is None:
        return None
    cut = len(head) - len(head) % (4 if enc.startswith("UTF-32") else 2)
    text = head[:cut].decode(enc, errors="replace").lstrip("\ufeff \t\r\n")
    from .not_evidence import MENTIONS  # here: not_evidence imports this module

    if text[:1] not in ("{", "[") and not MENTIONS.search(text.encode("utf-8")):
        return None
    return (
        f"it is {enc} text, not UTF-8: AWS writes CloudTrail as UTF-8 JSON; convert the file "
        f"(iconv -f {enc} -t UTF-8) and ingest it again"
    )


def closest(head: bytes) -> tuple[str | None, str]:
    """(closest format or None, why it is not that format) for bytes no reader accepts.

    Examples
    --------
    >>> closest(b"eventName: ConsoleLogin")
    ('cloudtrail', 'it is not JSON (records written as YAML, Markdown or key: value text must be converted to JSON)')
    """
    best: tuple[int, str | None, str] = (0, None, "")
    for name, reader in sorted(REGISTRY.items()):
        if reader.explain is None:
            continue
        try:
            score, why = reader.explain(head)
        except Exception:  # noqa: BLE001 - same rule as sniff: an explainer error is no match
            continue
        if score > best[0]:
            best = (score, name, why)
    if best[1] is None:
        return None, describe(head)
    return best[1], best[2]


def describe(head: bytes) -> str:
    """A short neutral description of content, for error messages (never the whole text)."""
    if not head.strip():
        return "empty content"
    if b"\x00" in head[:4096]:
        return "binary data, not text"
    line = head.lstrip().split(b"\n", 1)[0][:60].decode("utf-8", errors="replace")
    return f"text starting with {line!r}"


def get(name: str) -> Reader:
    """Reader by name (``--format``)."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise EvidenceError(f"unknown format {name!r}; known: {', '.join(sorted(REGISTRY))}") from None


_load()
