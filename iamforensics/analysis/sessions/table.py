"""Run the build over a Case or a frame, and cache its results under ``CASE/derived/sessions``.

The cache key is the case's content (the manifest's ingest runs and the event files' names and
sizes) plus :data:`~.build.ALGORITHM_VERSION`, so a new ingest or a new algorithm rebuilds it.
Files: ``sessions.parquet`` (one row per session), ``keys.parquet`` / ``profiles.parquet`` /
``partners.parquet`` (the maps that attribute events: by key, by keyless profile, through the
other account's copy) and ``attribution.parquet`` (every event id with its session, for Spark,
Athena or anyone joining without this package).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ...case import Case
from ...errors import QueryError
from ...schema import SCHEMA_VERSION
from ...store import DERIVED, event_files
from .._base import EventSource, source
from . import _sql
from .build import (
    ALGORITHM_VERSION,
    FALLBACK_TOLERANCE_S,
    LIST_CAP,
    SERVICE_KINDS,
    SESSION_COLUMNS,
    choose,
    collapse_key_use,
    issued_sessions,
    link_identity_center,
    observed_session,
    prepare_issuances,
    profile_id,
    rows,
)
from .link import Link, ambiguous_origin, base_origin, walk

KEYS, PROFILES, PARTNERS = "_ifx_sess_keys", "_ifx_sess_profiles", "_ifx_sess_partners"
_USE, _PROF = "_ifx_sess_use", "_ifx_sess_prof"
FOLDER = "sessions"

_MAP_FIELDS = [
    pa.field("session_id", pa.string()),
    pa.field("attribution", pa.string()),
    pa.field("candidates", pa.list_(pa.string())),
    pa.field("origin", pa.string()),
    pa.field("origin_kind", pa.string()),
    pa.field("origin_key", pa.string()),
    pa.field("chain_depth", pa.int64()),
]
KEYS_SCHEMA = pa.schema([pa.field("key", pa.string()), *_MAP_FIELDS])
PROFILES_SCHEMA = pa.schema(
    [
        pa.field("p_account", pa.string()),
        pa.field("p_principal", pa.string()),
        pa.field("p_session", pa.string()),
        pa.field("p_created", pa.timestamp("us", tz="UTC")),
        *_MAP_FIELDS,
    ]
)
PARTNERS_SCHEMA = pa.schema(
    [pa.field("shared_event_id", pa.string()), pa.field("recipient_account_id", pa.string()), *_MAP_FIELDS]
)
_LIST_COLUMNS = (
    "issuing_event_ids",
    "keys_used",
    "parent_candidates",
    "chain_accounts",
    "ips",
    "user_agents",
    "regions",
)
_TIME_COLUMNS = ("issued_at", "expiration", "first_use", "last_use")


@dataclass
class Built:
    """Sessions and the attribution maps of one case (or frame)."""

    sessions: pd.DataFrame
    keys: pa.Table
    profiles: pa.Table
    partners: pa.Table
    fingerprint: str | None = None
    folder: Path | None = None


_MEMO: weakref.WeakKeyDictionary[Case, Built] = weakref.WeakKeyDictionary()


def _table(rows: list[dict[str, Any]], schema: pa.Schema) -> pa.Table:
    cols = {f.name: [r.get(f.name) for r in rows] for f in schema}
    return pa.Table.from_pydict(cols, schema=schema)


def register(src: EventSource, built: Built) -> None:
    """Make the maps joinable in ``src``'s connection under fixed names."""
    con = src.connection()
    con.register(KEYS, built.keys)
    con.register(PROFILES, built.profiles)
    con.register(PARTNERS, built.partners)


def attribution_query(select: str = "e.*") -> str:
    """SQL for every event with its session columns (after :func:`register`)."""
    return _sql.attribution_sql(KEYS, PROFILES, PARTNERS, select)


# -- building -----------------------------------------------------------------------------------

Resolution = tuple[str, str | None, list[str]]  # attribution, session id, candidates


