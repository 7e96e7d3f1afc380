"""Build the sessions table and the maps that attribute every event to a session.

Steps (all whole-case work in DuckDB; Python only sees issuing events, distinct keys and
distinct keyless profiles, which are orders of magnitude fewer than events):

1. Issuing events (§4.1 of cloudtrail-reference): AssumeRole*, GetSessionToken,
   GetFederationToken, AssumeRoot, ConsoleLogin of IAM users and root, Identity Center
   GetRoleCredentials. Copies of one issuance (the caller's and the role owner's copy of a
   cross-account AssumeRole) are merged by the issued key, else by sharedEventID.
2. Temporary keys in use: a key issued in the case links exactly; otherwise its events' profile
   (account, principal, session name, creationDate) is matched against the issuances (the
   fallback, §4.2 key 2); two matches are ambiguous; none makes an *observed* session.
3. Keyless events with a profile (console switch-role, Identity Center) link the same way.
4. Each session's parent is the session its issuing event was made with; a walk up the parents
   gives the origin (the long-term identity at the root), the chain depth and the accounts crossed
   (:mod:`.link`). :mod:`.table` runs the steps and caches the result.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from typing import Any

import pandas as pd

from ...timeparse import parse_time
from . import _sql

#: Version of the algorithm: part of the cache key, so a change rebuilds cached tables.
ALGORITHM_VERSION = 1
#: creationDate may fall a second before the issuing event's eventTime (the call completes
#: after the credentials exist) or after it; the closest match wins, ties are ambiguous.
FALLBACK_TOLERANCE_S = 1
#: Identity Center: the member account's AssumeRoleWithSAML follows GetRoleCredentials.
IDC_WINDOW_S = 60
#: IPs and user agents listed per session (counts are exact).
LIST_CAP = 20

#: Default lifetimes (STS API reference) when neither the response nor the request says.
DEFAULT_DURATION_S = {
    "AssumeRole": 3600,
    "AssumeRoleWithSAML": 3600,
    "AssumeRoleWithWebIdentity": 3600,
    "GetSessionToken": 43200,
    "GetFederationToken": 43200,
    "AssumeRoot": 900,
    "ConsoleLogin": 43200,
}

KINDS: tuple[str, ...] = (
    "assume-role",
    "switch-role",
    "saml",
    "identity-center",
    "web-identity",
    "session-token",
    "federation-token",
    "assume-root",
    "console",
    "instance-profile",
    "service-delivered",
    "observed",
)
SERVICE_KINDS = frozenset({"instance-profile", "service-delivered"})

SESSION_COLUMNS: tuple[str, ...] = (
    "session_id",
    "kind",
    "observed_only",
    "issuing_event_id",
    "issuing_event_ids",
    "issuing_event_name",
    "issued_at",
    "expiration",
    "expiration_source",
    "access_key_id",
    "keys_used",
    "account_id",
    "role_arn",
    "principal_arn",
    "session_name",
    "source_identity",
    "mfa_at_issue",
    "issuer_actor",
    "issuer_key",
    "issuer_type",
    "issuer_ip",
    "parent_session_id",
    "parent_link",
    "parent_candidates",
    "origin",
    "origin_kind",
    "origin_key",
    "chain_depth",
    "chain_accounts",
    "crosses_accounts",
    "first_use",
    "last_use",
    "events",
    "errors",
    "ips",
    "ip_count",
    "user_agents",
    "user_agent_count",
    "regions",
    "failed_issues",
)

MAP_COLUMNS: tuple[str, ...] = (
    "session_id",
    "attribution",
    "candidates",
    "origin",
    "origin_kind",
    "origin_key",
    "chain_depth",
)

_ROLE_ARN = re.compile(r"^arn:([\w-]+):iam::([^:]*):role/(?:.*/)?([^/]+)$")
_ASSUMED_ARN = re.compile(r"^arn:([\w-]+):sts::([^:]*):assumed-role/([^/]+)/(.+)$")
_ACCOUNT = re.compile(r"(\d{12})")
_SERVICE_ROLE = re.compile(r":role/aws-service-role/([^/]+)/")


def rows(con: Any, query: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    """Query results as plain Python rows (None for nulls, aware datetimes, lists): row-level
    logic never sees pandas' NaN/NaT stand-ins."""
    import duckdb

    from ...errors import QueryError

    try:
        return con.sql(query, params=params or None).to_arrow_table().to_pylist()  # type: ignore[no-any-return]
    except duckdb.Error as exc:
        raise QueryError(f"query failed: {exc}") from None


