"""API-call questions: which calls, by whom, which failed, which are new or rare.

Functions take a Case (DuckDB over the Parquet case) or a DataFrame of events, and the
common filters (``start``/``end`` UTC, start inclusive and end exclusive, ``actor``,
``access_key_id``, ``source_ip``).

Examples
--------
>>> histogram(case, by="service", top=10)  # doctest: +SKIP
>>> denied_bursts(case, min_events=10, gap="5min")  # doctest: +SKIP
>>> first_seen_apis(case, since="2024-05-08")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from ..case import TimeLike
from ..errors import QueryError
from ._base import KIND, Events, and_where, interval, source, top_n_other, utc, utc_columns

#: What ``by`` may name, and the column (or expression) it groups on.
GROUPS: dict[str, str] = {
    "event_name": "event_name",
    "service": "event_source",
    "event_source": "event_source",
    "actor": "actor",
    "region": "aws_region",
    "aws_region": "aws_region",
    "error_code": "error_code",
    "user_agent": "user_agent",
    "user_agent_family": "user_agent_family",
    "source_ip": "source_ip_address",
    "source_ip_address": "source_ip_address",
    "user_type": "user_type",
    "access_key_id": "access_key_id",
    "account": "recipient_account_id",
    "recipient_account_id": "recipient_account_id",
}

#: Error codes that mean "not allowed" (matched case-insensitively as SQL LIKE patterns):
#: AccessDenied, AccessDeniedException, Client.UnauthorizedOperation, UnauthorizedAccess,
#: AuthorizationError, NotAuthorized..., Forbidden.
DENIED_PATTERNS: tuple[str, ...] = (
    "%accessdenied%",
    "%unauthorized%",
    "%notauthorized%",
    "%authorizationerror%",
    "%forbidden%",
)


def _group_expr(by: str) -> str:
    try:
        return GROUPS[by]
    except KeyError:
        raise QueryError(f"cannot group by {by!r}; choose one of: {', '.join(sorted(GROUPS))}") from None


def histogram(
    events: Events,
    by: str = "event_name",
    *,
    top: int = 20,
    start: TimeLike = None,
    end: TimeLike = None,
    actor: str | Sequence[str] | None = None,
    access_key_id: str | Sequence[str] | None = None,
    source_ip: str | Sequence[str] | None = None,
    other: str = "other",
) -> pd.DataFrame:
    """Calls counted by ``by`` (event_name, service, actor, region, error_code, user_agent,
    source_ip, user_type, access_key_id, account), split read / write / error; the ``top``
    keys and one ``other`` row for the rest (``top=0`` keeps all).

    With ``by="error_code"`` only failed calls are counted. A missing key is ``"(none)"``.

    Returns
    -------
    DataFrame: key, events, read, write, error, error_rate, most events first.

    Examples
    --------
    >>> histogram(case, by="error_code", top=5)  # doctest: +SKIP
    """
    col = _group_expr(by)
    src = source(events)
    where, params = src.where(
        start,
        end,
        actor=actor,
        access_key_id=access_key_id,
        source_ip=source_ip,
        errors_only=by == "error_code",
    )
    df = src.sql(
        f"""
        SELECT coalesce(CAST({col} AS VARCHAR), '(none)') AS key, count(*) AS events,
               count(*) FILTER (WHERE {KIND} = 'read') AS read,
               count(*) FILTER (WHERE {KIND} = 'write') AS write,
               count(*) FILTER (WHERE {KIND} = 'error') AS error
        FROM events{where} GROUP BY 1
        """,
        params,
    )
    df = top_n_other(df, "key", "events", top, other)
    for c in ("events", "read", "write", "error"):
        df[c] = df[c].astype("int64")
    df["error_rate"] = (df["error"] / df["events"].where(df["events"] > 0)).fillna(0.0)
    return df


def denied_bursts(
    events: Events,
    start: TimeLike = None,
    end: TimeLike = None,
    *,
    by: str = "actor",
    gap: str = "5min",
    min_events: int = 10,
    min_apis: int = 1,
    patterns: Sequence[str] = DENIED_PATTERNS,
    actor: str | Sequence[str] | None = None,
    access_key_id: str | Sequence[str] | None = None,
) -> pd.DataFrame:
    """Bursts of AccessDenied / UnauthorizedOperation errors (reconnaissance, brute force).

    Denied calls of one ``by`` key (actor, access_key_id, source_ip, ...) belong to one burst
    while each follows the previous within ``gap``; a burst is reported when it has at least
    ``min_events`` calls and ``min_apis`` distinct APIs (``min_apis=3`` singles out recon that
    walks many APIs from one call hammered in a loop).

    Returns
    -------
    DataFrame: key, start, end, seconds, events, apis, event_names, error_codes, source_ips,
    event_ids (list), largest burst first.

    Examples
    --------
    >>> denied_bursts(case, gap="10min", min_events=5, min_apis=3)  # doctest: +SKIP
    """
    col = _group_expr(by)
    src = source(events)
    like = " OR ".join("lower(error_code) LIKE ?" for _ in patterns) or "FALSE"
    where, params = src.where(start, end, actor=actor, access_key_id=access_key_id)
    where = and_where(where, f"error_code IS NOT NULL AND ({like})")
    params = [*params, *[p.lower() for p in patterns]]
    step = interval(gap)
    df = src.sql(
        f"""
        WITH d AS (
            SELECT coalesce(CAST({col} AS VARCHAR), '(none)') AS key, event_time, event_id,
                   event_name, error_code, source_ip_address
            FROM events{where}
        ),
        s AS (
            SELECT *, CASE WHEN lag(event_time) OVER w IS NULL
                             OR event_time - lag(event_time) OVER w > {step} THEN 1 ELSE 0 END AS new
            FROM d WINDOW w AS (PARTITION BY key ORDER BY event_time, event_id)
        ),
        b AS (
            SELECT *, sum(new) OVER (PARTITION BY key ORDER BY event_time, event_id
                                     ROWS UNBOUNDED PRECEDING) AS burst
            FROM s
        )
        SELECT key, min(event_time) AS start, max(event_time) AS "end", count(*) AS events,
               count(DISTINCT event_name) AS apis,
               string_agg(DISTINCT event_name, ', ' ORDER BY event_name) AS event_names,
               string_agg(DISTINCT error_code, ', ' ORDER BY error_code) AS error_codes,
               string_agg(DISTINCT source_ip_address, ', ' ORDER BY source_ip_address) AS source_ips,
               list(event_id ORDER BY event_time, event_id) AS event_ids
        FROM b GROUP BY key, burst
        HAVING count(*) >= ? AND count(DISTINCT event_name) >= ?
        ORDER BY events DESC, start
        """,
        [*params, int(min_events), int(min_apis)],
    )
    df = utc_columns(df, "start", "end")
    df.insert(3, "seconds", (df["end"] - df["start"]).dt.total_seconds())
    df["event_ids"] = df["event_ids"].map(list)
    return df


def first_seen_apis(
    events: Events,
    *,
    since: TimeLike,
    baseline_start: TimeLike = None,
    end: TimeLike = None,
    actor: str | Sequence[str] | None = None,
    by: str = "actor",
) -> pd.DataFrame:
    """APIs a principal called from ``since`` on that it never called in the baseline.

    The baseline is ``[baseline_start, since)`` (from the start of the case by default); the
    investigation window is ``[since, end)``. Principals with no baseline activity at all are
    flagged ``new_principal`` (every API of theirs is new).

    Returns
    -------
    DataFrame: key, event_source, event_name, first_time, last_time, events, errors,
    new_principal; in order of first use.

    Examples
    --------
    >>> first_seen_apis(case, since="2024-05-08", baseline_start="2024-05-01")  # doctest: +SKIP
    """
    col = _group_expr(by)
    split = utc(since)
    if split is None:
        raise QueryError("first_seen_apis needs since= (the start of the investigation window)")
    src = source(events)
    w_all, p_all = src.where(baseline_start, end, actor=actor)
    df = src.sql(
        f"""
        WITH k AS (
            SELECT coalesce(CAST({col} AS VARCHAR), '(none)') AS key, event_source, event_name,
                   event_time >= ? AS after, coalesce(is_error, FALSE) AS err, event_time
            FROM events{w_all}
        ),
        base AS (SELECT DISTINCT key, event_source, event_name FROM k WHERE NOT after),
        base_keys AS (SELECT DISTINCT key FROM base),
        inv AS (
            SELECT key, event_source, event_name, min(event_time) AS first_time,
                   max(event_time) AS last_time, count(*) AS events,
                   count(*) FILTER (WHERE err) AS errors
            FROM k WHERE after GROUP BY ALL
        )
        SELECT inv.*, base_keys.key IS NULL AS new_principal
        FROM inv
        LEFT JOIN base USING (key, event_source, event_name)
        LEFT JOIN base_keys ON base_keys.key = inv.key
        WHERE base.key IS NULL
        ORDER BY first_time, key, event_name
        """,
        [split.to_pydatetime(), *p_all],
    )
    return utc_columns(df, "first_time", "last_time")


def rare_apis(
    events: Events,
    start: TimeLike = None,
    end: TimeLike = None,
    *,
    max_events: int = 3,
    max_actors: int = 1,
) -> pd.DataFrame:
    """Account-wide rare APIs: (service, API) pairs called at most ``max_events`` times, by at
    most ``max_actors`` principals, in the window.

    Returns
    -------
    DataFrame: event_source, event_name, events, errors, actors (count), actor_list,
    accounts, first_time, last_time; rarest first.
    """
    src = source(events)
    where, params = src.where(start, end)
    df = src.sql(
        f"""
        SELECT event_source, event_name, count(*) AS events,
               count(*) FILTER (WHERE coalesce(is_error, FALSE)) AS errors,
               count(DISTINCT actor) AS actors,
               string_agg(DISTINCT coalesce(actor, '(unknown)'), ', ' ORDER BY coalesce(actor, '(unknown)')) AS actor_list,
               string_agg(DISTINCT recipient_account_id, ', ' ORDER BY recipient_account_id) AS accounts,
               min(event_time) AS first_time, max(event_time) AS last_time
        FROM events{where}
        GROUP BY event_source, event_name
        HAVING count(*) <= ? AND count(DISTINCT actor) <= ?
        ORDER BY events, first_time, event_name
        """,
        [*params, int(max_events), int(max_actors)],
    )
    return utc_columns(df, "first_time", "last_time")