def _map_row(res: Resolution, origins: dict[str, tuple[Any, ...]]) -> dict[str, Any]:
    attribution, sid, cands = res
    if sid is not None:
        o = origins.get(sid, (None, None, None, None))
        return {
            "session_id": sid,
            "attribution": attribution,
            "candidates": None,
            "origin": o[0],
            "origin_kind": o[1],
            "origin_key": o[2],
            "chain_depth": o[3],
        }
    origin, okind, okey, depth = ambiguous_origin(cands, origins)
    return {
        "session_id": None,
        "attribution": "ambiguous",
        "candidates": list(cands),
        "origin": origin,
        "origin_kind": okind,
        "origin_key": okey,
        "chain_depth": depth,
    }


def _resolve(cands: list[str]) -> Resolution:
    if len(cands) == 1:
        return "fallback", cands[0], []
    return "ambiguous", None, cands


def _pk(account: Any, principal: Any, session: Any, created: Any) -> tuple[Any, ...]:
    return (account, principal, session or "", created)


def _foreign_users(con: Any, principal_ids: list[str]) -> dict[str, str]:
    """IAM user ARNs for unique ids (AIDA...) seen as AWSAccount callers, when the case knows them."""
    if not principal_ids:
        return {}
    marks = ", ".join("?" * len(principal_ids))
    found = rows(
        con,
        "SELECT principal_id, min(user_arn) AS arn, count(DISTINCT user_arn) AS n FROM events "
        f"WHERE user_type = 'IAMUser' AND user_arn IS NOT NULL AND principal_id IN ({marks}) GROUP BY 1",
        principal_ids,
    )
    return {r["principal_id"]: r["arn"] for r in found if r["n"] == 1}


def _prim_link(
    prim: dict[str, Any],
    key_res: dict[str, Resolution],
    prof_res: dict[tuple[Any, ...], Resolution],
    foreign: dict[str, str],
) -> Link:
    """The parent of a session: whatever its issuing event (the caller's copy) is attributed to."""
    key = prim["access_key_id"]
    if key and key.startswith("ASIA") and key in key_res:
        att, sid, cands = key_res[key]
        return Link(att, sid, cands)
    if not key and prim["p_created"] is not None and prim["p_principal"]:
        if prim["user_type"] not in ("AWSAccount", "AWSService"):
            pk = _pk(prim["p_account"], prim["p_principal"], prim["p_session"], prim["p_created"])
            if pk in prof_res:
                att, sid, cands = prof_res[pk]
                return Link(att, sid, cands)
    account = prim["account_id"] if prim["user_type"] in ("AWSAccount", "IAMUser", "Root") else None
    return Link("none", base=base_origin(prim, foreign), account=account)


_USE_SCHEMA = pa.schema(
    [
        pa.field("row_id", pa.int64()),
        pa.field("p_account", pa.string()),
        pa.field("p_principal", pa.string()),
        pa.field("p_session", pa.string()),
        pa.field("p_created", pa.timestamp("us", tz="UTC")),
    ]
)
_PROF_SCHEMA = pa.schema([pa.field("session_id", pa.string()), *list(_USE_SCHEMA)[1:]])


def _candidates(con: Any, use: list[dict[str, Any]], prof: list[dict[str, Any]]) -> list[list[str]]:
    """Per use row, the issued sessions its profile matches (closest creation time; ties kept)."""
    if not use or not prof:
        return [[] for _ in use]
    con.register(_USE, _table([{**u, "row_id": i} for i, u in enumerate(use)], _USE_SCHEMA))
    con.register(_PROF, _table(prof, _PROF_SCHEMA))
    try:
        cands = rows(con, _sql.candidates_sql(_USE, _PROF, FALLBACK_TOLERANCE_S))
    finally:
        con.unregister(_USE)
        con.unregister(_PROF)
    return choose(cands, len(use))


def _idc(u: dict[str, Any]) -> str | None:
    return f"identitycenter:{u.get('idc_store') or ''}#{u['idc_user']}" if u.get("idc_user") else None


