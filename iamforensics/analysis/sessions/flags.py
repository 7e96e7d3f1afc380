"""Suspicious sessions, each flag with the evidence behind it.

* ``new-network``: temporary credentials used from a public address whose network (/24, or /48
  for IPv6) their issuer never used: the parent session's or issuing key's addresses and the
  issuing call's own. Credentials an AWS service delivered (instance profiles, Lambda...) have
  no issuer address to compare; they are flagged when used from an address that a human
  identity (IAM user, root, IdP subject, Identity Center user) also used, or from a network the
  same instance's or function's other sessions never used: the classic stolen
  instance-profile credentials.
* ``used-after-expiry``: calls with the issued key after the expiration the issuing call
  returned or asked for (never a default lifetime), or ``ExpiredToken`` errors; ``high`` when
  such a call succeeded. Keys a console minted from the session (linked by the fallback) are not
  counted: the federation endpoint can keep a console session past the role session's
  expiration (cloudtrail-reference §4.2).
* ``cross-account-chain``: the session where a chain enters another account; ``medium`` for
  the first hop from that account into that role in the case, ``low`` for the repeats.
* ``iam-write-without-mfa``: sessions issued without MFA (not federated or service sessions,
  whose MFA AWS cannot see) that made IAM write calls.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import pandas as pd
import pyarrow as pa

from ...case import Case
from ...errors import QueryError
from .._base import IS_READ, EventSource, utc_columns
from .build import SERVICE_KINDS, records, rows
from .table import attribution_query, get

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
_EXP = "_ifx_sess_exp"


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


def _networks(ips: Any) -> set[str]:
    out = set()
    for ip in ips or []:
        try:
            out.add(network(str(ip)))
        except ValueError:
            continue
    return out


def _row(
    flag: str, severity: str, s: dict[str, Any], time: Any, detail: str, ips: Sequence[str], ids: Any
) -> dict:
    return {
        "flag": flag,
        "severity": severity,
        "session_id": s["session_id"],
        "kind": s["kind"],
        "principal": s["principal_arn"] or s["role_arn"],
        "origin": s["origin"],
        "time": time,
        "detail": detail,
        "ips": list(ips),
        "event_ids": list(ids or []),
    }


def _ip_use(src: EventSource) -> dict[str, list[dict[str, Any]]]:
    q = attribution_query("session_id, user_type, source_ip, ip_class, event_time, event_id")
    found = rows(
        src.connection(),
        f"""
        WITH a AS ({q})
        SELECT session_id, source_ip, any_value(ip_class) AS ip_class, count(*) AS n,
               min(event_time) AS first, list(event_id ORDER BY event_time, event_id)[1:5] AS ids
        FROM a WHERE session_id IS NOT NULL AND source_ip IS NOT NULL
          AND ip_class IN ('public', 'private') AND user_type IS DISTINCT FROM 'AWSAccount'
        GROUP BY 1, 2
        """,
    )
    out: dict[str, list[dict[str, Any]]] = {}
    for r in found:
        out.setdefault(r["session_id"], []).append(r)
    return out


def _new_network(src: EventSource, sess: pd.DataFrame) -> list[dict[str, Any]]:
    use = _ip_use(src)
    recs = {r["session_id"]: r for r in records(sess)}
    keys = sorted(
        {str(r["issuer_key"]) for r in recs.values() if str(r["issuer_key"] or "").startswith("AKIA")}
    )
    key_ips: dict[str, set[str]] = {}
    if keys:
        for r in rows(
            src.connection(),
            "SELECT access_key_id, list(DISTINCT source_ip) AS ips FROM events "
            "WHERE access_key_id IN (SELECT unnest(?::VARCHAR[])) AND source_ip IS NOT NULL GROUP BY 1",
            [keys],
        ):
            key_ips[r["access_key_id"]] = set(r["ips"] or [])
    service_public = sorted(
        {
            u["source_ip"]
            for sid, us in use.items()
            if recs.get(sid, {}).get("kind") in SERVICE_KINDS
            for u in us
            if u["ip_class"] == "public"
        }
    )
    humans: dict[str, list[str]] = {}
    if service_public:
        q = attribution_query("source_ip, origin, origin_kind")
        for r in rows(
            src.connection(),
            f"WITH a AS ({q}) SELECT source_ip, list(DISTINCT origin ORDER BY origin)[1:5] AS origins FROM a "
            "WHERE source_ip IN (SELECT unnest(?::VARCHAR[])) AND origin_kind IN "
            f"({', '.join(repr(k) for k in HUMAN_ORIGINS)}) GROUP BY 1",
            [service_public],
        ):
            humans[r["source_ip"]] = list(r["origins"] or [])
    # the same instance or function (account, role, session name): how many of its sessions
    # used each network, so "its other sessions" costs one lookup per session
    group_nets: dict[tuple[Any, ...], Counter[str]] = {}
    own_nets: dict[str, set[str]] = {}
    for sid, s in recs.items():
        if s["kind"] in SERVICE_KINDS:
            own_nets[sid] = _networks(u["source_ip"] for u in use.get(sid, []))
            group = (s["account_id"], s["role_arn"], s["session_name"])
            group_nets.setdefault(group, Counter()).update(own_nets[sid])

    out: list[dict[str, Any]] = []
    for sid, us in use.items():
        if sid not in recs:
            continue
        s = recs[sid]
        public = [u for u in us if u["ip_class"] == "public"]
        if not public:
            continue
        if s["kind"] in SERVICE_KINDS:
            counts = group_nets.get((s["account_id"], s["role_arn"], s["session_name"]), Counter())
            mine = own_nets.get(sid, set())
            peer_nets = {n for n, k in counts.items() if k - (1 if n in mine else 0) > 0}
            for u in public:
                who = humans.get(u["source_ip"], [])
                net = network(u["source_ip"])
                if who:
                    detail = (
                        f"{s['kind']} credentials of {s['session_name'] or sid} used from {u['source_ip']}, "
                        f"an address {', '.join(who)} also used"
                    )
                elif peer_nets and net not in peer_nets:
                    detail = (
                        f"{s['kind']} credentials of {s['session_name'] or sid} used from {u['source_ip']}, "
                        f"outside the networks its other sessions used ({', '.join(sorted(peer_nets))})"
                    )
                else:
                    continue
                out.append(_row("new-network", "high", s, u["first"], detail, [u["source_ip"]], u["ids"]))
            continue
        if s["issuer_type"] == "AWSAccount" and s["parent_session_id"] is None:
            continue  # issued to a caller in another account: its own activity is not in the case
        base: set[str] = set()
        if s["parent_session_id"] is not None:
            base |= {u["source_ip"] for u in use.get(s["parent_session_id"], [])}
        if str(s["issuer_key"] or "").startswith("AKIA"):
            base |= key_ips.get(str(s["issuer_key"]), set())
        if s["issuer_ip"]:
            base.add(str(s["issuer_ip"]))
        nets = _networks(base)
        if not nets:
            continue  # nothing known about where the issuer works from
        issuer = next(
            (
                str(v)
                for v in (s["parent_session_id"], s["issuer_key"], s["issuer_actor"])
                if isinstance(v, str) and v
            ),
            "?",
        )
        for u in public:
            if network(u["source_ip"]) in nets:
                continue
            detail = (
                f"used from {u['source_ip']} ({u['n']} events); its issuer {issuer} was only seen "
                f"from {', '.join(sorted(nets))}"
            )
            out.append(_row("new-network", "high", s, u["first"], detail, [u["source_ip"]], u["ids"]))
    return out


def _expiry(src: EventSource, sess: pd.DataFrame) -> list[dict[str, Any]]:
    precise = sess["expiration_source"].isin(["response", "duration"])
    exp = pa.table(
        {
            "session_id": pa.array(sess["session_id"].tolist(), pa.string()),
            "expiration": pa.array(
                [
                    t.to_pydatetime() if p and not pd.isna(t) else None
                    for t, p in zip(sess["expiration"], precise, strict=True)
                ],
                pa.timestamp("us", tz="UTC"),
            ),
        }
    )
    con = src.connection()
    con.register(_EXP, exp)
    codes = ", ".join(repr(c) for c in EXPIRED_CODES)
    q = attribution_query("session_id, attribution, event_time, event_id, is_error, error_code")
    # Only the issued key itself expires when the response says: keys a console minted from the
    # session (linked by the fallback) live on their own terms (cloudtrail-reference §4.2).
    late = "a.event_time > x.expiration AND a.attribution = 'exact-key'"
    try:
        found = rows(
            con,
            f"""
            WITH a AS ({q})
            SELECT a.session_id, any_value(x.expiration) AS expiration,
                   count(*) FILTER (WHERE {late}) AS after,
                   count(*) FILTER (WHERE {late} AND NOT coalesce(a.is_error, FALSE)) AS after_ok,
                   count(*) FILTER (WHERE a.error_code IN ({codes})) AS expired_errors,
                   min(a.event_time) AS first, list(a.event_id ORDER BY a.event_time, a.event_id)[1:5] AS ids
            FROM a JOIN {_EXP} x ON x.session_id = a.session_id
            WHERE {late} OR a.error_code IN ({codes})
            GROUP BY 1
            """,
        )
    finally:
        con.unregister(_EXP)
    recs = {r["session_id"]: r for r in records(sess)}
    out = []
    for r in found:
        s = recs[r["session_id"]]
        parts = []
        if r["after"]:
            parts.append(f"{r['after']} events after it expired at {r['expiration']:%Y-%m-%d %H:%M:%S} UTC")
            if r["after_ok"]:
                parts.append(f"{r['after_ok']} of them succeeded")
        if r["expired_errors"]:
            parts.append(f"{r['expired_errors']} ExpiredToken errors")
        sev = "high" if r["after_ok"] else "medium"
        out.append(_row("used-after-expiry", sev, s, r["first"], "; ".join(parts), [], r["ids"]))
    return out


def _cross_account(src: EventSource, sess: pd.DataFrame) -> list[dict[str, Any]]:
    known = {r["a"] for r in rows(src.connection(), "SELECT DISTINCT recipient_account_id AS a FROM events")}
    accts = {r["session_id"]: r["chain_accounts"] for r in records(sess)}
    seen: dict[tuple[Any, ...], int] = {}
    out = []
    for s in records(sess[sess["crosses_accounts"]]):
        mine = list(s["chain_accounts"])
        parent = accts.get(s["parent_session_id"]) if s["parent_session_id"] is not None else None
        if parent is not None and len(list(parent)) >= len(mine):
            continue  # the chain crossed earlier; this session stays in its parent's account
        # the first hop from one account into one role is news; the hundredth is a routine
        pair = (mine[-2], s["account_id"], s["role_arn"] or s["principal_arn"])
        seen[pair] = seen.get(pair, 0) + 1
        outside = [a for a in mine if a not in known]
        detail = "chain crosses accounts " + " -> ".join(mine)
        if outside:
            detail += f" (outside the case's accounts: {', '.join(outside)})"
        detail += "; first such hop in the case" if seen[pair] == 1 else f"; hop number {seen[pair]} like it"
        sev = "medium" if seen[pair] == 1 else "low"
        out.append(_row("cross-account-chain", sev, s, s["issued_at"], detail, [], s["issuing_event_ids"]))
    return out


def _iam_writes(src: EventSource, sess: pd.DataFrame) -> list[dict[str, Any]]:
    cand = sess[(sess["mfa_at_issue"] == False) & ~sess["kind"].isin(list(SERVICE_KINDS))]  # noqa: E712
    if cand.empty:
        return []
    q = attribution_query("session_id, event_source, event_name, read_only, is_error, event_time, event_id")
    found = rows(
        src.connection(),
        f"""
        WITH a AS ({q})
        SELECT session_id, count(*) AS n, count(*) FILTER (WHERE NOT coalesce(is_error, FALSE)) AS ok,
               list(DISTINCT event_name ORDER BY event_name) AS names, min(event_time) AS first,
               list(event_id ORDER BY event_time, event_id)[1:5] AS ids
        FROM a WHERE session_id IN (SELECT unnest(?::VARCHAR[]))
          AND event_source = 'iam.amazonaws.com' AND NOT {IS_READ}
        GROUP BY 1
        """,
        [cand["session_id"].tolist()],
    )
    recs = {r["session_id"]: r for r in records(cand)}
    out = []
    for r in found:
        detail = f"{r['n']} IAM write calls ({r['ok']} succeeded) without MFA: {', '.join(r['names'][:8])}"
        sev = "high" if r["ok"] else "medium"
        out.append(
            _row("iam-write-without-mfa", sev, recs[r["session_id"]], r["first"], detail, [], r["ids"])
        )
    return out


def flags(events: Events, *, kinds: Sequence[str] | None = None) -> pd.DataFrame:
    """Sessions worth a look, one row per flag with its evidence (``detail``, ``ips``, the
    first ``event_ids``). ``kinds`` picks flags among :data:`FLAGS`.

    Examples
    --------
    >>> flags(case, kinds=["new-network"])[["session_id", "origin", "detail"]]  # doctest: +SKIP
    """
    wanted = list(kinds) if kinds is not None else list(FLAGS)
    bad = [k for k in wanted if k not in FLAGS]
    if bad:
        raise QueryError(f"unknown flag {bad[0]!r}; flags are {', '.join(FLAGS)}")
    src, built = get(events)
    sess = built.sessions
    out: list[dict[str, Any]] = []
    if not sess.empty:
        steps = {
            "new-network": _new_network,
            "used-after-expiry": _expiry,
            "cross-account-chain": _cross_account,
            "iam-write-without-mfa": _iam_writes,
        }
        for k in wanted:
            out += steps[k](src, sess)
    df = pd.DataFrame(out, columns=list(FLAG_COLUMNS))
    df = utc_columns(df, "time")
    return df.sort_values(["time", "flag", "session_id"], kind="stable").reset_index(drop=True)
