"""Questions over the sessions: which events a session made, what descends from a key or an
identity, and the chain from one event back to the identity behind it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from ...case import Case, TimeLike
from ...errors import QueryError
from ...schema import COLUMN_NAMES, TIMELINE_COLUMNS
from .._base import EventSource, utc_columns
from .build import records, rows
from .table import attribution_query, get

Events = Case | pd.DataFrame | EventSource

#: Columns attribution adds to every event.
ATTRIBUTION_COLUMNS: tuple[str, ...] = (
    "session_id",
    "attribution",
    "candidates",
    "origin",
    "origin_kind",
    "origin_key",
    "chain_depth",
)
ATTRIBUTIONS: tuple[str, ...] = ("exact-key", "fallback", "ambiguous", "none")

TRACE_COLUMNS: tuple[str, ...] = (
    "depth",
    "node",
    "parent",
    "link",
    "kind",
    "principal",
    "session_name",
    "account_id",
    "chain_accounts",
    "issued_at",
    "expiration",
    "expiration_source",
    "first_use",
    "last_use",
    "events",
    "errors",
    "ips",
    "ip_count",
    "failed_issues",
    "origin",
    "origin_kind",
    "origin_key",
    "chain_depth",
    "flags",
)


def sessions(events: Events, *, rebuild: bool = False) -> pd.DataFrame:
    """One row per STS session, issued in the case or seen only through its use.

    Columns: ``session_id`` (the issued key, ``console:<event id>``, ``sso:<event id>``,
    ``observed:<hash>``...), ``kind`` (assume-role, switch-role, saml, identity-center,
    web-identity, session-token, federation-token, assume-root, console, instance-profile,
    service-delivered, observed), issuance (``issuing_event_id(s)``, ``issued_at``,
    ``expiration`` and its source), identity (``access_key_id``, ``account_id``, ``role_arn``
    with its path, ``principal_arn``, ``session_name``, ``source_identity``, ``mfa_at_issue``),
    issuer (``issuer_actor``, ``issuer_key``, ``parent_session_id``, ``parent_link``),
    ``origin`` (the long-term identity at the root of the chain, or ``unknown: <why>`` /
    ``ambiguous: ...``), ``origin_kind``, ``origin_key``, ``chain_depth``, ``chain_accounts``,
    and use (``first_use``, ``last_use``, ``events``, ``errors``, ``ips``, ``user_agents``...).
    A case's table is cached under ``CASE/derived/sessions`` and rebuilt when the case changes.

    Examples
    --------
    >>> s = sessions(case)  # doctest: +SKIP
    >>> s[s["origin"] == "arn:aws:iam::111122223333:user/alice"][["session_id", "kind", "events"]]  # doctest: +SKIP
    """
    return get(events, rebuild=rebuild)[1].sessions.copy()


def _in(col: str, values: str | Sequence[str] | None, clauses: list[str], params: list[Any]) -> None:
    if values is None:
        return
    vals = [values] if isinstance(values, str) else list(values)
    clauses.append(f"{col} IN ({', '.join('?' * len(vals))})" if vals else "FALSE")
    params.extend(vals)


def attribute(
    events: Events,
    start: TimeLike = None,
    end: TimeLike = None,
    *,
    session_id: str | Sequence[str] | None = None,
    access_key_id: str | Sequence[str] | None = None,
    actor: str | Sequence[str] | None = None,
    origin: str | Sequence[str] | None = None,
    attribution: str | Sequence[str] | None = None,
    columns: Sequence[str] | None = None,
    limit: int | None = None,
) -> pd.DataFrame:
    """Events with the session behind each: ``session_id``, ``attribution`` (exact-key,
    fallback, ambiguous, none), ``candidates`` (the sessions an ambiguous event could belong
    to), ``origin``, ``origin_kind``, ``origin_key`` and ``chain_depth`` (0 for an identity's
    own long-term credentials).

    Examples
    --------
    >>> attribute(case, origin="arn:aws:iam::111122223333:user/dave")  # doctest: +SKIP
    >>> attribute(case, attribution="ambiguous")[["event_name", "candidates"]]  # doctest: +SKIP
    """
    src, _ = get(events)
    cols = list(columns) if columns else [*TIMELINE_COLUMNS, *ATTRIBUTION_COLUMNS]
    unknown = [c for c in cols if c not in COLUMN_NAMES and c not in ATTRIBUTION_COLUMNS]
    if unknown:
        raise QueryError(f"unknown column(s): {', '.join(unknown)}")
    if attribution is not None:
        bad = [
            a
            for a in ([attribution] if isinstance(attribution, str) else attribution)
            if a not in ATTRIBUTIONS
        ]
        if bad:
            raise QueryError(f"attribution must be one of {', '.join(ATTRIBUTIONS)}, not {bad[0]!r}")
    where, params = src.where(start, end, actor=actor, access_key_id=access_key_id)
    clauses: list[str] = []
    _in("session_id", session_id, clauses, params)
    _in("origin", origin, clauses, params)
    _in("attribution", attribution, clauses, params)
    if clauses:
        where = (where + " AND " if where else " WHERE ") + " AND ".join(clauses)
    select = ", ".join(f'"{c}"' for c in cols)
    order = " ORDER BY event_time, event_id" if {"event_time", "event_id"} <= set(cols) else ""
    lim = f" LIMIT {int(limit)}" if limit is not None else ""
    df = src.sql(f"SELECT {select} FROM ({attribution_query()}){where}{order}{lim}", params)
    return _lists(utc_columns(df, "event_time"), "candidates")


def event_origins(events: Events, event_ids: Sequence[str] | None = None) -> pd.DataFrame:
    """``event_id``, ``origin``, ``origin_kind`` and ``chain_depth`` of every event, or of
    ``event_ids`` only (for findings and ledgers that name who is behind, in one query).

    Examples
    --------
    >>> event_origins(case, ["7b8a5ebd-bf0b-461f-bc36-f34a41db8fe6"])  # doctest: +SKIP
    """
    cols = ["event_id", "origin", "origin_kind", "chain_depth"]
    if event_ids is None:
        return attribute(events, columns=cols)
    src, _ = get(events)
    select = ", ".join(cols)
    df = src.sql(
        f"SELECT {select} FROM ({attribution_query()}) WHERE event_id IN (SELECT unnest(?::VARCHAR[]))",
        [list(event_ids)],
    )
    return df


def _lists(df: pd.DataFrame, *cols: str) -> pd.DataFrame:
    for c in cols:
        if c in df.columns:
            df[c] = [v.tolist() if hasattr(v, "tolist") else v for v in df[c]]
    return df


# -- origin_of -------------------------------------------------------------------------------------

ORIGIN_COLUMNS = (
    "hop",
    "node_type",
    "node",
    "kind",
    "principal",
    "account_id",
    "time",
    "link",
    "key",
    "origin",
)


def origin_of(events: Events, event_id: str) -> pd.DataFrame:
    """The chain from one event back to its origin, one row per hop.

    Hop 0 is the event (its actor and key), then its session, the session that issued it and
    so on, and last the origin: the long-term identity (IAM user, root, IdP subject, AWS
    service), or ``unknown: <why>``. ``link`` says how each hop was made (exact-key, fallback,
    ambiguous, none); an ambiguous hop lists its candidates in ``node`` and stops there.
    Every row carries the final ``origin``.

    Examples
    --------
    >>> origin_of(case, "7b8a5ebd-bf0b-461f-bc36-f34a41db8fe6")[["hop", "node_type", "node", "link"]]  # doctest: +SKIP
    """
    src, built = get(events)
    found = rows(
        src.connection(),
        f"SELECT * FROM ({attribution_query()}) WHERE event_id = ? ORDER BY event_time LIMIT 1",
        [event_id],
    )
    if not found:
        raise QueryError(f"no event with id {event_id!r} in the case")
    ev = found[0]
    origin = ev["origin"]
    hops: list[dict[str, Any]] = [
        {
            "node_type": "event",
            "node": ev["event_id"],
            "kind": ev["event_name"],
            "principal": ev["actor"],
            "account_id": ev["recipient_account_id"],
            "time": ev["event_time"],
            "link": ev["attribution"],
            "key": ev["access_key_id"],
        }
    ]
    by_id = {r["session_id"]: r for r in records(built.sessions)}
    sid = ev["session_id"]
    if ev["attribution"] == "ambiguous":
        hops.append(
            {"node_type": "ambiguous", "node": ", ".join(ev["candidates"] or []), "link": "ambiguous"}
        )
    seen: set[str] = set()
    while sid is not None and sid in by_id and sid not in seen:
        seen.add(sid)
        s = by_id[sid]
        hops.append(
            {
                "node_type": "session",
                "node": sid,
                "kind": s["kind"],
                "principal": s["principal_arn"] or s["role_arn"],
                "account_id": s["account_id"],
                "time": s["issued_at"],
                "link": s["parent_link"],
                "key": s["access_key_id"],
            }
        )
        if s["parent_link"] == "ambiguous":
            hops.append(
                {"node_type": "ambiguous", "node": ", ".join(s["parent_candidates"]), "link": "ambiguous"}
            )
            break
        sid = s["parent_session_id"]
    if origin is not None:
        hops.append(
            {"node_type": "origin", "node": origin, "kind": ev["origin_kind"], "key": ev["origin_key"]}
        )
    df = pd.DataFrame(hops)
    df.insert(0, "hop", range(len(df)))
    df["origin"] = origin
    df = df.reindex(columns=list(ORIGIN_COLUMNS))
    return utc_columns(df, "time")


# -- trace -------------------------------------------------------------------------------------------


def _one_selector(access_key_id: str | None, session_id: str | None, actor: str | None) -> None:
    given = [v for v in (access_key_id, session_id, actor) if v]
    if len(given) != 1:
        raise QueryError("give exactly one of access_key_id, session_id, actor")


def _children(sess: pd.DataFrame) -> dict[str, list[tuple[str, str]]]:
    """Parent session -> (child, link); an ambiguous child hangs under each candidate."""
    children: dict[str, list[tuple[str, str]]] = {}
    cols = (sess["session_id"], sess["parent_session_id"], sess["parent_link"], sess["parent_candidates"])
    for sid, parent, link, cands in zip(*cols, strict=True):
        if link in ("exact-key", "fallback") and isinstance(parent, str):
            children.setdefault(parent, []).append((sid, link))
        elif link == "ambiguous":
            for c in cands:
                children.setdefault(c, []).append((sid, "ambiguous"))
    return children


def _tree(
    sess: pd.DataFrame, roots: list[tuple[str, str]], flagged: dict[str, list[str]] | None
) -> list[dict[str, Any]]:
    """DFS rows below ``roots`` ((session id, link) pairs), children in issue order; only the
    sessions in the tree become Python rows."""
    children = _children(sess)
    position = pd.Index(sess["session_id"])
    order: list[tuple[str, str, str | None, int]] = []
    stack: list[tuple[str, str, str | None, int]] = [(sid, link, None, 1) for sid, link in reversed(roots)]
    seen: set[str] = set()
    issued = sess["issued_at"].fillna(sess["first_use"])
    while stack:
        sid, link, parent, depth = stack.pop()
        if sid in seen or sid not in position:
            continue
        seen.add(sid)
        order.append((sid, link, parent, depth))
        kids = sorted(
            children.get(sid, []),
            key=lambda c: (_when(issued.iloc[position.get_loc(c[0])]), c[0]),
        )
        for kid, klink in reversed(kids):
            stack.append((kid, klink, sid, depth + 1))
    recs = {r["session_id"]: r for r in records(sess[sess["session_id"].isin([o[0] for o in order])])}
    if flagged is None:
        flagged = {}
    out: list[dict[str, Any]] = []
    for sid, link, parent, depth in order:
        s = recs[sid]
        out.append(
            {
                "depth": depth,
                "node": sid,
                "parent": parent,
                "link": link,
                "kind": s["kind"],
                "principal": s["principal_arn"] or s["role_arn"],
                "session_name": s["session_name"],
                "account_id": s["account_id"],
                "chain_accounts": list(s["chain_accounts"]),
                "issued_at": s["issued_at"],
                "expiration": s["expiration"],
                "expiration_source": s["expiration_source"],
                "first_use": s["first_use"],
                "last_use": s["last_use"],
                "events": int(s["events"]),
                "errors": int(s["errors"]),
                "ips": list(s["ips"]),
                "ip_count": int(s["ip_count"]),
                "failed_issues": int(s["failed_issues"]),
                "origin": s["origin"],
                "origin_kind": s["origin_kind"],
                "origin_key": s["origin_key"],
                "chain_depth": s["chain_depth"],
                "flags": flagged.get(sid, []),
            }
        )
    return out


def _when(t: Any) -> pd.Timestamp:
    return pd.Timestamp(t) if not pd.isna(t) else pd.Timestamp.max.tz_localize("UTC")


def _identity_row(node: str, kind: str, stats: dict[str, Any], origin: str | None) -> dict[str, Any]:
    return {
        "depth": 0,
        "node": node,
        "parent": None,
        "link": None,
        "kind": kind,
        "principal": stats.get("principal") or node,
        "session_name": None,
        "account_id": stats.get("account_id"),
        "chain_accounts": [],
        "issued_at": None,
        "expiration": None,
        "expiration_source": None,
        "first_use": stats.get("first_use"),
        "last_use": stats.get("last_use"),
        "events": int(stats.get("events") or 0),
        "errors": int(stats.get("errors") or 0),
        "ips": list(stats.get("ips") or []),
        "ip_count": int(stats.get("ip_count") or 0),
        "failed_issues": 0,
        "origin": origin,
        "origin_kind": stats.get("origin_kind"),
        "origin_key": stats.get("origin_key"),
        "chain_depth": 0,
        "flags": [],
    }


_OWN_STATS = """
SELECT count(*) AS events, count(*) FILTER (WHERE is_error) AS errors, min(event_time) AS first_use,
       max(event_time) AS last_use, min(actor) AS principal, min(account_id) AS account_id,
       list_slice(list(DISTINCT source_ip ORDER BY source_ip) FILTER (WHERE source_ip IS NOT NULL), 1, 20) AS ips,
       count(DISTINCT source_ip) AS ip_count, min(origin_kind) AS origin_kind, min(origin_key) AS origin_key
