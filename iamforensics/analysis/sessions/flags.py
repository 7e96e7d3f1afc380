"""Suspicious sessions, each flag with the evidence behind it.

* ``new-network``: temporary credentials used from a public address whose network (/24, or /48
  for IPv6) their issuer never used: the parent session's or issuing key's addresses and the
  issuing call's own. A session issued to a caller in another account is skipped (that
  caller's own activity is not in the case). Credentials an AWS service delivered (instance
  profiles, Lambda...) have no issuer address to compare; they are flagged when used from an
  address that a human identity (IAM user, root, IdP subject, Identity Center user) also used,
  or from a network the same instance's or function's other sessions never used: the classic
  stolen instance-profile credentials.
* ``used-after-expiry``: calls with the issued key after the expiration the issuing call
  returned or asked for (never a default lifetime), or ``ExpiredToken`` errors; ``high`` when
  such a call succeeded. Keys a console minted from the session (linked by the fallback) are not
  counted: the federation endpoint can keep a console session past the role session's
  expiration (cloudtrail-reference §4.2).
* ``cross-account-chain``: the session where a chain enters another account; ``medium`` for
  the first hop from that account into that role in the case, ``low`` for the repeats.
* ``iam-write-without-mfa``: sessions issued without MFA (not federated or service sessions,
  whose MFA AWS cannot see) that made IAM write calls.

The work is SQL over the events and the registered sessions table, so a case with hundreds of
thousands of sessions never becomes Python rows.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import pandas as pd
import pyarrow as pa

from ...case import Case
from ...errors import QueryError
from .._base import IS_READ, EventSource, utc_columns
from .build import SERVICE_KINDS
from .table import SESSIONS, attribution_query, get, limit_memory

Events = Case | pd.DataFrame | EventSource

FLAGS: tuple[str, ...] = ("new-network", "used-after-expiry", "cross-account-chain", "iam-write-without-mfa")
FLAG_COLUMNS: tuple[str, ...] = (
    "flag",
    "severity",
    "session_id",
    "kind",
    "principal",
    "origin",
    "time",
    "detail",
    "ips",
    "event_ids",
)
HUMAN_ORIGINS = ("iam-user", "root", "idp-saml", "idp-web-identity", "identity-center-user")
EXPIRED_CODES = ("ExpiredToken", "ExpiredTokenException")
_SERVICE = ", ".join(f"'{k}'" for k in sorted(SERVICE_KINDS))
_HUMAN = ", ".join(f"'{k}'" for k in HUMAN_ORIGINS)
_SUBSET = "_ifx_flag_subset"
_NETS = "_ifx_flag_nets"


@lru_cache(maxsize=262144)
def network(ip: str) -> str:
    """The /24 (IPv4) or /48 (IPv6) an address belongs to.

    Examples
    --------
    >>> network("203.0.113.77"), network("2001:db8:1:2::5")
    ('203.0.113.0/24', '2001:db8:1::/48')
    """
    addr = ipaddress.ip_address(ip)
    prefix = 24 if addr.version == 4 else 48
    return str(ipaddress.ip_network(f"{addr}/{prefix}", strict=False))


def _sql(src: EventSource, query: str, params: list[Any] | None = None) -> pd.DataFrame:
    return src.sql(query, params or [])


_OUT = (
    "SELECT '{flag}' AS flag, {severity} AS severity, s.session_id, s.kind, coalesce(s.principal_arn, s.role_arn) "
    "AS principal, s.origin, {time} AS time, {detail} AS detail, {ips} AS ips, {ids} AS event_ids"
)


def _new_network(src: EventSource, subset: str) -> pd.DataFrame:
    con = src.connection()
    q = attribution_query(
        "session_id, user_type, source_ip, ip_class, event_time, event_id, origin, origin_kind, origin_key"
    )
    # one pass over the events: addresses per session, per long-term key, per human origin
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _f_ip AS
        SELECT source_ip, any_value(ip_class) AS ip_class, session_id,
            CASE WHEN session_id IS NULL THEN origin_key END AS own_key,
            CASE WHEN origin_kind IN ({_HUMAN}) THEN origin END AS human,
            user_type IS NOT DISTINCT FROM 'AWSAccount' AS other_copy,
            count(*) AS n, min(event_time) AS first, arg_min(event_id, event_time, 5) AS ids
        FROM ({q}) WHERE source_ip IS NOT NULL AND ip_class IN ('public', 'private')
        GROUP BY source_ip, session_id, own_key, human, other_copy
        """
    )
    try:
        ips = [r[0] for r in con.sql("SELECT DISTINCT source_ip FROM _f_ip").fetchall()]
        nets: list[str | None] = []
        for ip in ips:
            try:
                nets.append(network(ip))
            except ValueError:
                nets.append(None)
        con.register(_NETS, pa.table({"ip": pa.array(ips, pa.string()), "net": pa.array(nets, pa.string())}))
        return _sql(
            src,
            f"""
            WITH u AS (  -- what each session used
                SELECT f.session_id, f.source_ip, any_value(f.ip_class) AS ip_class, any_value(x.net) AS net,
                    sum(f.n) AS n, min(f.first) AS first, flatten(list(f.ids ORDER BY f.first))[1:5] AS ids
                FROM _f_ip f JOIN {_NETS} x ON x.ip = f.source_ip
                WHERE f.session_id IS NOT NULL AND NOT f.other_copy GROUP BY 1, 2
            ),
            s AS (SELECT * FROM {SESSIONS} WHERE session_id IN (SELECT session_id FROM {subset})),
            -- the issuer's networks: its parent session's, its long-term key's, the issuing call's
            base AS (
                SELECT s.session_id, x.net FROM s JOIN u x ON x.session_id = s.parent_session_id
                UNION SELECT s.session_id, n.net FROM s JOIN _f_ip f ON f.own_key = s.issuer_key
                    JOIN {_NETS} n ON n.ip = f.source_ip
                UNION SELECT s.session_id, n.net FROM s JOIN {_NETS} n ON n.ip = s.issuer_ip
            ),
            bnets AS (SELECT session_id, list(DISTINCT net ORDER BY net) AS nets FROM base
                      WHERE net IS NOT NULL GROUP BY 1),
            humans AS (SELECT source_ip, list(DISTINCT human ORDER BY human)[1:5] AS who FROM _f_ip
                       WHERE human IS NOT NULL GROUP BY 1),
            -- the same instance or function (account, role, session name): sessions per network
            peer AS (
                SELECT s2.account_id, s2.role_arn, s2.session_name, u.net, count(DISTINCT u.session_id) AS k
                FROM {SESSIONS} s2 JOIN u ON u.session_id = s2.session_id WHERE s2.kind IN ({_SERVICE})
                GROUP BY ALL
            ),
            own AS (SELECT session_id, list(DISTINCT net) AS nets FROM u GROUP BY 1),
            svc AS (
                SELECT s.session_id, u.source_ip, u.n, u.first, u.ids, h.who,
                    list(p.net ORDER BY p.net) FILTER (WHERE p.k - (CASE WHEN list_contains(o.nets, p.net)
                        THEN 1 ELSE 0 END) > 0) AS peer_nets,
                    u.net
                FROM s JOIN u ON u.session_id = s.session_id AND u.ip_class = 'public'
                JOIN own o ON o.session_id = s.session_id
                LEFT JOIN humans h ON h.source_ip = u.source_ip
                LEFT JOIN peer p ON p.account_id IS NOT DISTINCT FROM s.account_id
                    AND p.role_arn IS NOT DISTINCT FROM s.role_arn AND p.session_name IS NOT DISTINCT FROM s.session_name
                WHERE s.kind IN ({_SERVICE})
                GROUP BY ALL
            )
            {
                _OUT.format(
                    flag="new-network",
                    severity="'high'",
                    time="v.first",
                    ips="[v.source_ip]",
                    ids="v.ids",
                    detail="s.kind || ' credentials of ' || coalesce(s.session_name, s.session_id) || ' used from ' "
                    "|| v.source_ip || CASE WHEN v.who IS NOT NULL THEN ', an address ' || array_to_string(v.who, ', ') "
                    "|| ' also used' ELSE ', outside the networks its other sessions used (' "
                    "|| array_to_string(v.peer_nets, ', ') || ')' END",
                )
            }
            FROM svc v JOIN s ON s.session_id = v.session_id
            WHERE v.who IS NOT NULL OR (len(coalesce(v.peer_nets, [])) > 0 AND NOT list_contains(v.peer_nets, v.net))
            UNION ALL
            {
                _OUT.format(
                    flag="new-network",
                    severity="'high'",
                    time="u.first",
                    ips="[u.source_ip]",
                    ids="u.ids",
                    detail="'used from ' || u.source_ip || ' (' || u.n || ' events); its issuer ' || "
                    "coalesce(s.parent_session_id, s.issuer_key, s.issuer_actor, '?') || ' was only seen from ' || "
                    "array_to_string(b.nets, ', ')",
                )
            }
            FROM s JOIN u ON u.session_id = s.session_id AND u.ip_class = 'public'
            JOIN bnets b ON b.session_id = s.session_id
            WHERE s.kind NOT IN ({_SERVICE}) AND NOT list_contains(b.nets, u.net)
              AND NOT (s.issuer_type IS NOT DISTINCT FROM 'AWSAccount' AND s.parent_session_id IS NULL)
            """,
        )
    finally:
        src.unregister(_NETS)
        con.execute("DROP TABLE IF EXISTS _f_ip")


