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

    Raises :class:`EvidenceError` when no reader recognizes them.
    """
    best: tuple[int, str] = (0, "")
    for name, reader in sorted(REGISTRY.items()):
        score = reader.sniff(head)
        if score > best[0]:
            best = (score, name)
    if not best[1]:
        raise EvidenceError("no known evidence format matches this content")
    return REGISTRY[best[1]]


def get(name: str) -> Reader:
    """Reader by name (``--format``)."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise EvidenceError(f"unknown format {name!r}; known: {', '.join(sorted(REGISTRY))}") from None


_load()