def build(events: Case | pd.DataFrame | EventSource) -> Built:
    """Build sessions and maps from scratch (no cache)."""
    src = source(events)
    con = src.connection()
    iss = prepare_issuances(rows(con, _sql.ISSUANCES))
    issued = link_identity_center(issued_sessions(iss))
    prof_rows = [
        {
            "session_id": s["session_id"],
            "p_account": s["account_id"],
            "p_principal": s["_principal"],
            "p_session": s["_p_session"],
            "p_created": s["issued_at"].replace(microsecond=0),
        }
        for s in issued
        if s["_principal"] and s["account_id"] and s["issued_at"] is not None
    ]
    issued_keys = {s["access_key_id"]: s["session_id"] for s in issued if s["access_key_id"]}
    idc_of: dict[str, set[str]] = {}

    # keys in use: exact when issued here, else fallback on the profile, else an observed session
    key_res: dict[str, Resolution] = {}
    observed: list[dict[str, Any]] = []
    used = collapse_key_use(rows(con, _sql.KEY_USE))
    rest = [u for u in used if u["key"] not in issued_keys]
    for u in used:
        if u["key"] in issued_keys:
            key_res[u["key"]] = ("exact-key", issued_keys[u["key"]], [])
    obs_prof = []
    for u, best in zip(rest, _candidates(con, rest, prof_rows), strict=True):
        if best:
            key_res[u["key"]] = _resolve(best)
        else:
            key_res[u["key"]] = ("exact-key", u["key"], [])
            observed.append(observed_session(u, u["key"], u["key"]))
            if u["p_created"] is not None and u["p_principal"] and u["p_account"]:
                obs_prof.append({"session_id": u["key"], **{c: u[c] for c in _sql.PROFILE_COLUMNS}})
    mfa_ev: dict[str, list[bool]] = {}
    for u in used:
        sid = key_res[u["key"]][1]
        if sid and _idc(u):
            idc_of.setdefault(sid, set()).add(str(_idc(u)))
        if sid and u["mfa_any"] is not None:
            mfa_ev.setdefault(sid, []).append(bool(u["mfa_any"]))

    # keyless events with a profile: issued sessions and keyed observed sessions are candidates
    kl = rows(con, _sql.KEYLESS_USE)
    for u in kl:
        u["p_session"] = u["p_session"] or ""
    prof_res: dict[tuple[Any, ...], Resolution] = {}
    for u, best in zip(kl, _candidates(con, kl, prof_rows + obs_prof), strict=True):
        pk = _pk(u["p_account"], u["p_principal"], u["p_session"], u["p_created"])
        if best:
            prof_res[pk] = _resolve(best)
        else:
            sid = profile_id(u)
            prof_res[pk] = ("fallback", sid, [])
            observed.append(observed_session(u, sid, None))
        if prof_res[pk][1] and _idc(u):
            idc_of.setdefault(str(prof_res[pk][1]), set()).add(str(_idc(u)))
        if prof_res[pk][1] and u["mfa_any"] is not None:
            mfa_ev.setdefault(str(prof_res[pk][1]), []).append(bool(u["mfa_any"]))

    # parents, then the walk up to the origins
    foreign = _foreign_users(
        con,
        sorted(
            {
                str(s["_primary"]["principal_id"])
                for s in issued
                if s["_primary"]["user_type"] == "AWSAccount"
                and str(s["_primary"]["principal_id"] or "").startswith("AIDA")
            }
        ),
    )
    nodes: dict[str, Link] = {}
    for s in issued:
        ln = _prim_link(s["_primary"], key_res, prof_res, foreign)
        if ln.link == "none" and ln.base is not None:
            ln.base = _idc_base(s, ln.base, idc_of)
        nodes[s["session_id"]] = ln
    for ob in observed:
        nodes[ob["session_id"]] = Link("none", base=ob["_base"])
    origins = walk(nodes, {s["session_id"]: s["account_id"] for s in issued + observed})
    mfa = _mfa(issued + observed, nodes, mfa_ev)

    # failed issuing calls, counted on the session that made them
    failed: dict[str, int] = {}
    for prim in iss:
        if prim["failed"]:
            parent = _prim_link(prim, key_res, prof_res, foreign).parent
            if parent:
                failed[parent] = failed.get(parent, 0) + 1

    out = []
    for sd in issued + observed:
        sid = sd["session_id"]
        ln = nodes[sid]
        o, okind, okey, depth, accts = origins[sid]
        row = {c: sd.get(c) for c in SESSION_COLUMNS}
        row.update(
            parent_session_id=ln.parent if ln.link in ("exact-key", "fallback") else None,
            parent_link=ln.link,
            parent_candidates=list(ln.candidates) if ln.link == "ambiguous" else [],
            origin=o,
            origin_kind=okind,
            origin_key=okey,
            chain_depth=depth,
            chain_accounts=accts,
            crosses_accounts=len(set(accts)) > 1,
            failed_issues=failed.get(sid, 0),
            mfa_at_issue=mfa.get(sid),
        )
        out.append(row)
    flat = {sid: o[:4] for sid, o in origins.items()}
    keys = _table([{"key": k, **_map_row(r, flat)} for k, r in key_res.items()], KEYS_SCHEMA)
    profiles = _table(
        [
            {
                "p_account": pk[0],
                "p_principal": pk[1],
                "p_session": pk[2],
                "p_created": pk[3],
                **_map_row(r, flat),
            }
            for pk, r in prof_res.items()
        ],
        PROFILES_SCHEMA,
    )
    built = Built(pd.DataFrame(), keys, profiles, PARTNERS_SCHEMA.empty_table())
    register(src, built)
    built.partners = _partners(src)
    register(src, built)
    built.sessions = _with_stats(src, out)
    return built