def _expiry(src: EventSource, subset: str) -> pd.DataFrame:
    codes = ", ".join(f"'{c}'" for c in EXPIRED_CODES)
    q = attribution_query("session_id, attribution, event_time, event_id, is_error, error_code")
    # Only the issued key itself expires when the response says: keys a console minted from the
    # session (linked by the fallback) live on their own terms (cloudtrail-reference §4.2).
    late = "a.event_time > x.expiration AND a.attribution = 'exact-key'"
    return _sql(
        src,
        f"""
        WITH x AS (
            SELECT session_id, CASE WHEN expiration_source IN ('response', 'duration') THEN expiration END AS expiration
            FROM {SESSIONS} WHERE session_id IN (SELECT session_id FROM {subset})
        ),
        e AS (
            SELECT a.session_id, any_value(x.expiration) AS expiration,
                count(*) FILTER (WHERE {late}) AS after,
                count(*) FILTER (WHERE {late} AND NOT coalesce(a.is_error, FALSE)) AS after_ok,
                count(*) FILTER (WHERE a.error_code IN ({codes})) AS expired_errors,
                min(a.event_time) AS first, arg_min(a.event_id, a.event_time, 5) AS ids
            FROM ({q}) a JOIN x ON x.session_id = a.session_id
            WHERE ({late}) OR a.error_code IN ({codes})
            GROUP BY 1
        )
        {
            _OUT.format(
                flag="used-after-expiry",
                severity="CASE WHEN e.after_ok > 0 THEN 'high' ELSE 'medium' END",
                time="e.first",
                ips="[]::VARCHAR[]",
                ids="e.ids",
                detail="array_to_string(list_filter([CASE WHEN e.after > 0 THEN e.after || ' events after it expired at ' "
                "|| strftime(e.expiration, '%Y-%m-%d %H:%M:%S') || ' UTC' END, CASE WHEN e.after_ok > 0 THEN "
                "e.after_ok || ' of them succeeded' END, CASE WHEN e.expired_errors > 0 THEN e.expired_errors || "
                "' ExpiredToken errors' END], lambda t: t IS NOT NULL), '; ')",
            )
        }
        FROM e JOIN {SESSIONS} s ON s.session_id = e.session_id
        """,
    )


