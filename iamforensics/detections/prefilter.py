"""What a rule needs of an event's name and source, so a hunt reads only the events it can match.

Most rules name the API calls they are about (``eventName``, ``eventSource``). A *need* is a
necessary condition on those two columns: for each column, an SQL test over that column alone
that every event matching the rule passes (``all`` keeps every child's needs, ``any`` keeps
the columns all its children test, ``not`` and tests of other fields add nothing). The tests
are the rule's own SQL, so their semantics (case-insensitive Sigma strings, wildcards,
regexes, ``null``) are kept exactly: :func:`resolve` runs them over the few distinct values
the case holds, and a need becomes ``"event_name" IN (?, ...)``, a filter DuckDB pushes into
the Parquet scan. A rule whose need no value meets cannot match anything in the case.

Examples
--------
>>> need_all([{"event_name": ("x = ?", [1])}, None, {"event_name": ("x > ?", [0])}])
{'event_name': ('(coalesce(x = ?, FALSE) AND coalesce(x > ?, FALSE))', [1, 0])}
>>> need_any([{"event_name": ("a", [])}, {"event_source": ("b", [])}]) is None
True
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import duckdb

from ..errors import QueryError
from ..schema import COLUMN_NAMES

#: The columns needs are expressed on: few distinct values, named by most rules.
NEED_COLUMNS: tuple[str, ...] = ("event_name", "event_source")
#: A rule whose need admits more than this share of the events reads the case itself instead
#: of the candidate table (root activity is "any call but ConsoleLogin": most of a case).
BROAD = 0.2
#: A need: column -> (SQL test over that column alone, its parameters).
Need = dict[str, tuple[str, list[Any]]]
#: What :func:`resolve` gives a rule: an SQL filter and its parameters, None (no need: every
#: event is a candidate) or False (nothing in the case can match).
Filter = tuple[str, list[Any]] | None | bool


def need_all(parts: Sequence[Need | None]) -> Need | None:
    """The need of an AND: every child's needs (tests of one column are ANDed)."""
    per_col: dict[str, list[tuple[str, list[Any]]]] = {}
    for part in parts:
        for col, test in (part or {}).items():
            per_col.setdefault(col, []).append(test)
    out: Need = {}
    for col, tests in per_col.items():
        if len(tests) == 1:
            out[col] = (tests[0][0], list(tests[0][1]))
        else:
            out[col] = (
                "(" + " AND ".join(_bool(s) for s, _ in tests) + ")",
                [x for _, ps in tests for x in ps],
            )
    return out or None


def need_any(parts: Sequence[Need | None]) -> Need | None:
    """The need of an OR: only columns every child tests (their tests ORed)."""
    if not parts or any(p is None for p in parts):
        return None
    common = [c for c in NEED_COLUMNS if all(c in p for p in parts if p is not None)]
    out: Need = {}
    for col in common:
        tests = [p[col] for p in parts if p is not None]
        out[col] = ("(" + " OR ".join(_bool(s) for s, _ in tests) + ")", [x for _, ps in tests for x in ps])
    return out or None


def _bool(sql: str) -> str:
    return f"coalesce({sql}, FALSE)"


def column_of(sql: str) -> str | None:
    """The need column a field's SQL is (``"event_name"`` -> event_name), else None."""
    m = re.fullmatch(r'"([a-z_]+)"', sql)
    return m.group(1) if m and m.group(1) in NEED_COLUMNS else None


def resolve(
    con: duckdb.DuckDBPyConnection, needs: Sequence[Need | None], *, max_share: float = 1.0
) -> list[Filter]:
    """Each need as a filter on the values the case holds (one small query per column).

    A filter that admits more than ``max_share`` of the events is given as None: copying most
    of the case into a candidate table costs more than the rule reading the case itself.
    """
    out: list[Filter] = [None] * len(needs)
    per_col: dict[str, list[int]] = {}
    for i, need in enumerate(needs):
        for col in need or {}:
            per_col.setdefault(col, []).append(i)
    allowed: dict[tuple[int, str], tuple[list[Any], bool]] = {}
    share: dict[int, float] = {}
    for col, idxs in per_col.items():
        if col not in COLUMN_NAMES:
            raise QueryError(f"not a column: {col!r}")
        tests = [needs[i][col] for i in idxs]  # type: ignore[index]
        flags = ", ".join(_bool(sql) for sql, _ in tests)
        test_params = [p for _, ps in tests for p in ps]
        # The tests read the column by its quoted name, as the rule queries do.
        query = f'SELECT "{col}", count(*), [{flags}] FROM events GROUP BY "{col}"'
        try:
            rows = con.execute(query, test_params).fetchall()
        except duckdb.Error as exc:
            raise QueryError(f"prefilter query failed: {exc}") from None
        total = sum(n for _, n, _ in rows) or 1
        for k, i in enumerate(idxs):
            values = sorted(v for v, _, hits in rows if hits[k] and v is not None)
            null_ok = any(hits[k] for v, _, hits in rows if v is None)
            allowed[(i, col)] = (values, null_ok)
            admitted = sum(n for _, n, hits in rows if hits[k]) / total
            share[i] = min(share.get(i, 1.0), admitted)
    for i, need in enumerate(needs):
        if not need:
            continue
        clauses: list[str] = []
        params: list[Any] = []
        for col in need:
            values, null_ok = allowed[(i, col)]
            alts = [f'"{col}" IN ({", ".join("?" * len(values))})'] if values else []
            alts += [f'"{col}" IS NULL'] if null_ok else []
            if not alts:
                clauses = []
                break
            clauses.append("(" + " OR ".join(alts) + ")")
            params.extend(values)
        if not clauses:
            out[i] = False
        elif share.get(i, 1.0) <= max_share:
            out[i] = (" AND ".join(clauses), params)
    return out


def union(filters: Sequence[Filter]) -> tuple[str, list[Any]] | None:
    """One WHERE clause selecting every candidate of the rules with a filter (None: no such rule)."""
    parts = [f for f in filters if isinstance(f, tuple)]
    if not parts:
        return None
    return " OR ".join(f"({s})" for s, _ in parts), [p for _, ps in parts for p in ps]


def columns_in(sqls: Sequence[str], always: Sequence[str] = ()) -> list[str]:
    """Case columns named in some SQL text (a superset of those it reads), in schema order."""
    text = "\n".join(sqls)
    found = {c for c in COLUMN_NAMES if re.search(rf'(?<![A-Za-z0-9_"]){c}(?![A-Za-z0-9_])|"{c}"', text)}
    return [c for c in COLUMN_NAMES if c in found or c in always]
