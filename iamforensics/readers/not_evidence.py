"""Rule ``not-evidence``: text and binary files that cannot hold CloudTrail records are skipped.

Evidence folders come with licences, READMEs, tool metadata (YAML), notes and OS
droppings. Quarantining them would bury real problems in noise, so a file is skipped,
and listed in the manifest with format ``not-evidence`` and zero records, when **all**
of these hold:

* it does not start like JSON (``{`` or ``[``): JSON always goes to a JSON reader, which
  says record by record why something is not CloudTrail;
* no CSV reader recognizes its header (CSV readers sniff higher than this rule);
* nowhere in the *whole* file does any CloudTrail or export field name appear: event
  name/time/id/source/version (with or without spaces, as JSON keys, YAML keys, CSV
  labels or prose), ``userIdentity``, ``CloudTrailEvent``, ``Records``,
  ``QueryResultRows``, ``logEvents``, ``detail-type``, ``_raw``, ``@timestamp``.

The sniff looks at the first 64 KiB; ``read`` re-checks the whole file and, if a field
name appears further down, quarantines the file with that position instead of skipping
it. A README that merely mentions "event source" in prose is therefore quarantined, not
skipped: the rule errs on the side of showing a file to the investigator.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from ..normalize import Item, Reject
from . import Reader, describe, register
from ._common import first_char

MENTIONS = re.compile(
    rb"(?i)event[ _]?(?:name|time|id|source|version|datetime)|useridentity|cloudtrailevent|"
    rb'"records"|queryresultrows|logevents|detail-type|"_raw"|@timestamp'
)


def sniff(head: bytes) -> int:
    if first_char(head) in (ord("{"), ord("[")) or not head.strip():
        return 0
    return 0 if MENTIONS.search(head) else 5


def read(data: bytes, source: str) -> Iterator[Item | Reject]:
    m = MENTIONS.search(data)
    if m is not None:
        yield Reject(
            0,
            f"not in a known format ({describe(data[:4096])}) and names CloudTrail field "
            f"{m.group(0).decode(errors='replace')!r} at byte {m.start()}: not skipped as non-evidence",
            data,
        )


register(
    Reader(
        "not-evidence",
        "rule: text/binary files that name no CloudTrail field anywhere (LICENSE, metadata YAML) are skipped",
        sniff,
        read,
    )
)