def _mfa(sessions: list[dict[str, Any]], nodes: dict[str, Link], ev: dict[str, list[bool]]) -> dict[str, Any]:
    """MFA at issue: what the session's own events say (``mfaAuthenticated``, stamped by AWS),
    else the issuing call (MFAUsed, serialNumber), else, for a role assumed by a session
    without an MFA code, the MFA of that parent session (it carries over, cloudtrail-reference §5).
    Federated and service sessions stay unknown: AWS cannot see an IdP's MFA."""
    by_id = {s["session_id"]: s for s in sessions}
    out: dict[str, Any] = {}

    def own(s: dict[str, Any]) -> tuple[bool, Any]:
        if s["kind"] in SERVICE_KINDS or s["kind"] in ("saml", "identity-center", "web-identity"):
            return True, None
        if ev.get(s["session_id"]):
            return True, any(ev[s["session_id"]])
        prim = s.get("_primary")
        ln = nodes.get(s["session_id"])
        if prim and not prim["serial_number"] and ln and ln.link in ("exact-key", "fallback") and ln.parent:
            return False, None  # inherit from the parent
        return True, s["mfa_at_issue"]

    for sid0 in by_id:
        path, sid = [], sid0
        value: Any = None
        while sid is not None and sid not in out:
            if sid in path:  # a loop: nothing to inherit
                break
            path.append(sid)
            final, value = own(by_id[sid])
            if final:
                break
            parent = nodes[sid].parent
            sid = parent if parent in by_id else None
        else:
            value = out.get(sid) if sid is not None else None
        for p in path:
            out[p] = value
    return out


def _idc_base(
    s: dict[str, Any], base: tuple[str, str, str | None, int | None], idc_of: dict[str, set[str]]
) -> tuple[str, str, str | None, int | None]:
    """Identity Center: the user behind GetRoleCredentials, else the onBehalfOf the session's
    own events carry (AWS stamps it), rather than the SAML subject."""
    if s.get("_idc_origin"):
        return str(s["_idc_origin"]), "identity-center-user", None, 1
    amb = s.get("_idc_ambiguous")
    if amb:
        return "ambiguous: " + " | ".join(amb), "ambiguous", None, None
    users = idc_of.get(s["session_id"], set())
    if len(users) == 1 and base[1] in ("idp-saml", "unknown"):
        return next(iter(users)), "identity-center-user", None, 1
    return base


