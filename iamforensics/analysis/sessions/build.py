"""Build the sessions table and the maps that attribute every event to a session.

Steps (whole-case work in DuckDB, :mod:`.steps`; Python walks the parents and pairs Identity
Center calls, on rows far fewer than the events):

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

import bisect
import datetime as dt
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa

from ...timeparse import parse_time
from . import steps

#: Version of the algorithm: part of the cache key, so a change rebuilds cached tables.
ALGORITHM_VERSION = 3
#: creationDate may fall a second before the issuing event's eventTime (the call completes
#: after the credentials exist) or after it; the closest match wins, ties are ambiguous.
FALLBACK_TOLERANCE_S = 1
#: Identity Center: the member account's AssumeRoleWithSAML follows GetRoleCredentials.
IDC_WINDOW_S = 60
#: IPs and user agents listed per session (counts are exact).
LIST_CAP = 20
#: DuckDB memory while building: it spills to a temporary folder past this, so a 10M-event
#: case builds in a few GB (the case connection's own setting is restored afterwards).
BUILD_MEMORY = "1GB"

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


# -- Identity Center: GetRoleCredentials -> AssumeRoleWithSAML -------------------------------------


def pair_identity_center(grc: list[dict[str, Any]], saml: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Pair each member account's AssumeRoleWithSAML with the GetRoleCredentials that caused it.

    No field ties the two (cloudtrail-reference §4.7): the account, the permission set's role
    name (``AWSReservedSSO_<set>_<hash>``) and the time do. In time order, a SAML session takes
    the nearest earlier unused call within :data:`IDC_WINDOW_S`; when the calls in the window
    come from several Identity Center users, its origin is ambiguous (never guessed).
    Returns ``{saml, grc, grc_event_ids, origin, ambiguous}`` rows.
    """
    by_key: dict[tuple[Any, str], list[dict[str, Any]]] = {}
    for g in sorted(grc, key=lambda g: (g["issued_at"], g["session_id"])):
        if g["idc_role_name"] and g["account_id"]:
            by_key.setdefault((g["account_id"], g["idc_role_name"]), []).append(g)
    times = {k: [c["issued_at"] for c in calls] for k, calls in by_key.items()}
    used: set[str] = set()
    out: list[dict[str, Any]] = []
    for s in sorted(saml, key=lambda s: (s["issued_at"], s["session_id"])):
        role = (s["p_principal"] or "").removeprefix("role/")
        if not role.startswith("AWSReservedSSO_"):
            continue
        cands = []
        for (acct, set_name), calls in by_key.items():
            if acct != s["account_id"] or not role.startswith(f"AWSReservedSSO_{set_name}_"):
                continue
            lo = bisect.bisect_left(
                times[(acct, set_name)], s["issued_at"] - dt.timedelta(seconds=IDC_WINDOW_S)
            )
            for c in calls[lo:]:
                if c["issued_at"] > s["issued_at"]:
                    break
                if c["session_id"] not in used:
                    cands.append(((s["issued_at"] - c["issued_at"]).total_seconds(), c["session_id"], c))
        if not cands:
            continue
        cands.sort(key=lambda c: (c[0], c[1]))
        users = sorted({c[2]["issuer_actor"] for c in cands if c[2]["issuer_actor"]})
        if len(users) == 1:
            g = cands[0][2]
            used.add(g["session_id"])
            out.append(
                {
                    "saml": s["session_id"],
                    "grc": g["session_id"],
                    "grc_event_ids": g["issuing_event_ids"],
                    "origin": users[0],
                    "ambiguous": None,
                }  # fmt: skip
            )
        elif users:
            out.append(
                {
                    "saml": s["session_id"],
                    "grc": None,
                    "grc_event_ids": [],
                    "origin": None,
                    "ambiguous": users,
                }
            )
    return out


_IDC_SCHEMA = pa.schema(
    [
        pa.field("saml", pa.string()),
        pa.field("grc", pa.string()),
        pa.field("grc_event_ids", pa.list_(pa.string())),
        pa.field("origin", pa.string()),
        pa.field("ambiguous", pa.list_(pa.string())),
    ]
)


def _fix_expirations(con: Any) -> None:
    """Expirations DuckDB's Java-locale formats did not parse go through :func:`parse_time`."""
    left = rows(
        con,
        "SELECT event_id, expiration_text FROM _s_iss WHERE expiration_text IS NOT NULL AND exp_response IS NULL",
    )
    fixed = [{"event_id": r["event_id"], "t": parse_time(r["expiration_text"])} for r in left]
    fixed = [r for r in fixed if r["t"] is not None]
    if fixed:
        con.register(
            "_s_exp_fix",
            pa.Table.from_pylist(
                fixed, schema=pa.schema([("event_id", pa.string()), ("t", pa.timestamp("us", tz="UTC"))])
            ),
        )
        try:
            con.execute(steps.ISS_EXPIRATION)
        finally:
            con.unregister("_s_exp_fix")


def _merge_identity_center(con: Any) -> None:
    cols = "session_id, account_id, p_principal, issued_at, idc_role_name, issuer_actor, issuing_event_ids"
    grc = rows(con, f"SELECT {cols} FROM _s_issued WHERE issuing_event_name = 'GetRoleCredentials'")
    saml = rows(
        con,
        f"SELECT {cols} FROM _s_issued WHERE issuing_event_name = 'AssumeRoleWithSAML' AND kind = 'identity-center'",
    )
    pairs = pair_identity_center(grc, saml) if grc and saml else []
    con.register("_s_idc_pairs", pa.Table.from_pylist(pairs, schema=_IDC_SCHEMA))
    try:
        con.execute("CREATE OR REPLACE TEMP TABLE _s_idc AS SELECT * FROM _s_idc_pairs")
    finally:
        con.unregister("_s_idc_pairs")
    if pairs:
        con.execute(
            "UPDATE _s_issued SET issuing_event_ids = list_concat(_s_issued.issuing_event_ids, p.grc_event_ids) "
            "FROM _s_idc p WHERE p.saml = _s_issued.session_id AND p.grc IS NOT NULL"
        )
        con.execute(
            "DELETE FROM _s_issued WHERE session_id IN (SELECT grc FROM _s_idc WHERE grc IS NOT NULL)"
        )


def run_steps(con: Any) -> None:
    """Run the SQL steps in ``con`` (a connection with the ``events`` view).

    Leaves the temporary tables of :data:`.steps.TABLES` for the caller to read and drop.
    """
    con.execute(steps.iss(DEFAULT_DURATION_S))
    _fix_expirations(con)
    con.execute(steps.ISSUED)
    _merge_identity_center(con)
    for q in (
        steps.PROF,
        steps.USE,
        steps.KEYS0,
        steps.keyres(FALLBACK_TOLERANCE_S),
        steps.profres(FALLBACK_TOLERANCE_S),
        steps.OBS,
        steps.NODES,
        steps.ROOTS,
    ):
        con.execute(q)


def drop_steps(con: Any) -> None:
    for t in steps.TABLES:
        try:
            con.execute(f"DROP TABLE IF EXISTS {t}")
        except duckdb.Error:
            pass
