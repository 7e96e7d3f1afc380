"""Shared plumbing of the analyses: one SQL implementation for a Case and for a DataFrame.

Every analysis takes either a :class:`~iamforensics.case.Case` (the query runs in DuckDB over
the Parquet case, so a 10-million-event case never loads into pandas) or a pandas DataFrame
of events (the same SQL runs in DuckDB over the frame). :func:`source` wraps either into an
:class:`EventSource` with ``where(...)`` (the common filters, from ``Case.where``) and
``sql(query, params)`` over a view called ``events``.

Examples
--------
>>> import pandas as pd
>>> src = source(pd.DataFrame({"event_name": ["ListUsers", "CreateUser"]}))
>>> int(src.sql("SELECT count(*) AS n FROM events WHERE event_name = ?", ["ListUsers"])["n"].iloc[0])
1
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, cast

import duckdb
import pandas as pd
import pyarrow as pa

from ..case import Case, TimeLike, to_utc
from ..errors import QueryError
from ..schema import COLUMN_NAMES, EVENTS_SCHEMA, PARTITION_COLUMN

Events = Case | pd.DataFrame

#: Event names whose prefix says "read" when ``readOnly`` is missing (older records, some exports).
READ_PREFIXES: tuple[str, ...] = (
    "Get",
    "List",
    "Describe",
    "Head",
    "Lookup",
    "Search",
    "Scan",
    "Query",
    "BatchGet",
    "Select",
    "Download",
    "View",
    # CloudTrail itself marks STS credential issuance read-only (readOnly: true).
    "AssumeRole",
)
_READ_REGEX = "^(" + "|".join(READ_PREFIXES) + ")"

#: SQL: the event only reads (``readOnly``, else inferred from the event name).
IS_READ = f"coalesce(read_only, regexp_matches(coalesce(event_name, ''), '{_READ_REGEX}'))"
#: SQL: ``error`` / ``read`` / ``write`` (a failed call is an error whatever it tried to do).
KIND = f"CASE WHEN coalesce(is_error, FALSE) THEN 'error' WHEN {IS_READ} THEN 'read' ELSE 'write' END"

_FREQ = re.compile(r"^\s*(\d+)\s*(s|sec|second|seconds|min|minute|minutes|m|h|hour|hours|d|day|days)\s*$")
_UNIT = {"s": "second", "sec": "second", "min": "minute", "m": "minute", "h": "hour", "d": "day"}


def interval(freq: str) -> str:
    """A DuckDB interval literal from a frequency like ``"5min"``, ``"1h"`` or ``"1d"``.

    Only digits and a fixed unit reach the SQL text, so the result is safe to format in.

    Examples
    --------
    >>> interval("15min"), interval("1h")
    ('INTERVAL 15 minute', 'INTERVAL 1 hour')
    """
    m = _FREQ.match(str(freq).lower())
    if not m:
        raise QueryError(f"unsupported frequency {freq!r}: use e.g. '30s', '5min', '1h', '1d'")
    n, unit = int(m.group(1)), m.group(2)
    if n <= 0:
        raise QueryError(f"frequency must be positive: {freq!r}")
    base = _UNIT.get(unit) or unit.rstrip("s")
    return f"INTERVAL {n} {base}"


def seconds(freq: str) -> float:
    """Length of a frequency string in seconds (``"5min"`` -> 300.0)."""
    n_unit = interval(freq).split()
    mult = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}[n_unit[2]]
    return float(int(n_unit[1]) * mult)


def _frame_table(df: pd.DataFrame) -> pa.Table:
    """The frame as an Arrow table with every schema column (missing ones typed nulls)."""
    n = len(df)
    arrays: list[pa.Array] = []
    names: list[str] = []
    frame = df.reset_index(drop=True)
    if "ip_class" not in frame.columns and "source_ip_address" in frame.columns:
        # A hand-built frame without the derived IP columns: derive them the way ingest does.
        from ..normalize import classify_ip

        pairs = [classify_ip(v if isinstance(v, str) else None) for v in frame["source_ip_address"]]
        frame = frame.assign(
            source_ip=pd.Series([p[0] for p in pairs], index=frame.index, dtype=object),
            ip_class=pd.Series([p[1] for p in pairs], index=frame.index, dtype=object),
        )
    for field in EVENTS_SCHEMA:
        names.append(field.name)
        if field.name not in frame.columns:
            arrays.append(pa.nulls(n, field.type))
            continue
        col = frame[field.name]
        if pa.types.is_timestamp(field.type):
            col = pd.to_datetime(col, utc=True, errors="coerce")
        try:
            arrays.append(pa.array(col, type=field.type, from_pandas=True))
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            arrays.append(pa.array(col, from_pandas=True).cast(field.type, safe=False))
    table = pa.Table.from_arrays(arrays, names=names)
    dates = pa.compute.cast(table["event_time"], pa.date32()) if n else pa.array([], pa.date32())
    table = table.append_column(PARTITION_COLUMN, dates)
    extra = [c for c in frame.columns if c not in COLUMN_NAMES and c != PARTITION_COLUMN]
    for c in extra:  # keep the caller's own columns (e.g. an enrichment) queryable
        try:
            table = table.append_column(str(c), pa.array(frame[c], from_pandas=True))
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            continue
    return table


class EventSource:
    """A Case or a DataFrame of events behind one ``sql()`` over a view named ``events``."""

    def __init__(self, events: Events):
        self.case: Case | None = events if isinstance(events, Case) else None
        self._frame: pd.DataFrame | None = events if isinstance(events, pd.DataFrame) else None
        if self.case is None and self._frame is None:
            raise QueryError(f"expected a Case or a pandas DataFrame of events, got {type(events).__name__}")
        self._con: duckdb.DuckDBPyConnection | None = None

    def connection(self) -> duckdb.DuckDBPyConnection:
        if self.case is not None:
            return self.case.connection()
        if self._con is None:
            con = duckdb.connect()
            con.execute("SET TimeZone='UTC'")
            assert self._frame is not None
            con.register("_frame_events", _frame_table(self._frame))
            con.execute("CREATE VIEW events AS SELECT * FROM _frame_events")
            self._con = con
        return self._con

    def sql(self, query: str, params: Sequence[Any] | None = None) -> pd.DataFrame:
        """Run ``query`` (values as ``?`` parameters) and return a DataFrame."""
        try:
            return self.connection().execute(query, list(params or [])).df()
        except duckdb.Error as exc:
            raise QueryError(f"query failed: {exc}") from None

    def register(self, name: str, frame: pd.DataFrame) -> None:
        """Make a small frame (e.g. IP enrichment) joinable as ``name`` in later queries."""
        self.connection().register(name, frame)

    def unregister(self, name: str) -> None:
        try:
            self.connection().unregister(name)
        except duckdb.Error:
            pass

    def where(
        self,
        start: TimeLike = None,
        end: TimeLike = None,
        *,
        actor: str | Sequence[str] | None = None,
        access_key_id: str | Sequence[str] | None = None,
        event_names: str | Sequence[str] | None = None,
        source_ip: str | Sequence[str] | None = None,
        read_only: bool | None = None,
        errors_only: bool = False,
        extra: Sequence[tuple[str, Any]] = (),
    ) -> tuple[str, list[Any]]:
        """WHERE clause and parameters for the common filters (start inclusive, end exclusive).

        ``read_only`` uses :data:`IS_READ`, so records without ``readOnly`` are classified by
        their event name rather than counted as writes.
        """
        more = list(extra)
        if read_only is not None:
            more.append((f"{IS_READ} = ?", bool(read_only)))
        # Case.where does not touch the instance: one filter implementation for both inputs.
        case = self.case if self.case is not None else cast(Case, None)
        return Case.where(
            case,
            start,
            end,
            actor=actor,
            access_key_id=access_key_id,
            event_names=event_names,
            source_ip=source_ip,
            errors_only=errors_only,
            extra=more,
        )


def source(events: Events | EventSource) -> EventSource:
    """Wrap a Case or a DataFrame (an EventSource passes through)."""
    return events if isinstance(events, EventSource) else EventSource(events)


def and_where(where: str, clause: str) -> str:
    """Append ``clause`` to a WHERE string from :meth:`EventSource.where`."""
    return f"{where} AND {clause}" if where else f" WHERE {clause}"


def utc(value: TimeLike) -> pd.Timestamp | None:
    """A time bound as a UTC timestamp (naive values are UTC)."""
    return to_utc(value)


def utc_columns(df: pd.DataFrame, *cols: str) -> pd.DataFrame:
    """Make time columns tz-aware UTC datetimes (DuckDB may hand back naive or object columns)."""
    for c in cols:
        if c in df.columns:
            df[c] = pd.to_datetime(df[c], utc=True)
    return df


def top_n_other(df: pd.DataFrame, key: str, value: str, top: int, other: str = "other") -> pd.DataFrame:
    """Keep the ``top`` rows by ``value`` and sum the rest (every numeric column) into ``other``."""
    df = df.sort_values([value, key], ascending=[False, True], kind="stable").reset_index(drop=True)
    if top <= 0 or len(df) <= top:
        return df
    head, tail = df.iloc[:top].copy(), df.iloc[top:]
    row: dict[str, Any] = {key: other}
    for c in df.columns:
        if c != key and pd.api.types.is_numeric_dtype(df[c]):
            row[c] = tail[c].sum()
    return pd.concat([head, pd.DataFrame([row])], ignore_index=True)
