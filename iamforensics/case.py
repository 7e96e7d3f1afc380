"""Query a case: DuckDB over the partitioned Parquet events, results as pandas.

Values are always passed as parameters, never pasted into SQL text: every string in a
CloudTrail record is attacker-controlled.

Examples
--------
>>> case = open_case("out/case")  # doctest: +SKIP
>>> case.events("2024-05-01", "2024-05-02", actor="arn:aws:iam::111111111111:user/alice")  # doctest: +SKIP
>>> case.sql("SELECT event_name, count(*) n FROM events GROUP BY 1 ORDER BY n DESC")  # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from .errors import QueryError
from .schema import COLUMN_NAMES, PARTITION_COLUMN
from .store import EVENTS, load_manifest, require_case

TimeLike = str | dt.datetime | dt.date | pd.Timestamp | None


def to_utc(value: TimeLike, what: str | None = None) -> pd.Timestamp | None:
    """A time bound as a UTC timestamp (naive values are taken as UTC; None or "" is no bound).

    The one parser of user-given bounds (API, --start/--end, --from/--to, --as-of): a value
    that is not a time is a :class:`QueryError` naming it (and ``what``, the option, if given).

    Examples
    --------
    >>> to_utc("2024-05-08T10:00Z")
    Timestamp('2024-05-08 10:00:00+0000', tz='UTC')
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        ts: pd.Timestamp | None = pd.Timestamp(value.strip() if isinstance(value, str) else value)
    except (ValueError, TypeError):
        ts = None
    if ts is None or ts is pd.NaT:
        # A mistyped bound is an expected problem: one clear line, not a pandas traceback.
        shown = repr(str(value)[:60])
        hint = "(use ISO 8601, e.g. 2024-05-06 or 2024-05-06T10:00Z)"
        raise QueryError(f"{what}: {shown} is not a time {hint}" if what else f"not a time: {shown} {hint}")
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