def _partners(src: EventSource) -> pa.Table:
    """Attribution of the caller's copy of each cross-account event, by sharedEventID."""
    q = attribution_query(
        "shared_event_id, recipient_account_id, event_id, user_type, session_id, attribution, candidates, "
        "origin, origin_kind, origin_key, chain_depth"
    )
    found = rows(
        src.connection(),
        f"""
        WITH a AS ({q})
        SELECT * EXCLUDE (event_id, user_type, rn) FROM (
            SELECT *, row_number() OVER (PARTITION BY shared_event_id ORDER BY event_id) AS rn FROM a
            WHERE shared_event_id IN (SELECT shared_event_id FROM events
                                      WHERE user_type = 'AWSAccount' AND shared_event_id IS NOT NULL)
              AND user_type IS DISTINCT FROM 'AWSAccount' AND origin IS NOT NULL
        ) WHERE rn = 1
        """,
    )
    return _table(found, PARTNERS_SCHEMA)


def _with_stats(src: EventSource, sessions: list[dict[str, Any]]) -> pd.DataFrame:
    """First/last use, counts, IPs, user agents and regions of every session's events."""
    cap = int(LIST_CAP)
    q = attribution_query(
        "session_id, user_type, event_time, is_error, source_ip, user_agent, aws_region, access_key_id"
    )
    stats = {
        r["session_id"]: r
        for r in rows(
            src.connection(),
            f"""
        WITH a AS ({q})
        SELECT session_id, count(*) AS events, count(*) FILTER (WHERE is_error) AS errors,
               min(event_time) AS first_use, max(event_time) AS last_use,
               list_slice(list(DISTINCT source_ip ORDER BY source_ip)
                          FILTER (WHERE source_ip IS NOT NULL), 1, {cap}) AS ips,
               count(DISTINCT source_ip) AS ip_count,
               list_slice(list(DISTINCT user_agent ORDER BY user_agent)
                          FILTER (WHERE user_agent IS NOT NULL), 1, {cap}) AS user_agents,
               count(DISTINCT user_agent) AS user_agent_count,
               list(DISTINCT aws_region ORDER BY aws_region) FILTER (WHERE aws_region IS NOT NULL) AS regions,
               list_slice(list(DISTINCT access_key_id ORDER BY access_key_id)
                          FILTER (WHERE {_sql.VALID_KEY}), 1, {cap}) AS keys_used
        FROM a WHERE session_id IS NOT NULL AND user_type IS DISTINCT FROM 'AWSAccount'
        GROUP BY session_id
        """,
        )
    }
    empty = {"events": 0, "errors": 0, "ip_count": 0, "user_agent_count": 0}
    for s in sessions:
        st = stats.get(s["session_id"], empty)
        for c in ("events", "errors", "ip_count", "user_agent_count", "first_use", "last_use"):
            s[c] = st.get(c)
        for c in ("ips", "user_agents", "regions", "keys_used"):
            s[c] = list(st.get(c) or [])
    return _finish(pd.DataFrame(sessions, columns=list(SESSION_COLUMNS)))


def _finish(df: pd.DataFrame) -> pd.DataFrame:
    """Column types: UTC times, nullable ints and booleans, lists as lists; sorted by issue time."""
    for c in _TIME_COLUMNS:
        df[c] = pd.to_datetime(df[c], utc=True)
    for c in ("chain_depth",):
        df[c] = pd.array(df[c].tolist(), dtype="Int64")
    for c in ("events", "errors", "ip_count", "user_agent_count", "failed_issues"):
        df[c] = pd.to_numeric(df[c]).fillna(0).astype("int64")
    for c in ("mfa_at_issue",):
        df[c] = pd.array([None if pd.isna(v) else bool(v) for v in df[c]], dtype="boolean")
    for c in ("observed_only", "crosses_accounts"):
        df[c] = df[c].fillna(False).astype(bool)
    for c in _LIST_COLUMNS:
        df[c] = [
            v.tolist() if hasattr(v, "tolist") else list(v) if isinstance(v, list | tuple) else []
            for v in df[c]
        ]
    order = df["issued_at"].fillna(df["first_use"])
    df = df.assign(_o=order).sort_values(["_o", "session_id"], kind="stable", na_position="last")
    return df.drop(columns="_o").reset_index(drop=True)


