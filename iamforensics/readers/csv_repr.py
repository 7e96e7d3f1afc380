"""CSV exports whose object cells are Python ``repr()`` dicts (OTRF honeybucket style).

Some alerting products export CloudTrail as CSV with ``User ID`` and ``Request
Parameters`` written by Python's ``repr()``: ``{'type': 'AWSAccount', 'principalId': '',
'accountId': 'ANONYMOUS_PRINCIPAL'}``, single quotes, not JSON. Those cells are decoded with
``ast.literal_eval`` (literals only; never ``eval``). Columns are matched by header name
like every CSV reader here (``Event Name``, ``Event DateTime``, ``Source IP``, ``Request
User Agent`` ...); product columns without a CloudTrail meaning (``Alert``, ``Alarm
DateTime``, ``Repeated Attempts``) stay in the raw row. Rows are ``partial``: such exports
carry no ``eventSource``, ``awsRegion``, ``eventVersion`` or ``responseElements``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from ..normalize import Item, Reject
from . import Reader, register
from ._tabular import COLUMNS, csv_explain, header_of, norm, read_csv

_REPR_CELL = re.compile(rb"[\"]\{'|,\{'|\[\{'")


def sniff(head: bytes) -> int:
    header = header_of(head)
    if header is None:
        return 0
    have = {COLUMNS.get(norm(h)) for h in header}
    if not ({"eventName", "eventTime"} <= have or {"eventName", "eventID"} <= have):
        return 0
    return 80 if _REPR_CELL.search(head) else 0


def explain(head: bytes) -> tuple[int, str]:
    return csv_explain(head, ("eventName", "eventTime", "userIdentity"), "repr-dict CSV export")


def read(data: bytes, source: str) -> Iterator[Item | Reject]:
    return read_csv(data, literal=True)


register(
    Reader(
        "csv-repr",
        "CSV exports with Python-repr dict cells (e.g. OTRF honeybucket), decoded with ast.literal_eval",
        sniff,
        read,
        explain=explain,
    )
)