def _none(v: Any) -> Any:
    if isinstance(v, list | tuple | dict):
        return v
    ndim = getattr(v, "ndim", None)
    if ndim and hasattr(v, "tolist"):
        return v.tolist()
    try:
        return None if v is None or bool(v != v) or v is pd.NA or v is pd.NaT else v
    except (TypeError, ValueError):
        return v


def records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows of a frame with None for every missing value (pandas writes NaN, NaT or NA)."""
    return [{str(k): _none(v) for k, v in r.items()} for r in df.to_dict("records")]


def account_of_arn(arn: str | None) -> str | None:
    """The account id of an IAM/STS ARN (``arn:aws:iam::123456789012:user/x`` -> the id)."""
    if not arn or not arn.startswith("arn:"):
        return None
    parts = arn.split(":")
    return (parts[4] or None) if len(parts) > 5 else None


def _second(t: dt.datetime | None) -> dt.datetime | None:
    return t.replace(microsecond=0) if t is not None else None


# -- issuing events -> sessions ---------------------------------------------------------------


def _kind(r: dict[str, Any]) -> str:
    name = r["event_name"]
    if name == "ConsoleLogin":
        return "console"
    if name == "GetRoleCredentials":
        return "identity-center"
    if name == "AssumeRole":
        if r["user_type"] == "AWSService" or (r["user_type"] is None and r["invoked_by"]):
            return "instance-profile" if r["invoked_by"] == "ec2.amazonaws.com" else "service-delivered"
        if (r["source_ip_address"] or "").startswith("AWS Internal"):
            return "switch-role"
        return "assume-role"
    if name == "AssumeRoleWithSAML":
        return "identity-center" if ":saml-provider/AWSSSO_" in (r["saml_provider_arn"] or "") else "saml"
    return {
        "AssumeRoleWithWebIdentity": "web-identity",
        "GetSessionToken": "session-token",
        "GetFederationToken": "federation-token",
        "AssumeRoot": "assume-root",
    }[name]


def _issued_identity(r: dict[str, Any]) -> dict[str, Any]:
    """Account, principal, session name and ARNs of the credentials one issuing event created."""
    name, utype = r["event_name"], r["user_type"]
    out: dict[str, Any] = {"s_account": None, "s_principal": None, "s_session": "", "role_arn": None}
    out["principal_arn"] = None
    if name.startswith("AssumeRole"):
        role_arn = r["res_role_arn"] or r["req_role_arn"]
        m = _ROLE_ARN.match(role_arn or "")
        a = _ASSUMED_ARN.match(r["assumed_role_arn"] or "")
        if m:
            out["s_account"], out["s_principal"] = m.group(2) or None, f"role/{m.group(3)}"
            out["role_arn"] = role_arn
        elif a:
            out["s_account"], out["s_principal"] = a.group(2) or None, f"role/{a.group(3)}"
        out["s_session"] = r["req_session_name"] or (a.group(4) if a else "") or ""
        if r["assumed_role_arn"]:
            out["principal_arn"] = r["assumed_role_arn"]
        elif m and out["s_session"]:
            out["principal_arn"] = (
                f"arn:{m.group(1)}:sts::{m.group(2)}:assumed-role/{m.group(3)}/{out['s_session']}"
            )
    elif name in ("GetSessionToken", "ConsoleLogin"):
        out["s_account"] = r["account_id"] or r["recipient_account_id"]
        if utype == "Root":
            out["s_principal"] = "root"
        elif utype == "IAMUser":
            uname = r["user_name"] or ((r["user_arn"] or "").rsplit("/", 1)[-1] or None)
            out["s_principal"] = f"user/{uname}" if uname else None
        out["principal_arn"] = r["actor"]
    elif name == "GetFederationToken":
        out["s_account"] = r["account_id"] or r["recipient_account_id"]
        out["s_principal"] = f"federated-user/{r['fed_name']}" if r["fed_name"] else None
        out["principal_arn"] = r["federated_arn"] or (
            f"arn:aws:sts::{out['s_account']}:federated-user/{r['fed_name']}" if r["fed_name"] else None
        )
    elif name == "AssumeRoot":
        m2 = _ACCOUNT.search(r["target_principal"] or "")
        out["s_account"] = m2.group(1) if m2 else None
        out["s_principal"] = "root" if out["s_account"] else None
        out["principal_arn"] = f"arn:aws:iam::{out['s_account']}:root" if out["s_account"] else None
    elif name == "GetRoleCredentials":
        out["s_account"] = r["idc_account_id"]
    return out


def _mfa_at_issue(r: dict[str, Any], kind: str) -> bool | None:
    if kind in ("saml", "identity-center", "web-identity") or kind in SERVICE_KINDS:
        return None  # an IdP's MFA is invisible to AWS; services have none (cloudtrail-reference §5)
    if r["event_name"] == "ConsoleLogin":
        return r["mfa_used"]
    if r["serial_number"]:
        return True
    return None if r["user_type"] == "AWSAccount" else False  # the other account's MFA is not shown


def _duration(text: str | None) -> int | None:
    try:
        return int(float(text)) if text else None
    except (ValueError, OverflowError):
        return None


def _expiration(r: dict[str, Any]) -> tuple[dt.datetime | None, str | None]:
    t = _second(r["event_time"])
    exp = parse_time(r["expiration_text"]) if r["expiration_text"] else None
    if exp is not None:
        return exp, "response"
    dur = _duration(r["duration_text"])
    try:
        if dur is not None and t is not None:
            return t + dt.timedelta(seconds=dur), "duration"
        default = DEFAULT_DURATION_S.get(r["event_name"])
        if default is not None and t is not None:
            return t + dt.timedelta(seconds=default), "default"
    except OverflowError:
        pass
    return None, None


def prepare_issuances(raw: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Issuing events with the identity of the credentials each one created and its group."""
    out: list[dict[str, Any]] = []
    for r0 in raw:
        r: dict[str, Any] = {k: (v or None) if isinstance(v, str) else v for k, v in r0.items()}
        r["p_session"] = r["p_session"] or ""
        r["kind"] = _kind(r)
        r.update(_issued_identity(r))
        r["mfa_issue"] = _mfa_at_issue(r, r["kind"])
        r["expiration"], r["expiration_source"] = _expiration(r)
        r["failed"] = bool(r["is_error"])
        out.append(r)
    # Copies of one issuance: the same issued key, else the same sharedEventID (AssumeRole in the
    # caller's and in the role owner's account); failed calls never issue anything.
    key_of_shared: dict[str, str] = {}
    for r in out:
        if (
            not r["failed"]
            and r["issued_key"]
            and r["shared_event_id"]
            and r["event_name"].startswith("AssumeRole")
        ):
            key_of_shared.setdefault(r["shared_event_id"], r["issued_key"])
    for r in out:
        if r["failed"]:
            r["group"] = None
        elif r["issued_key"]:
            r["group"] = f"key:{r['issued_key']}"
        elif r["shared_event_id"] and r["event_name"].startswith("AssumeRole"):
            k = key_of_shared.get(r["shared_event_id"])
            r["group"] = f"key:{k}" if k else f"shared:{r['shared_event_id']}"
        else:
            r["group"] = f"evt:{r['event_id']}"
    return out