class Case:
    """An ingested case folder.

    Examples
    --------
    >>> case = Case("out/case")  # doctest: +SKIP
    >>> len(case)  # doctest: +SKIP
    """

    def __init__(self, path: str | Path):
        self.path = require_case(path)
        self.name = self.path.name
        self._con: duckdb.DuckDBPyConnection | None = None
        self._empty = True

    def __repr__(self) -> str:
        return f"Case({str(self.path)!r})"

    # -- plumbing ---------------------------------------------------------------------
    @property
    def manifest(self) -> dict[str, Any]:
        return load_manifest(self.path)

    @property
    def has_events(self) -> bool:
        return any((self.path / EVENTS).glob(f"{PARTITION_COLUMN}=*/*.parquet"))

    def connection(self) -> duckdb.DuckDBPyConnection:
        """A DuckDB connection with the view ``events`` (and helpers) defined."""
        if self._con is not None and self._empty and self.has_events:
            self.close()  # events were ingested since the empty view was made
        if self._con is None:
            self._empty = not self.has_events
            con = duckdb.connect()
            con.execute("SET TimeZone='UTC'")
            if self.has_events:
                # The glob is our own path, not evidence; it still goes in as a parameter-free
                # literal, so it is quoted for SQL. No union_by_name: every part has the one
                # schema, and union_by_name would open every file of the case on each query,
                # defeating the partition pruning of time-bounded queries.
                pattern = str(self.path / EVENTS / f"{PARTITION_COLUMN}=*" / "*.parquet").replace("'", "''")
                con.execute(
                    "CREATE VIEW events AS SELECT * FROM read_parquet("
                    f"'{pattern}', hive_partitioning=true, hive_types={{'{PARTITION_COLUMN}': DATE}})"
                )
            else:
                from .schema import EVENTS_SCHEMA

                con.register("_empty_events", EVENTS_SCHEMA.empty_table())
                con.execute(
                    f"CREATE VIEW events AS SELECT *, NULL::DATE AS {PARTITION_COLUMN} FROM _empty_events"
                )
            self._con = con
        return self._con

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None

    def sql(self, query: str, params: Sequence[Any] | dict[str, Any] | None = None) -> pd.DataFrame:
        """Run a DuckDB query over the view ``events``; values go in ``params``.

        Examples
        --------
        >>> case.sql("SELECT count(*) n FROM events WHERE actor = ?", ["root"])  # doctest: +SKIP
        """
        try:
            return self.connection().execute(query, params or []).df()
        except duckdb.Error as exc:
            raise QueryError(f"query failed: {exc}") from None

    def __len__(self) -> int:
        return int(self.sql("SELECT count(*) AS n FROM events")["n"].iloc[0])

    # -- the timeline query --------------------------------------------------------------
    def where(
        self,
        start: TimeLike = None,
        end: TimeLike = None,
        *,
        actor: str | Sequence[str] | None = None,
        access_key_id: str | Sequence[str] | None = None,
        event_names: Sequence[str] | str | None = None,
        source_ip: str | Sequence[str] | None = None,
        read_only: bool | None = None,
        errors_only: bool = False,
        extra: Sequence[tuple[str, Any]] = (),
    ) -> tuple[str, list[Any]]:
        """SQL WHERE clause and parameters for the common filters (start inclusive, end exclusive).

        The time bounds also prune date partitions, so only the days asked for are read.
        """
        clauses: list[str] = []
        params: list[Any] = []
        s, e = to_utc(start), to_utc(end)
        if s is not None:
            clauses += ["event_time >= ?", f"{PARTITION_COLUMN} >= ?"]
            params += [s.to_pydatetime(), s.date()]
        if e is not None:
            # An end at midnight excludes that whole day, so its partition is not read.
            midnight = e == e.normalize()
            clauses += ["event_time < ?", f"{PARTITION_COLUMN} {'<' if midnight else '<='} ?"]
            params += [e.to_pydatetime(), e.date()]

        def _in(col: str, value: str | Sequence[str] | None) -> None:
            if value is None:
                return
            vals = [value] if isinstance(value, str) else list(value)
            clauses.append(f"{col} IN ({', '.join('?' * len(vals))})" if vals else "FALSE")
            params.extend(vals)

        _in("actor", actor)
        _in("access_key_id", access_key_id)
        _in("event_name", event_names)
        _in("source_ip_address", source_ip)
        if read_only is not None:
            clauses.append("read_only = ?" if read_only else "coalesce(read_only, FALSE) = ?")
            params.append(read_only)
        if errors_only:
            clauses.append("is_error")
        for clause, value in extra:
            clauses.append(clause)
            params.append(value)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    def events(
        self,
        start: TimeLike = None,
        end: TimeLike = None,
        *,
        actor: str | Sequence[str] | None = None,
        access_key_id: str | Sequence[str] | None = None,
        event_names: Sequence[str] | str | None = None,
        source_ip: str | Sequence[str] | None = None,
        read_only: bool | None = None,
        errors_only: bool = False,
        columns: Sequence[str] | None = None,
        limit: int | None = None,
    ) -> pd.DataFrame:
        """Events in time order, reading only the partitions and columns needed.

        Parameters
        ----------
        start, end : time window (UTC; start inclusive, end exclusive).
        actor, access_key_id, event_names, source_ip : filters (one value or several).
        read_only : True for reads only, False for writes only.
        errors_only : only failed calls.
        columns : columns to return (default: all).

        Examples
        --------
        >>> case.events(access_key_id="AKIAEXAMPLE", columns=["event_time", "event_name"])  # doctest: +SKIP
        """
        cols = list(columns) if columns else list(COLUMN_NAMES)
        unknown = [c for c in cols if c not in COLUMN_NAMES and c != PARTITION_COLUMN]
        if unknown:
            raise QueryError(f"unknown column(s): {', '.join(unknown)}")
        where, params = self.where(
            start,
            end,
            actor=actor,
            access_key_id=access_key_id,
            event_names=event_names,
            source_ip=source_ip,
            read_only=read_only,
            errors_only=errors_only,
        )
        select = ", ".join(f'"{c}"' for c in cols)
        order = " ORDER BY event_time, event_id" if "event_time" in cols and "event_id" in cols else ""
        if not order and "event_time" in cols:
            order = " ORDER BY event_time"
        lim = f" LIMIT {int(limit)}" if limit is not None else ""
        return self.sql(f"SELECT {select} FROM events{where}{order}{lim}", params)

    def info(self) -> dict[str, Any]:
        """Counts, time range, accounts, regions, identity types, top events, quarantine."""
        from .info import case_info

        return case_info(self)

    def findings(
        self, *, sigma: str | Path | Sequence[str | Path] | None = None, min_severity: str | None = None
    ) -> pd.DataFrame:
        """Findings of the built-in detections (and of Sigma rules under ``sigma``).

        See :func:`iamforensics.detections.findings`; ``iamforensics hunt`` also writes them
        into the case.

        Examples
        --------
        >>> case.findings(min_severity="high")[["time", "rule", "actor", "summary"]]  # doctest: +SKIP
        """
        from .detections import findings

        return findings(self, sigma=sigma, min_severity=min_severity)

    def sessions(self, *, rebuild: bool = False) -> pd.DataFrame:
        """One row per STS session, with its origin (the identity behind it) and chain.

        See :func:`iamforensics.analysis.sessions.sessions`; cached under ``derived/sessions``.

        Examples
        --------
        >>> case.sessions()[["session_id", "kind", "origin", "chain_depth", "events"]]  # doctest: +SKIP
        """
        from .analysis.sessions import sessions

        return sessions(self, rebuild=rebuild)


def open_case(path: str | Path) -> Case:
    """Open an ingested case folder.

    Examples
    --------
    >>> case = open_case("out/case")  # doctest: +SKIP
    """
    return Case(path)