def _cross_account(src: EventSource, subset: str) -> pd.DataFrame:
    return _sql(
        src,
        f"""
        WITH known AS (SELECT list(DISTINCT recipient_account_id) AS a FROM events),
        c AS (
            SELECT s.*, s.chain_accounts[len(s.chain_accounts) - 1] AS from_account
            FROM {SESSIONS} s LEFT JOIN {SESSIONS} p ON p.session_id = s.parent_session_id
            -- where the chain enters the account: not a child staying in its parent's account
            WHERE s.crosses_accounts AND (p.session_id IS NULL OR len(p.chain_accounts) < len(s.chain_accounts))
        ),
        r AS (  -- the first hop from one account into one role is news; the hundredth is routine
            SELECT c.*, row_number() OVER (PARTITION BY from_account, account_id, coalesce(role_arn, principal_arn)
                                           ORDER BY issued_at, session_id) AS k,
                list_filter(c.chain_accounts, lambda x: NOT list_contains(known.a, x)) AS outside
            FROM c, known
        )
        {
            _OUT.format(
                flag="cross-account-chain",
                severity="CASE WHEN k = 1 THEN 'medium' ELSE 'low' END",
                time="s.issued_at",
                ips="[]::VARCHAR[]",
                ids="s.issuing_event_ids",
                detail="'chain crosses accounts ' || array_to_string(s.chain_accounts, ' -> ') || CASE WHEN "
                "len(s.outside) > 0 THEN ' (outside the case''s accounts: ' || array_to_string(s.outside, ', ') || ')' "
                "ELSE '' END || CASE WHEN k = 1 THEN '; first such hop in the case' ELSE '; hop number ' || k || "
                "' like it' END",
            )
        }
        FROM r s WHERE s.session_id IN (SELECT session_id FROM {subset})
        """,
    )