# -- the cache ------------------------------------------------------------------------------------


def fingerprint(case: Case) -> str:
    """Content key of a case: its ingest runs and event files (name and size), and the algorithm."""
    runs = [r.get("run_id") for r in case.manifest.get("runs", [])]
    files = [(str(p.relative_to(case.path)), p.stat().st_size) for p in event_files(case.path)]
    text = json.dumps({"v": ALGORITHM_VERSION, "schema": SCHEMA_VERSION, "runs": runs, "files": files})
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _write(case: Case, built: Built, fp: str) -> Path | None:
    """Write the cache atomically (a finished folder appears at once); None if not writable."""
    root = case.path / DERIVED / FOLDER
    final = root / fp
    tmp = root / f".{fp}-{uuid.uuid4().hex[:8]}.tmp"
    try:
        tmp.mkdir(parents=True, exist_ok=False)
        sess = built.sessions.copy()
        pq.write_table(pa.Table.from_pandas(sess, preserve_index=False), tmp / "sessions.parquet")
        pq.write_table(built.keys, tmp / "keys.parquet")
        pq.write_table(built.profiles, tmp / "profiles.parquet")
        pq.write_table(built.partners, tmp / "partners.parquet")
        target = str(tmp / "attribution.parquet").replace("'", "''")
        src = source(case)
        select = "event_id, event_time, session_id, attribution, candidates, origin, origin_kind, origin_key, chain_depth"
        src.connection().execute(
            f"COPY ({attribution_query(select)}) TO '{target}' (FORMAT parquet, COMPRESSION zstd)"
        )
        (tmp / "meta.json").write_text(
            json.dumps({"fingerprint": fp, "algorithm": ALGORITHM_VERSION, "sessions": len(sess)})
        )
        try:
            os.rename(tmp, final)
        except OSError:  # another process finished first: keep its copy
            shutil.rmtree(tmp, ignore_errors=True)
        for old in root.iterdir():
            if old.name != fp and not old.name.startswith("."):
                shutil.rmtree(old, ignore_errors=True)
        return final
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        return None


def _read(folder: Path, fp: str) -> Built | None:
    try:
        meta = json.loads((folder / "meta.json").read_text())
        if meta.get("fingerprint") != fp or meta.get("algorithm") != ALGORITHM_VERSION:
            return None
        sess = pq.read_table(folder / "sessions.parquet").to_pandas()
        keys = pq.read_table(folder / "keys.parquet", schema=KEYS_SCHEMA)
        profiles = pq.read_table(folder / "profiles.parquet", schema=PROFILES_SCHEMA)
        partners = pq.read_table(folder / "partners.parquet", schema=PARTNERS_SCHEMA)
    except (OSError, ValueError, pa.ArrowException):
        return None
    return Built(_finish(sess), keys, profiles, partners, fp, folder)


def get(events: Case | pd.DataFrame | EventSource, *, rebuild: bool = False) -> tuple[EventSource, Built]:
    """The source and its sessions: from memory, the case's cache, or built (and cached)."""
    src = source(events)
    case = src.case
    if case is None:
        built = build(src)
        return src, built
    fp = fingerprint(case)
    memo = _MEMO.get(case)
    if memo is not None and memo.fingerprint == fp and not rebuild:
        register(src, memo)
        return src, memo
    folder = case.path / DERIVED / FOLDER / fp
    cached = None if rebuild else _read(folder, fp)
    if cached is None:
        built = build(src)
        built.fingerprint = fp
        built.folder = _write(case, built, fp)
        cached = built
    register(src, cached)
    _MEMO[case] = cached
    return src, cached


def require_columns(df: pd.DataFrame, cols: tuple[str, ...]) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise QueryError(f"missing column(s): {', '.join(missing)}")