def _session_id(prim: dict[str, Any], key: str | None) -> str:
    if key:
        return key
    prefix = {"console": "console", "identity-center": "sso"}.get(prim["kind"], "issue")
    return f"{prefix}:{prim['event_id']}"


def issued_sessions(iss: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One session per group of successful issuing copies."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in iss:
        if r["group"] is not None:
            groups.setdefault(r["group"], []).append(r)
    out = []
    for g in groups.values():
        # the caller's copy (never the AWSAccount view) is the primary one
        g.sort(key=lambda r: (r["user_type"] == "AWSAccount", r["event_time"], r["event_id"]))
        prim = g[0]
        key = next((r["issued_key"] for r in g if r["issued_key"]), None)

        def first(col: str, g: list[dict[str, Any]] = g) -> Any:
            return next((r[col] for r in g if r[col]), None)

        kind = "switch-role" if any(r["kind"] == "switch-role" for r in g) else prim["kind"]
        out.append(
            {
                "session_id": _session_id(prim, key),
                "kind": kind,
                "observed_only": False,
                "issuing_event_id": prim["event_id"],
                "issuing_event_ids": [r["event_id"] for r in g],
                "issuing_event_name": prim["event_name"],
                "issued_at": prim["event_time"],
                "expiration": prim["expiration"],
                "expiration_source": prim["expiration_source"],
                "access_key_id": key,
                "account_id": first("s_account"),
                "role_arn": first("role_arn"),
                "principal_arn": first("principal_arn"),
                "session_name": prim["s_session"]
                or (prim["fed_name"] if kind == "federation-token" else None),
                "source_identity": prim["req_source_identity"] or prim["source_identity"],
                "mfa_at_issue": prim["mfa_issue"],
                "issuer_actor": prim["actor"],
                "issuer_key": prim["access_key_id"],
                "issuer_type": prim["user_type"],
                "issuer_ip": prim["source_ip_address"],
                "_principal": first("s_principal"),
                "_p_session": prim["s_session"] or "",
                "_primary": prim,
            }
        )
    return out


def link_identity_center(sess: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Merge GetRoleCredentials into the member account's AssumeRoleWithSAML it caused.

    No field ties the two (cloudtrail-reference §4.7): the account, the permission set's role
    name (``AWSReservedSSO_<set>_<hash>``) and the time do. Several Identity Center users in
    the window make the SAML session's origin ambiguous (never guessed).
    """
    grc = [s for s in sess if s["issuing_event_name"] == "GetRoleCredentials"]
    saml = [
        s for s in sess if s["issuing_event_name"] == "AssumeRoleWithSAML" and s["kind"] == "identity-center"
    ]
    if not grc or not saml:
        return sess
    used: set[str] = set()
    for s in sorted(saml, key=lambda s: s["issued_at"]):
        role_name = (s["_principal"] or "").removeprefix("role/")
        cands = []
        for g in grc:
            set_name = g["_primary"]["idc_role_name"] or ""
            if g["session_id"] in used or g["account_id"] != s["account_id"] or not set_name:
                continue
            if not role_name.startswith(f"AWSReservedSSO_{set_name}_"):
                continue
            delta = (s["issued_at"] - g["issued_at"]).total_seconds()
            if 0 <= delta <= IDC_WINDOW_S:
                cands.append((delta, g["session_id"], g))
        if not cands:
            continue
        cands.sort(key=lambda c: (c[0], c[1]))
        users = sorted({c[2]["issuer_actor"] for c in cands if c[2]["issuer_actor"]})
        if len(users) == 1:
            g = cands[0][2]
            used.add(g["session_id"])
            s["issuing_event_ids"] = s["issuing_event_ids"] + g["issuing_event_ids"]
            s["_idc_origin"] = users[0]
        elif users:
            s["_idc_ambiguous"] = users
    return [s for s in sess if s["session_id"] not in used]


# -- keys and profiles -> sessions ---------------------------------------------------------------


def collapse_key_use(ku: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per key: the profile most of its events carry (events without creationDate,
    e.g. some data events, do not override it), with counts over all its events."""
    by_key: dict[str, list[dict[str, Any]]] = {}
    for r in ku:
        by_key.setdefault(r["key"], []).append(r)
    out = []
    for key in sorted(by_key):
        g = sorted(by_key[key], key=lambda r: (r["p_created"] is None, -r["n"]))
        row = dict(g[0])
        row["n"] = sum(r["n"] for r in g)
        row["first_use"] = min(r["first_use"] for r in g)
        row["last_use"] = max(r["last_use"] for r in g)
        known = [r["mfa_any"] for r in g if r["mfa_any"] is not None]
        row["mfa_any"] = any(known) if known else None
        row["p_session"] = row["p_session"] or ""
        out.append(row)
    return out


def choose(cands: list[dict[str, Any]], n_rows: int) -> list[list[str]]:
    """Per use row, the candidate sessions at the smallest time difference (sorted)."""
    best: list[tuple[float, list[str]]] = [(float("inf"), []) for _ in range(n_rows)]
    for c in cands:
        i, d = int(c["row_id"]), float(c["diff"])
        if d < best[i][0]:
            best[i] = (d, [c["session_id"]])
        elif d == best[i][0] and c["session_id"] not in best[i][1]:
            best[i][1].append(c["session_id"])
    return [sorted(b[1]) for b in best]


def _observed_kind(u: dict[str, Any]) -> str:
    issuer = u.get("issuer_arn") or ""
    if u.get("ec2_role_delivery") or issuer.endswith(":role/aws:ec2-instance"):
        return "instance-profile"
    if u.get("scope_issuer_type") or _SERVICE_ROLE.search(issuer):
        return "service-delivered"
    if u.get("idc_user") or ":role/aws-reserved/sso.amazonaws.com/" in issuer:
        return "identity-center"
    if u.get("user_type") == "FederatedUser":
        return "federation-token"
    return "observed"


def observed_origin(u: dict[str, Any], kind: str) -> tuple[str, str, str | None, int | None]:
    """(origin, origin_kind, origin_key, chain_depth) of a session seen only through its use.

    Only what AWS stamps on the events counts: ec2RoleDelivery, inScopeOf, a service-linked
    role's path, onBehalfOf, a federated user's session issuer, an IAM user's own session.
    """
    issuer = u.get("issuer_arn") or ""
    if kind == "instance-profile":
        return "ec2.amazonaws.com", "aws-service", None, 1
    if kind == "service-delivered":
        m = _SERVICE_ROLE.search(issuer)
        if m:
            return m.group(1), "aws-service", None, 1
        scope = u.get("scope_issuer_type") or ""
        svc = scope.split("::")[1].lower() if scope.count("::") >= 2 else "aws-service"
        return f"{svc}.amazonaws.com", "aws-service", None, 1
    if kind == "identity-center":
        if u.get("idc_user"):  # onBehalfOf, stamped by AWS on the session's calls
            return (
                f"identitycenter:{u.get('idc_store') or ''}#{u['idc_user']}",
                "identity-center-user",
                None,
                1,
            )
        return (
            "unknown: Identity Center session whose GetRoleCredentials / AssumeRoleWithSAML is not in the case",
            "unknown",
            None,
            None,
        )
    utype = u.get("user_type")
    if utype == "FederatedUser" and issuer:
        return issuer, ("root" if u.get("issuer_type") == "Root" else "iam-user"), None, 1
    if utype == "IAMUser" and u.get("user_arn"):
        return str(u["user_arn"]), "iam-user", None, 1
    if utype == "Root":
        why = "AssumeRoot session" if u.get("assumed_root") else "root session"
        return (
            f"unknown: {why} whose issuing event (console sign-in, GetSessionToken or AssumeRoot) "
            "is not in the case",
            "unknown",
            None,
            None,
        )
    why = "unknown: issuing event not in the case"
    if u.get("source_identity"):
        why += f" (sourceIdentity {u['source_identity']})"
    return why, "unknown", None, None


def observed_session(u: dict[str, Any], session_id: str, key: str | None) -> dict[str, Any]:
    kind = _observed_kind(u)
    principal = u.get("p_principal") or ""
    return {
        "session_id": session_id,
        "kind": kind,
        "observed_only": True,
        "issuing_event_id": None,
        "issuing_event_ids": [],
        "issuing_event_name": None,
        "issued_at": u.get("p_created"),
        "expiration": None,
        "expiration_source": None,
        "access_key_id": key,
        "account_id": u.get("p_account"),
        "role_arn": u.get("issuer_arn") if principal.startswith("role/") else None,
        "principal_arn": u.get("user_arn"),
        "session_name": u.get("session_name") or (u.get("p_session") or None),
        "source_identity": u.get("source_identity"),
        "mfa_at_issue": None if kind in SERVICE_KINDS or kind == "identity-center" else u.get("mfa_any"),
        "issuer_actor": None,
        "issuer_key": None,
        "issuer_type": None,
        "issuer_ip": None,
        "_principal": principal or None,
        "_p_session": u.get("p_session") or "",
        "_primary": None,
        "_base": observed_origin(u, kind),
    }


def profile_id(row: dict[str, Any]) -> str:
    """A short stable id for a keyless observed session (hash of its profile)."""
    text = "\x1f".join(str(row.get(c) or "") for c in _sql.PROFILE_COLUMNS)
    return "observed:" + hashlib.sha256(text.encode()).hexdigest()[:16]
