"""Timestamp parsing for every variant CloudTrail evidence carries.

``eventTime`` is normally ``YYYY-MM-DDTHH:MM:SSZ`` but evidence also holds milliseconds,
nanoseconds, a space separator, UTC offsets (lookup-events in the analyst's local zone),
epoch seconds, ISO *basic* (``20131102T010628Z``), typo spaces (``23: 46: 28Z``) and the
Java-locale strings of STS ``expiration`` (``Oct 2, 2019, 11:12:29 PM``). All become UTC.

The column path is vectorized: Arrow parses the common form for the whole column and the
Python parser only sees the values that did not fit.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from functools import lru_cache

import pyarrow as pa
import pyarrow.compute as pc

from .schema import TS

_ISO = re.compile(
    r"^(\d{4})-?(\d{2})-?(\d{2})[Tt ](\d{2}):?(\d{2}):?(\d{2})(?:[.,](\d{1,9}))?"
    r"\s*(Z|z|UTC|[+-]\d{2}:?\d{2})?$"
)
_DATE_ONLY = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_JAVA = re.compile(
    r"^([A-Z][a-z]{2}) (\d{1,2}), (\d{4}),? (\d{1,2}):(\d{2}):(\d{2}) ?([AP]M)$", re.IGNORECASE
)
_MONTHS = {m: i for i, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split(), 1)}
_EPOCH = re.compile(r"^-?\d{9,13}(\.\d+)?$")


@lru_cache(maxsize=65536)
def parse_time(value: str | None) -> datetime | None:
    """Parse one timestamp string into an aware UTC datetime, or None when it is not one.

    Examples
    --------
    >>> parse_time("2022-02-08 09:23:37+11:00").isoformat()
    '2022-02-07T22:23:37+00:00'
    >>> parse_time("Oct 2, 2019 11:12:29 PM").isoformat()
    '2019-10-02T23:12:29+00:00'
    >>> parse_time("redacted") is None
    True
    """
    if value is None:
        return None
    s = value.strip()
    if not s:
        return None
    # "2021-02-21T23: 46: 28Z" (AWS docs typo): drop spaces after the colons.
    if ": " in s:
        s = s.replace(": ", ":")
    m = _ISO.match(s)
    if m:
        y, mo, d, h, mi, se, frac, tz = m.groups()
        try:
            micro = int((frac or "0")[:6].ljust(6, "0"))
            dt = datetime(int(y), int(mo), int(d), int(h), int(mi), int(se), micro, tzinfo=UTC)
        except ValueError:
            return None
        if tz and tz not in ("Z", "z", "UTC"):
            sign = 1 if tz[0] == "+" else -1
            digits = tz[1:].replace(":", "")
            offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
            try:
                dt = dt - sign * offset
            except OverflowError:  # the UTC instant falls outside years 1..9999
                return None
        return dt
    if _EPOCH.match(s):
        num = float(s)
        if num > 1e11:  # milliseconds
            num /= 1000.0
        try:
            return datetime.fromtimestamp(num, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    m = _JAVA.match(s)
    if m:
        mon, d, y, h, mi, se, ampm = m.groups()
        month = _MONTHS.get(mon.lower())
        if month is None:
            return None
        hour = int(h) % 12 + (12 if ampm.upper() == "PM" else 0)
        try:
            return datetime(int(y), month, int(d), hour, int(mi), int(se), tzinfo=UTC)
        except ValueError:
            return None
    m = _DATE_ONLY.match(s)
    if m:
        try:
            return datetime(int(m[1]), int(m[2]), int(m[3]), tzinfo=UTC)
        except ValueError:
            return None
    return None


def parse_time_column(values: Sequence[str | None]) -> pa.Array:
    """Parse a column of timestamp strings into ``timestamp[us, tz=UTC]``.

    Values that are present but not a timestamp become null; callers that must not lose
    them compare the result with the input.

    Examples
    --------
    >>> parse_time_column(["2024-01-01T00:00:00Z", None, "bad"]).null_count
    2
    """
    arr = pa.array(values, type=pa.string())
    fast = pc.strptime(arr, format="%Y-%m-%dT%H:%M:%SZ", unit="us", error_is_null=True)
    fast = fast.cast(TS)
    missing = pc.and_(pc.is_null(fast), pc.is_valid(arr))
    if not pc.any(missing).as_py():
        return fast
    out = fast.to_pylist()
    for i in pc.indices_nonzero(missing).to_pylist():
        out[i] = parse_time(values[i])
    return pa.array(out, type=TS)
