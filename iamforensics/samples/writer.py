"""Write events the way CloudTrail delivers them to S3, streaming.

``AWSLogs/[o-org/]<account>/CloudTrail/<region>/YYYY/MM/DD/<account>_CloudTrail_<region>_<YYYYMMDDTHHmmZ>_<16 chars>.json.gz``

A file is stamped on a 10-minute boundary at least 5 minutes after the events it holds
(``stamp - eventTime`` is 5 to 15 minutes), so files cross midnight and the path date is the
delivery date. Records inside a file are shuffled. Each trail decides which events it
records (account, management/data category, logging stopped or selectors changed); a record
delivered by two trails is the same bytes in both (a real duplicate, same eventID).

Events are fed in chunks whose times never go back before the chunk start; after each chunk
every file whose stamp can no longer receive an event is written and forgotten, so memory is
bounded by about 15 minutes of serialized records, whatever the volume.
"""

from __future__ import annotations

import gzip
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from .world import rng

SLOT = 600  # delivery cadence (s)
MIN_DELAY = 300  # a file is delivered at least this long after its newest event
MAX_PER_FILE = 2000  # CloudTrail splits busy periods into several files


@dataclass
class Trail:
    """One trail: where it delivers, what it records, and when it did not."""

    name: str
    accounts: tuple[str, ...]
    org_id: str | None = None
    management: bool = True
    data: bool = False
    #: (start, end, what) windows, times exclusive: what is "all" (logging stopped) or
    #: "management" (selectors excluded management events); ``end`` may be None (never resumed).
    gaps: list[tuple[int, int | None, str]] = field(default_factory=list)

    def records(self, account: str, t: int, category: str) -> bool:
        if account not in self.accounts:
            return False
        if category == "Data" and not self.data:
            return False
        if category != "Data" and not self.management:
            return False
        for start, end, what in self.gaps:
            if t > start and (end is None or t < end):
                if what == "all" or (what == "management" and category != "Data"):
                    return False
        return True


@dataclass
class Stats:
    records: int = 0  # records written, all trails
    events: int = 0  # distinct events given
    duplicates: int = 0  # records that repeat an event already written by another trail
    unlogged: int = 0  # events no trail recorded (logging stopped, selectors)
    files: int = 0
    bytes: int = 0
    per_trail: dict[str, int] = field(default_factory=dict)


class DeliveryWriter:
    """Route records to trails, bucket them into delivery files, write finished files."""

    def __init__(self, out_dir: str | os.PathLike[str], trails: list[Trail], seed: int) -> None:
        self.out = Path(out_dir)
        self.trails = trails
        self.seed = seed
        self.stats = Stats(per_trail={t.name: 0 for t in trails})
        # (trail index, account, region, stamp) -> serialized records
        self._open: dict[tuple[int, str, str, int], list[bytes]] = {}

    def add(self, events: Iterable[tuple[int, dict[str, Any]]]) -> None:
        """Route one chunk of ``(epoch seconds, record)`` pairs (any order) to the open files."""
        for t, rec in events:
            account = rec["recipientAccountId"]
            category = rec.get("eventCategory", "Management")
            stamp = -(-(t + MIN_DELAY) // SLOT) * SLOT
            data = orjson.dumps(rec)
            self.stats.events += 1
            copies = 0
            for i, trail in enumerate(self.trails):
                if trail.records(account, t, category):
                    self._open.setdefault((i, account, rec["awsRegion"], stamp), []).append(data)
                    self.stats.per_trail[trail.name] += 1
                    copies += 1
            self.stats.records += copies
            self.stats.duplicates += max(0, copies - 1)
            if copies == 0:
                self.stats.unlogged += 1

    def flush(self, before: int | None = None) -> None:
        """Write every open file stamped before ``before`` (all of them when None)."""
        done = sorted(k for k in self._open if before is None or k[3] < before)
        for k in done:
            self._write(k, self._open.pop(k))

    def _write(self, k: tuple[int, str, str, int], records: list[bytes]) -> None:
        i, account, region, stamp = k
        trail = self.trails[i]
        r = rng(self.seed, "file", trail.name, account, region, stamp)
        r.shuffle(records)
        day = time.strftime("%Y/%m/%d", time.gmtime(stamp))
        base = Path("AWSLogs", *([trail.org_id] if trail.org_id else []), account, "CloudTrail", region, day)
        folder = self.out / base
        folder.mkdir(parents=True, exist_ok=True)
        stamp_s = time.strftime("%Y%m%dT%H%MZ", time.gmtime(stamp))
        for n in range(0, len(records), MAX_PER_FILE):
            part = records[n : n + MAX_PER_FILE]
            unique = "".join(
                r.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") for _ in range(16)
            )
            body = b'{"Records":[' + b",".join(part) + b"]}"
            # mtime=0 and no file name in the header: the same records give the same bytes
            blob = gzip.compress(body, compresslevel=6, mtime=0)
            (folder / f"{account}_CloudTrail_{region}_{stamp_s}_{unique}.json.gz").write_bytes(blob)
            self.stats.files += 1
            self.stats.bytes += len(blob)