FROM ({q}) WHERE {cond}
"""


def trace(
    events: Events,
    *,
    access_key_id: str | None = None,
    session_id: str | None = None,
    actor: str | None = None,
    with_flags: bool = True,
) -> pd.DataFrame:
    """The tree of sessions descending from a key, a session or an identity, with counts.

    * ``access_key_id``: a long-term key (``AKIA...``) is the root (its own events counted) and
      the sessions it issued are below it; a temporary key (``ASIA...``) starts at its session,
      or, when that is ambiguous, is the root with every candidate session below it.
    * ``session_id``: that session and its descendants.
    * ``actor``: an identity (user, root or role ARN, assumed-role ARN, IdP subject, service):
      its sessions, the sessions it issued, those whose origin it is, and their descendants.

    One row per node in depth-first order (``depth``, ``node``, ``parent``, ``link``: how it hangs
    from its parent), with the session's kind, principal, accounts, times, ``events``, ``errors``,
    IPs, ``origin`` and ``flags`` (from :func:`flags`). The events: :func:`trace_events`.

    Examples
    --------
    >>> trace(case, access_key_id="AKIAEXAMPLE")[["depth", "node", "kind", "events", "flags"]]  # doctest: +SKIP
    """
    _one_selector(access_key_id, session_id, actor)
    src, built = get(events)
    sess = built.sessions
    head: list[dict[str, Any]] = []
    roots: list[tuple[str, str]] = []
    q = attribution_query()
    if access_key_id and access_key_id.startswith("AKIA"):
        st = rows(src.connection(), _OWN_STATS.format(q=q, cond="access_key_id = ?"), [access_key_id])[0]
        mine = sess[(sess["issuer_key"] == access_key_id) & (sess["parent_link"] == "none")]
        if not st["events"] and mine.empty:
            raise QueryError(f"access key {access_key_id!r} does not appear in the case")
        head.append(_identity_row(access_key_id, "long-term-key", st, st.get("principal")))
        roots = [(sid, "exact-key") for sid in mine["session_id"]]
    elif access_key_id:
        hit = sess[sess["access_key_id"] == access_key_id]
        if not hit.empty:
            roots = [(str(hit["session_id"].iloc[0]), "exact-key")]
        else:
            k = rows(
                src.connection(),
                "SELECT session_id, attribution, candidates, origin FROM _ifx_sess_keys WHERE key = ?",
                [access_key_id],
            )
            if not k:
                raise QueryError(f"access key {access_key_id!r} does not appear in the case")
            if k[0]["session_id"]:
                roots = [(k[0]["session_id"], k[0]["attribution"])]
            else:  # the key's session is ambiguous: the key on top, every candidate below it
                st = rows(
                    src.connection(), _OWN_STATS.format(q=q, cond="access_key_id = ?"), [access_key_id]
                )[0]
                head.append(_identity_row(access_key_id, "temporary-key", st, k[0]["origin"]))
                roots = [(c, "ambiguous") for c in k[0]["candidates"] or []]
    elif session_id:
        if session_id not in set(sess["session_id"]):
            raise QueryError(f"no session {session_id!r} in the case")
        roots = [(session_id, "self")]
    else:
        assert actor is not None
        match = sess[
            (sess["principal_arn"] == actor)
            | (sess["role_arn"] == actor)
            | (sess["origin"] == actor)
            | (sess["issuer_actor"] == actor)
        ]
        st = rows(src.connection(), _OWN_STATS.format(q=q, cond="actor = ? AND session_id IS NULL"), [actor])[
            0
        ]
        if match.empty and not st["events"]:
            raise QueryError(f"identity {actor!r} does not appear in the case")
        matched = set(match["session_id"])
        parents = {
            sid: (p if isinstance(p, str) else None)
            for sid, p in zip(sess["session_id"], sess["parent_session_id"], strict=True)
        }

        def under_match(sid: str) -> bool:
            seen: set[str] = set()
            p = parents.get(sid)
            while p is not None and p not in seen:
                if p in matched:
                    return True
                seen.add(p)
                p = parents.get(p)
            return False

        roots = [(sid, "origin") for sid in match["session_id"] if not under_match(sid)]
        head.append(_identity_row(actor, "identity", st, actor))
    body = _tree(sess, roots, None)
    if with_flags and body:
        from .flags import flags as _flags

        f = _flags(src, sessions=[r["node"] for r in body])
        flagged: dict[str, list[str]] = {}
        for sid, flag in zip(f["session_id"], f["flag"], strict=True):
            if flag not in flagged.setdefault(str(sid), []):
                flagged[str(sid)].append(str(flag))
        for r in body:
            r["flags"] = flagged.get(r["node"], [])
    if head:
        for r in body:
            if r["parent"] is None:
                r["parent"] = head[0]["node"]
    else:
        for r in body:
            r["depth"] -= 1
    df = pd.DataFrame(head + body, columns=list(TRACE_COLUMNS))
    df["chain_depth"] = pd.array(
        [None if v is None or pd.isna(v) else int(v) for v in df["chain_depth"]], dtype="Int64"
    )
    return utc_columns(df, "issued_at", "expiration", "first_use", "last_use")


def trace_events(
    events: Events,
    *,
    access_key_id: str | None = None,
    session_id: str | None = None,
    actor: str | None = None,
    columns: Sequence[str] | None = None,
) -> pd.DataFrame:
    """The events of a :func:`trace`: the root key's or identity's own events, every session's
    in the tree, and ambiguous events that could belong to one of them (shown, not assigned).

    Examples
    --------
    >>> trace_events(case, access_key_id="AKIAEXAMPLE")[["event_time", "event_name", "session_id"]]  # doctest: +SKIP
    """
    tree = trace(events, access_key_id=access_key_id, session_id=session_id, actor=actor, with_flags=False)
    src, _ = get(events)
    sids = [
        str(n)
        for n, k in zip(tree["node"], tree["kind"], strict=True)
        if k not in ("identity", "long-term-key")
    ]
    cols = list(columns) if columns else [*TIMELINE_COLUMNS, *ATTRIBUTION_COLUMNS]
    unknown = [c for c in cols if c not in COLUMN_NAMES and c not in ATTRIBUTION_COLUMNS]
    if unknown:
        raise QueryError(f"unknown column(s): {', '.join(unknown)}")
    conds: list[str] = ["list_has_any(coalesce(candidates, []), ?::VARCHAR[])"]
    params: list[Any] = [sids]
    conds.append("session_id IN (SELECT unnest(?::VARCHAR[]))")
    params.append(sids)
    if access_key_id and access_key_id.startswith("AKIA"):
        conds.append("(access_key_id = ? AND session_id IS NULL)")
        params.append(access_key_id)
    if actor:
        conds.append("(actor = ? AND session_id IS NULL)")
        params.append(actor)
    select = ", ".join(f'"{c}"' for c in cols)
    order = " ORDER BY event_time, event_id" if {"event_time", "event_id"} <= set(cols) else ""
    df = src.sql(f"SELECT {select} FROM ({attribution_query()}) WHERE {' OR '.join(conds)}{order}", params)
    return _lists(utc_columns(df, "event_time"), "candidates")