def _iam_writes(src: EventSource, subset: str) -> pd.DataFrame:
    q = attribution_query("session_id, event_source, event_name, read_only, is_error, event_time, event_id")
    return _sql(
        src,
        f"""
        WITH cand AS (
            SELECT session_id FROM {SESSIONS} WHERE mfa_at_issue = FALSE AND kind NOT IN ({_SERVICE})
              AND session_id IN (SELECT session_id FROM {subset})
        ),
        w AS (
            SELECT session_id, count(*) AS n, count(*) FILTER (WHERE NOT coalesce(is_error, FALSE)) AS ok,
                list(DISTINCT event_name ORDER BY event_name) AS names, min(event_time) AS first,
                arg_min(event_id, event_time, 5) AS ids
            FROM ({q}) WHERE session_id IN (SELECT session_id FROM cand)
              AND event_source = 'iam.amazonaws.com' AND NOT {IS_READ}
            GROUP BY 1
        )
        {
            _OUT.format(
                flag="iam-write-without-mfa",
                severity="CASE WHEN w.ok > 0 THEN 'high' ELSE 'medium' END",
                time="w.first",
                ips="[]::VARCHAR[]",
                ids="w.ids",
                detail="w.n || ' IAM write calls (' || w.ok || ' succeeded) without MFA: ' || "
                "array_to_string(w.names[1:8], ', ')",
            )
        }
        FROM w JOIN {SESSIONS} s ON s.session_id = w.session_id
        """,
    )


def flags(
    events: Events, *, kinds: Sequence[str] | None = None, sessions: Sequence[str] | None = None
) -> pd.DataFrame:
    """Sessions worth a look, one row per flag with its evidence (``detail``, ``ips``, the
    first ``event_ids``). ``kinds`` picks flags among :data:`FLAGS`; ``sessions`` limits them
    to those session ids (their evidence may still come from other sessions, e.g. a parent).

    Examples
    --------
    >>> flags(case, kinds=["new-network"])[["session_id", "origin", "detail"]]  # doctest: +SKIP
    """
    wanted = list(kinds) if kinds is not None else list(FLAGS)
    bad = [k for k in wanted if k not in FLAGS]
    if bad:
        raise QueryError(f"unknown flag {bad[0]!r}; flags are {', '.join(FLAGS)}")
    src, built = get(events)
    frames: list[pd.DataFrame] = []
    if not built.sessions.empty:
        ids = list(built.sessions["session_id"]) if sessions is None else [str(s) for s in sessions]
        src.register(_SUBSET, pd.DataFrame({"session_id": pd.Series(ids, dtype="object")}))
        steps = {
            "new-network": _new_network,
            "used-after-expiry": _expiry,
            "cross-account-chain": _cross_account,
            "iam-write-without-mfa": _iam_writes,
        }
        restore = limit_memory(src.connection())
        try:
            for k in wanted:
                frames.append(steps[k](src, _SUBSET))
        finally:
            src.unregister(_SUBSET)
            restore()
    frames = [f for f in frames if len(f)]
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(FLAG_COLUMNS))
    df = df.reindex(columns=list(FLAG_COLUMNS))
    for c in ("ips", "event_ids"):
        df[c] = [list(v) if v is not None and not isinstance(v, float) else [] for v in df[c]]
    df = utc_columns(df, "time")
    return df.sort_values(["time", "flag", "session_id"], kind="stable").reset_index(drop=True)
