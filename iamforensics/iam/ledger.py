"""Privilege changes from CloudTrail alone, and what admin-equivalent principals did.

:func:`privilege_ledger` is the PCI DSS 10.2.5 report: every use of and change to
identification and authentication mechanisms (users, keys, passwords, MFA, identity
providers) and every elevation of privileges (policies, groups, trust policies), with who
gained what, when, granted by whom, and whether it succeeded. It needs no IAM snapshot; the
authorization details, when given, say more (ARNs with paths, whether a customer managed policy
or a group is admin-equivalent, whether the subject was an admin).

:func:`admin_activity` joins the snapshot with the case: which admin-equivalent principals
made privileged (mutating) calls, when and from where.

Both accept a :class:`~iamforensics.case.Case` (queried in DuckDB with parameters) or a
DataFrame of events.

Examples
--------
>>> privilege_ledger(case).query("admin_level in ['full', 'iam']")  # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import duckdb
import pandas as pd

from ..errors import QueryError
from .policy import decode_policy_document, evaluate_statements, parse_statements, trust_principals

if TYPE_CHECKING:
    from ..case import Case, TimeLike
    from .authorization import AuthorizationDetails

#: eventName -> (category, effect): what the ledger keeps (all from iam.amazonaws.com).
LEDGER_EVENTS: dict[str, tuple[str, str]] = {
    "CreateUser": ("identity", "grant"),
    "DeleteUser": ("identity", "revoke"),
    "UpdateUser": ("identity", "modify"),
    "CreateRole": ("trust", "grant"),
    "DeleteRole": ("identity", "revoke"),
    "UpdateAssumeRolePolicy": ("trust", "modify"),
    "CreateAccessKey": ("credential", "grant"),
    "UpdateAccessKey": ("credential", "modify"),
    "DeleteAccessKey": ("credential", "revoke"),
    "CreateLoginProfile": ("credential", "grant"),
    "UpdateLoginProfile": ("credential", "modify"),
    "DeleteLoginProfile": ("credential", "revoke"),
    "ChangePassword": ("credential", "modify"),
    "UploadSSHPublicKey": ("credential", "grant"),
    "UploadSigningCertificate": ("credential", "grant"),
    "CreateServiceSpecificCredential": ("credential", "grant"),
    "CreateVirtualMFADevice": ("mfa", "grant"),
    "EnableMFADevice": ("mfa", "grant"),
    "ResyncMFADevice": ("mfa", "modify"),
    "DeactivateMFADevice": ("mfa", "revoke"),
    "DeleteVirtualMFADevice": ("mfa", "revoke"),
    "AttachUserPolicy": ("permission", "grant"),
    "AttachGroupPolicy": ("permission", "grant"),
    "AttachRolePolicy": ("permission", "grant"),
    "DetachUserPolicy": ("permission", "revoke"),
    "DetachGroupPolicy": ("permission", "revoke"),
    "DetachRolePolicy": ("permission", "revoke"),
    "PutUserPolicy": ("permission", "grant"),
    "PutGroupPolicy": ("permission", "grant"),
    "PutRolePolicy": ("permission", "grant"),
    "DeleteUserPolicy": ("permission", "revoke"),
    "DeleteGroupPolicy": ("permission", "revoke"),
    "DeleteRolePolicy": ("permission", "revoke"),
    "AddUserToGroup": ("permission", "grant"),
    "RemoveUserFromGroup": ("permission", "revoke"),
    "CreatePolicyVersion": ("permission", "modify"),
    "SetDefaultPolicyVersion": ("permission", "modify"),
    "PutUserPermissionsBoundary": ("permission", "modify"),
    "DeleteUserPermissionsBoundary": ("permission", "modify"),
    "PutRolePermissionsBoundary": ("permission", "modify"),
    "DeleteRolePermissionsBoundary": ("permission", "modify"),
    "AddRoleToInstanceProfile": ("permission", "grant"),
    "CreateSAMLProvider": ("federation", "grant"),
    "UpdateSAMLProvider": ("federation", "modify"),
    "DeleteSAMLProvider": ("federation", "revoke"),
    "CreateOpenIDConnectProvider": ("federation", "grant"),
    "AddClientIDToOpenIDConnectProvider": ("federation", "modify"),
    "UpdateOpenIDConnectProviderThumbprint": ("federation", "modify"),
    "DeleteOpenIDConnectProvider": ("federation", "revoke"),
    "UpdateAccountPasswordPolicy": ("account", "modify"),
    "DeleteAccountPasswordPolicy": ("account", "revoke"),
}
#: AWS managed policies known to be admin-equivalent without their document.
KNOWN_ADMIN_POLICIES = {
    "arn:aws:iam::aws:policy/AdministratorAccess": "full",
    "arn:aws:iam::aws:policy/IAMFullAccess": "iam",
}
#: Services whose mutating calls count as privileged in :func:`admin_activity`.
PRIVILEGED_SOURCES = (
    "iam.amazonaws.com",
    "sts.amazonaws.com",
    "organizations.amazonaws.com",
    "cloudtrail.amazonaws.com",
    "kms.amazonaws.com",
    "config.amazonaws.com",
    "guardduty.amazonaws.com",
    "securityhub.amazonaws.com",
    "sso.amazonaws.com",
    "identitystore.amazonaws.com",
    "account.amazonaws.com",
    "signin.amazonaws.com",
)
#: Event names that only read, when ``readOnly`` is missing (older records, some exports).
_READS = "^(Get|List|Describe|Head|Lookup|Search|Scan|Query|BatchGet|Select|Download|View)"
_COLUMNS = [
    "event_time", "account_id", "event_name", "category", "effect", "subject_type", "subject",
    "subject_arn", "granted", "policy_document", "admin_level", "subject_admin", "trusted_principals",
    "outside_accounts", "self_grant", "actor", "actor_type", "actor_key", "mfa_authenticated", "origin",
    "outcome", "error_code", "error_message", "source_ip_address", "user_agent", "event_id", "source",
    "source_index",
]  # fmt: skip
_EVENT_COLUMNS = [
    "event_time", "event_id", "event_source", "event_name", "recipient_account_id", "user_type", "user_arn",
    "account_id", "user_name", "access_key_id", "actor", "mfa_authenticated", "source_ip_address",
    "user_agent", "error_code", "error_message", "request_parameters", "response_elements", "source",
    "session_issuer_arn", "session_issuer_user_name",
    "source_index",
]  # fmt: skip


def _json(value: Any) -> dict[str, Any]:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return {}
    obj = json.loads(value) if isinstance(value, str) else value
    if isinstance(obj, str):  # double-encoded (seen in SIEM exports)
        try:
            obj = json.loads(obj)
        except ValueError:
            return {}
    return obj if isinstance(obj, dict) else {}


def _str(value: Any) -> str | None:
    return None if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value)


def _select(
    events: Case | pd.DataFrame, names: Sequence[str], start: TimeLike, end: TimeLike
) -> pd.DataFrame:
    """The IAM events named, from a Case (DuckDB, parameters) or a DataFrame."""
    if isinstance(events, pd.DataFrame):
        df = events
        if "event_source" not in df or "event_name" not in df:
            raise QueryError("the events frame needs event_source and event_name columns")
        mask = (df["event_source"] == "iam.amazonaws.com") & df["event_name"].isin(list(names))
        if start is not None:
            mask &= df["event_time"] >= _utc(start)
        if end is not None:
            mask &= df["event_time"] < _utc(end)
        out = df.loc[mask].copy()
        for c in _EVENT_COLUMNS + ["origin"]:
            if c not in out:
                out[c] = None
        return out.sort_values(["event_time", "event_id"], kind="stable").reset_index(drop=True)
    where, params = events.where(
        start, end, event_names=list(names), extra=[("event_source = ?", "iam.amazonaws.com")]
    )
    cols = ", ".join(_EVENT_COLUMNS)
    out = events.sql(
        f"SELECT {cols}, NULL AS origin FROM events{where} ORDER BY event_time, event_id", params
    )
    return out


def _utc(value: str | dt.datetime | dt.date | pd.Timestamp) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _outcome(error_code: str | None) -> str:
    if not error_code:
        return "succeeded"
    low = error_code.lower()
    return "denied" if "accessdenied" in low or "unauthorized" in low else "failed"


def _doc_admin(document: Any) -> str:
    """full / iam / conditional / no for a policy document; unknown when it cannot be read."""
    try:
        stmts = parse_statements(document, policy="document")
    except Exception:  # noqa: BLE001 - an attacker-written document may be anything
        return "unknown"
    full = evaluate_statements(stmts, "*", "*").decision
    iam = evaluate_statements(stmts, "iam:*", "*").decision
    if full == "allowed":
        return "full"
    if iam == "allowed":
        return "iam"
    return "conditional" if "conditional" in (full, iam) else "no"


def _policy_admin(arn: str | None, details: AuthorizationDetails | None, version: str | None = None) -> str:
    if not arn:
        return "unknown"
    if details is not None and arn in details.policies:
        mp = details.policies[arn]
        doc = mp.versions.get(version) if version else mp.document
        if doc is not None:
            return _doc_admin(doc)
    return KNOWN_ADMIN_POLICIES.get(arn, "unknown")


def _entity_admin(
    details: AuthorizationDetails | None, kind: str, account: str | None, name: str | None
) -> str:
    """Admin level of a user/group/role in the snapshot (unknown without it or when not found)."""
    if details is None or not name:
        return "unknown"
    table = {"user": details.users, "group": details.groups, "role": details.roles}[kind]
    hits = [e for e in table.values() if e.name == name and (account is None or e.account == account)]
    if len(hits) != 1:
        return "unknown"
    e = hits[0]
    if kind == "group":
        stmts, missing = details.policy_statements(e)
        b, b_missing = None, False
    else:
        stmts, b, missing, b_missing = details.statements_for(e)
    full = evaluate_statements(
        stmts, "*", "*", boundary=b, missing=missing, boundary_missing=b_missing
    ).decision
    iam = evaluate_statements(
        stmts, "iam:*", "*", boundary=b, missing=missing, boundary_missing=b_missing
    ).decision
    if full == "allowed":
        return "full"
    if iam == "allowed":
        return "iam"
    if "unknown" in (full, iam):
        return "unknown"
    return "conditional" if "conditional" in (full, iam) else "no"


def _subject_arn(
    details: AuthorizationDetails | None, kind: str, account: str | None, name: str | None
) -> str | None:
    if details is None or not name:
        return None
    table = {"user": details.users, "group": details.groups, "role": details.roles}.get(kind, {})
    hits = [e.arn for e in table.values() if e.name == name and (account is None or e.account == account)]
    return hits[0] if len(hits) == 1 else None


def _row(ev: Any, details: AuthorizationDetails | None) -> dict[str, Any]:
    name = ev["event_name"]
    category, effect = LEDGER_EVENTS[name]
    req, resp = _json(ev["request_parameters"]), _json(ev["response_elements"])
    account = _str(ev["recipient_account_id"]) or _str(ev["account_id"])
    actor_type = _str(ev["user_type"])
    out: dict[str, Any] = {
        "subject_type": None, "subject": None, "subject_arn": None, "granted": None, "policy_document": None,
        "admin_level": None, "subject_admin": None, "trusted_principals": [], "outside_accounts": [],
    }  # fmt: skip
    user = req.get("userName")
    if name.endswith(
        ("UserPolicy", "User", "AccessKey", "LoginProfile", "MFADevice", "Password")
    ) or name in (
        "UploadSSHPublicKey",
        "UploadSigningCertificate",
        "CreateServiceSpecificCredential",
        "AddUserToGroup",
        "RemoveUserFromGroup",
        "PutUserPermissionsBoundary",
        "DeleteUserPermissionsBoundary",
    ):
        if name in ("CreateVirtualMFADevice", "DeleteVirtualMFADevice") and not user:
            pass  # a device not yet (or no longer) assigned to anyone
        elif not req and _str(ev["error_code"]):
            pass  # a refused call logs no parameters: the subject comes from the error message
        elif user and user != "AWS ROOT USER":
            out.update(subject_type="user", subject=user)
        elif actor_type == "Root" or user == "AWS ROOT USER":
            # Without userName the call acts on the caller's own credentials.
            out.update(subject_type="root", subject="root", subject_arn=f"arn:aws:iam::{account}:root")
        elif actor_type == "IAMUser":
            out.update(subject_type="user", subject=_str(ev["user_name"]), subject_arn=_str(ev["user_arn"]))
    if "groupName" in req and name not in ("AddUserToGroup", "RemoveUserFromGroup"):
        out.update(subject_type="group", subject=req["groupName"])
    if "roleName" in req:
        out.update(subject_type="role", subject=req["roleName"])
    if name in ("CreatePolicyVersion", "SetDefaultPolicyVersion"):
        out.update(subject_type="policy", subject=req.get("policyArn"), subject_arn=req.get("policyArn"))
    if category == "federation":
        arn = req.get("sAMLProviderArn") or req.get("openIDConnectProviderArn") or resp.get("sAMLProviderArn")
        arn = arn or resp.get("openIDConnectProviderArn")
        out.update(subject_type="provider", subject=req.get("name") or req.get("url") or arn, subject_arn=arn)
    if category == "account":
        out.update(subject_type="account", subject=account)

    if out["subject"] is None and not req:
        out.update(_subject_from_error(_str(ev["error_message"])))
    created = (resp.get("user") or resp.get("role") or {}) if isinstance(resp, dict) else {}
    if isinstance(created, dict) and created.get("arn"):
        out["subject_arn"] = created["arn"]
    if out["subject_arn"] is None and out["subject_type"] in ("user", "group", "role"):
        out["subject_arn"] = _subject_arn(details, out["subject_type"], account, out["subject"])

    if name.startswith(("Attach", "Detach")) or name.endswith("PermissionsBoundary"):
        arn = req.get("policyArn") or req.get("permissionsBoundary")
        out["granted"] = arn
        out["admin_level"] = _policy_admin(arn, details)
    elif name.startswith("Put") and name.endswith("Policy"):
        doc = req.get("policyDocument")
        out.update(granted=f"inline:{req.get('policyName')}", policy_document=_str(doc))
        out["admin_level"] = _doc_admin(doc) if doc else "unknown"
    elif name.startswith("Delete") and name.endswith("Policy") and category == "permission":
        out["granted"] = f"inline:{req.get('policyName')}"
    elif name == "CreatePolicyVersion":
        doc = req.get("policyDocument")
        default = str(req.get("setAsDefault", "")).lower() == "true"
        out.update(granted=f"new version{' (default)' if default else ''}", policy_document=_str(doc))
        out["admin_level"] = _doc_admin(doc) if doc else "unknown"
    elif name == "SetDefaultPolicyVersion":
        out["granted"] = f"default version {req.get('versionId')}"
        out["admin_level"] = _policy_admin(req.get("policyArn"), details, _str(req.get("versionId")))
    elif name in ("AddUserToGroup", "RemoveUserFromGroup"):
        out["granted"] = f"group:{req.get('groupName')}"
        out["admin_level"] = _entity_admin(details, "group", account, req.get("groupName"))
    elif name in ("CreateRole", "UpdateAssumeRolePolicy"):
        doc = req.get("assumeRolePolicyDocument") or req.get("policyDocument")
        out["policy_document"] = _str(doc)
        _trust(out, doc, account)
        if name == "UpdateAssumeRolePolicy":
            out["admin_level"] = _entity_admin(details, "role", account, out["subject"])
    elif name in ("CreateAccessKey", "UpdateAccessKey", "DeleteAccessKey"):
        key = (
            (resp.get("accessKey") or {}).get("accessKeyId")
            if isinstance(resp.get("accessKey"), dict)
            else None
        )
        key = key or req.get("accessKeyId")
        status = f" {req['status']}" if name == "UpdateAccessKey" and req.get("status") else ""
        out["granted"] = f"access key {key or '(not logged)'}{status}"
    elif "LoginProfile" in name or name == "ChangePassword":
        reset = req.get("passwordResetRequired")
        out["granted"] = "console password" + (f" (reset required: {reset})" if reset is not None else "")
    elif category == "mfa":
        serial = req.get("serialNumber") or (resp.get("virtualMFADevice") or {}).get("serialNumber")
        out["granted"] = f"MFA device {serial or req.get('virtualMFADeviceName')}"
    elif name == "UpdateUser":
        new = req.get("newUserName")
        out["granted"] = f"renamed to {new}" if new else f"path {req.get('newPath')}"
    elif name == "AddRoleToInstanceProfile":
        out["granted"] = f"instance profile {req.get('instanceProfileName')}"
    elif name == "CreateUser":
        out["granted"] = "new user"
    if name in ("CreateUser", "CreateRole") and req.get("permissionsBoundary"):
        out["granted"] = f"{out['granted']}; permissions boundary {req['permissionsBoundary']}"
    if out["subject_type"] == "root":
        out["subject_admin"] = "full"
    elif out["subject_type"] in ("user", "role", "group"):
        out["subject_admin"] = _entity_admin(details, out["subject_type"], account, out["subject"])
    actor_arn = _str(ev["user_arn"])
    issuer = _str(ev.get("session_issuer_arn"))
    self_grant = actor_arn is not None and (
        actor_arn == out["subject_arn"]
        or (actor_type == "IAMUser" and out["subject_type"] == "user" and _str(ev["user_name"]) == out["subject"])
        # a role session changing its own role (PutRolePolicy on itself, for instance)
        or (actor_type == "AssumedRole" and out["subject_type"] == "role" and (
            (issuer is not None and issuer == out["subject_arn"])
            or _str(ev.get("session_issuer_user_name")) == out["subject"]
        ))
    )  # fmt: skip
    error_code = _str(ev["error_code"])
    return {
        "event_time": ev["event_time"],
        "account_id": account,
        "event_name": name,
        "category": category,
        "effect": effect,
        **out,
        "self_grant": bool(self_grant),
        "actor": _str(ev["actor"]),
        "actor_type": actor_type,
        "actor_key": _str(ev["access_key_id"]),
        "mfa_authenticated": ev["mfa_authenticated"],
        "origin": _str(ev.get("origin")),
        "outcome": _outcome(error_code),
        "error_code": error_code,
        "error_message": _str(ev["error_message"]),
        "source_ip_address": _str(ev["source_ip_address"]),
        "user_agent": _str(ev["user_agent"]),
        "event_id": _str(ev["event_id"]),
        "source": _str(ev["source"]),
        "source_index": ev["source_index"],
    }


_REFUSED_ON = re.compile(r"on resource: (?:(user|group|role|instance profile|policy) )?(\S+)")


def _subject_from_error(message: str | None) -> dict[str, Any]:
    """The subject of a refused call, from "... not authorized to perform: X on resource: user bob ..."."""
    m = _REFUSED_ON.search(message or "")
    if not m:
        return {}
    kind, value = m.group(1), m.group(2)
    if value.startswith("arn:"):
        arn_kind = re.search(r":(user|group|role|policy|instance-profile)/", value)
        if not arn_kind:
            return {}
        kind = arn_kind.group(1).replace("-", " ")
        name = value if kind == "policy" else value.rsplit("/", 1)[-1]
        return {"subject_type": kind, "subject": name, "subject_arn": value}
    if kind is None:
        return {}
    return {"subject_type": kind, "subject": value}


def _trust(out: dict[str, Any], doc: Any, account: str | None) -> None:
    if not doc:
        out["granted"] = "trust policy (not logged)"
        return
    try:
        rows = trust_principals(decode_policy_document(doc, where="trust policy"), role_account=account)
    except Exception:  # noqa: BLE001 - an attacker-written document may be anything
        out["granted"] = "trust policy (unreadable)"
        return
    allowed = [t for t in rows if t["effect"].lower() == "allow" and not t["not_principal"]]
    out["trusted_principals"] = [f"{t['principal_type']}:{t['principal']}" for t in allowed]
    out["outside_accounts"] = sorted({t["principal_account"] for t in allowed if t["cross_account"]})
    out["granted"] = "assume role for " + ", ".join(out["trusted_principals"] or ["nobody"])


def privilege_ledger(
    events: Case | pd.DataFrame,
    *,
    start: TimeLike = None,
    end: TimeLike = None,
    details: AuthorizationDetails | None = None,
    event_names: Sequence[str] | None = None,
    origins: bool = True,
) -> pd.DataFrame:
    """Every IAM change to identities, credentials, MFA, permissions and trust, in time order.

    One row per event (see ``LEDGER_EVENTS``): ``subject`` (who gained or lost), ``granted``
    (what), ``admin_level`` of the policy, inline document, group or role trust granted or
    revoked (``full``, ``iam``, ``conditional``, ``no``, ``unknown``; null for credentials and
    identities), ``subject_admin`` (the subject's level in the snapshot, ``unknown``
    without it; root is ``full``), ``trusted_principals`` and ``outside_accounts`` for trust
    policies, ``self_grant``, the ``actor`` (granted by), ``origin`` (the identity at the root of
    the actor's session chain, from :func:`iamforensics.analysis.sessions.event_origins`; null when
    no session explains the event) and
    ``outcome`` (``succeeded``, ``denied``, ``failed``).

    Examples
    --------
    >>> privilege_ledger(case, start="2024-05-08", end="2024-05-09")  # doctest: +SKIP
    """
    names = list(event_names) if event_names is not None else list(LEDGER_EVENTS)
    unknown = [n for n in names if n not in LEDGER_EVENTS]
    if unknown:
        raise QueryError(f"not a ledger event: {', '.join(unknown)}")
    raw = _select(events, names, start, end)
    rows = [_row(ev, details) for ev in raw.to_dict("records")]
    df = pd.DataFrame(rows, columns=_COLUMNS)
    _fill_subject_arns(events, df)
    if origins and not isinstance(events, pd.DataFrame) and len(df):
        found = _origins(events, [e for e in df["event_id"] if e])
        df["origin"] = [found.get(e) for e in df["event_id"]]
    return df


def _fill_subject_arns(events: Case | pd.DataFrame, df: pd.DataFrame) -> None:
    """Subject ARNs (with their paths) from CloudTrail itself: CreateUser/CreateRole responses in
    the ledger, and the ARNs the same users and roles show when they act."""
    known: dict[tuple[str, str, str], set[str]] = {}
    for r in df.itertuples():
        if r.subject_type in ("user", "role") and isinstance(r.subject_arn, str):
            known.setdefault((str(r.subject_type), str(r.account_id), str(r.subject)), set()).add(
                r.subject_arn
            )
    todo = df[df["subject_type"].isin(["user", "role"]) & df["subject_arn"].isna() & df["subject"].notna()]
    names = sorted(set(todo["subject"]))
    if names:
        marks = ", ".join("?" * len(names))
        query = (
            "SELECT DISTINCT 'user' AS kind, coalesce(account_id, recipient_account_id) AS account, "
            f"user_name AS name, user_arn AS arn FROM events WHERE user_type = 'IAMUser' AND user_name IN ({marks}) "
            "AND user_arn IS NOT NULL UNION SELECT DISTINCT 'role', session_issuer_account_id, "
            "session_issuer_user_name, session_issuer_arn FROM events WHERE session_issuer_type = 'Role' "
            f"AND session_issuer_user_name IN ({marks}) AND session_issuer_arn IS NOT NULL"
        )
        if isinstance(events, pd.DataFrame):
            cols = ["user_type", "account_id", "recipient_account_id", "user_name", "user_arn"]
            cols += [
                "session_issuer_type",
                "session_issuer_account_id",
                "session_issuer_user_name",
                "session_issuer_arn",
            ]
            frame = events.reindex(columns=cols)
            with duckdb.connect() as con:
                con.register("events", frame)
                seen = con.execute(query, names + names).df()
        else:
            seen = events.sql(query, names + names)
        for r in seen.itertuples():
            known.setdefault((str(r.kind), str(r.account), str(r.name)), set()).add(str(r.arn))
    for i in todo.index:
        key = (str(df.at[i, "subject_type"]), str(df.at[i, "account_id"]), str(df.at[i, "subject"]))
        arns = known.get(key, set())
        if len(arns) == 1:
            df.at[i, "subject_arn"] = next(iter(arns))
    df["self_grant"] = df["self_grant"] | (df["subject_arn"].notna() & (df["subject_arn"] == df["actor"]))


def _origins(case: Case, event_ids: list[str]) -> dict[str, str]:
    """event id -> the identity behind it (session attribution), in one query for all events.

    An assumed-role or federated session's change names the user, key owner, IdP subject or
    service at the root of its chain; a change made with long-term credentials names the
    identity itself; an event no session explains keeps a null origin.
    """
    from ..analysis.sessions import event_origins

    found = event_origins(case, event_ids=event_ids)
    found = found[found["origin"].notna()]
    return dict(zip(found["event_id"].astype(str), found["origin"].astype(str), strict=True))


def admin_activity(
    events: Case | pd.DataFrame,
    admins: AuthorizationDetails | pd.DataFrame | Sequence[str],
    *,
    start: TimeLike = None,
    end: TimeLike = None,
    event_sources: Sequence[str] | None = PRIVILEGED_SOURCES,
    writes_only: bool = True,
) -> pd.DataFrame:
    """Which admin-equivalent principals made privileged calls, when, how often and from where.

    ``admins`` is the authorization details (their :func:`admin_principals`, root included), a
    frame with a ``principal_arn`` column, or ARNs. A role's sessions count as the role
    (matched on the session issuer ARN, which keeps the role path). ``event_sources=None``
    counts every service; ``writes_only`` keeps calls that are not read-only (a missing
    ``readOnly`` counts as a write unless the name says it reads: Get, List, Describe...).

    Examples
    --------
    >>> admin_activity(case, details).head()  # doctest: +SKIP
    """
    from .privileges import admin_principals

    if isinstance(admins, pd.DataFrame):
        arns = [a for a in admins["principal_arn"].dropna().unique()]
        levels = dict(
            zip(admins["principal_arn"], admins.get("level", pd.Series(dtype=object)), strict=False)
        )
    elif isinstance(admins, Sequence) and not isinstance(admins, str):
        arns, levels = list(admins), {}
    else:
        ap = admin_principals(admins)  # type: ignore[arg-type]
        arns, levels = list(ap["principal_arn"]), dict(zip(ap["principal_arn"], ap["level"], strict=True))
    cols = ["principal_arn", "level", "event_source", "event_name", "first_seen", "last_seen", "calls"]
    cols += ["failed", "source_ips", "actors"]
    if not arns:
        return pd.DataFrame(columns=cols)
    clauses = ["principal_arn IN (" + ", ".join("?" * len(arns)) + ")"]
    params: list[Any] = list(arns)
    if event_sources is not None:
        clauses.append("event_source IN (" + ", ".join("?" * len(event_sources)) + ")")
        params += list(event_sources)
    if writes_only:
        clauses.append(f"NOT coalesce(read_only, regexp_matches(coalesce(event_name, ''), '{_READS}'))")
    inner = (
        "SELECT *, CASE WHEN user_type = 'AssumedRole' AND session_issuer_arn IS NOT NULL "
        "THEN session_issuer_arn ELSE user_arn END AS principal_arn FROM events"
    )
    query = (
        f"SELECT principal_arn, event_source, event_name, min(event_time) AS first_seen, "
        f"max(event_time) AS last_seen, count(*) AS calls, count(*) FILTER (WHERE is_error) AS failed, "
        f"list(DISTINCT source_ip_address ORDER BY source_ip_address) AS source_ips, "
        f"list(DISTINCT actor ORDER BY actor) AS actors FROM ({inner}{{where}}) "
        f"WHERE {' AND '.join(clauses)} GROUP BY ALL ORDER BY first_seen, principal_arn, event_name"
    )
    if isinstance(events, pd.DataFrame):
        ev = events
        if start is not None:
            ev = ev[ev["event_time"] >= _utc(start)]
        if end is not None:
            ev = ev[ev["event_time"] < _utc(end)]
        need = ["user_type", "session_issuer_arn", "user_arn", "event_source", "event_name", "event_time"]
        need += ["read_only", "is_error", "source_ip_address", "actor"]
        missing = [c for c in need if c not in ev]
        if missing:
            raise QueryError(f"the events frame lacks {', '.join(missing)}")
        con = duckdb.connect()
        try:
            con.register("events", ev[need])
            df = con.execute(query.format(where=""), params).df()
        except duckdb.Error as exc:
            raise QueryError(f"query failed: {exc}") from None
        finally:
            con.close()
    else:
        where, wparams = events.where(start, end)
        df = events.sql(query.format(where=where), wparams + params)
    df.insert(1, "level", [levels.get(a) for a in df["principal_arn"]])
    return df[cols]
