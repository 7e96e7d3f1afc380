"""CloudTrail digest files (CloudTrail-Digest/): recognized and listed, never ingested as events."""

from __future__ import annotations

from collections.abc import Iterator

from ..normalize import Item, Reject
from . import Reader, register


def sniff(head: bytes) -> int:
    if b'"digestS3Object"' in head and b'"digestEndTime"' in head:
        return 95
    return 0


def read(data: bytes, source: str) -> Iterator[Item | Reject]:
    return iter(())


register(
    Reader(
        "digest", "CloudTrail digest file (integrity chain; listed, not events)", sniff, read, events=False
    )
)
