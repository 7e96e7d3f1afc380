"""MFA questions: who signed in and how, what sensitive work ran without MFA, who changed
MFA devices, and everything root did.

MFA status of a principal (column ``mfa_status``):

* ``mfa`` / ``no mfa``: root, IAM users and the sessions they start (``MFAUsed`` of a console
  sign-in; ``mfaAuthenticated`` of a session). A long-term access key never carries MFA,
  except on the STS call that presents an MFA code (``serialNumber`` in GetSessionToken or
  AssumeRole), which is counted as ``mfa``.
* ``mfa at IdP``: federated principals (SAML, web identity, IAM Identity Center, and role
  sessions of roles assumed through SAML or web identity). AWS cannot see the IdP's MFA, so
  their ``MFAUsed: No`` / ``mfaAuthenticated: false`` is **not** evidence of a login without
  MFA (a false positive practitioners report against other tools).
* ``service`` (EC2 instance profiles, Lambda, services acting), ``other account`` (the
  reduced ``AWSAccount`` view of a caller in another account), ``unknown``.

Examples
--------
>>> sign_ins(case)[["event_time", "actor", "principal_type", "result", "mfa_status"]]  # doctest: +SKIP
>>> actions_without_mfa(case, categories=["iam-write", "trail"])  # doctest: +SKIP
>>> mfa_device_changes(case)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from ..case import TimeLike
from ..errors import QueryError
from ._base import IS_READ, Events, and_where, source, utc_columns

#: Sensitive actions by category: SQL conditions over the events (fixed text, no user input).
SENSITIVE: dict[str, str] = {
    "iam-write": f"event_source = 'iam.amazonaws.com' AND NOT {IS_READ}",
    "sts": "event_source = 'sts.amazonaws.com' AND event_name IN ('AssumeRole', 'GetSessionToken', "
    "'GetFederationToken', 'AssumeRoot', 'AssumeRoleWithSAML', 'AssumeRoleWithWebIdentity')",
    "trail": f"event_source = 'cloudtrail.amazonaws.com' AND NOT {IS_READ}",
    "mfa-device": "event_name IN ('CreateVirtualMFADevice', 'EnableMFADevice', 'DeactivateMFADevice', "
    "'DeleteVirtualMFADevice', 'ResyncMFADevice')",
    "organizations": f"event_source = 'organizations.amazonaws.com' AND NOT {IS_READ}",
    "sign-in-settings": "event_source = 'signin.amazonaws.com' AND event_name IN ('PasswordUpdated')",
}
DEFAULT_CATEGORIES: tuple[str, ...] = ("iam-write", "sts", "trail", "mfa-device")

MFA_DEVICE_EVENTS: tuple[str, ...] = (
    "CreateVirtualMFADevice",
    "EnableMFADevice",
    "DeactivateMFADevice",
    "DeleteVirtualMFADevice",
    "ResyncMFADevice",
)

# Roles whose sessions were issued by a federation call in this case: their later events are
# "mfa at IdP" even though the session context alone does not say so.
_FEDERATED_ROLES = (
    "(SELECT DISTINCT json_extract_string(request_parameters, '$.roleArn') FROM events "
    "WHERE event_name IN ('AssumeRoleWithSAML', 'AssumeRoleWithWebIdentity') AND json_valid(request_parameters) "
    "AND json_extract_string(request_parameters, '$.roleArn') IS NOT NULL)"
)
# Identity Center permission-set roles live under this path; their sessions' ARNs drop the
# path but keep the AWSReservedSSO_ role name prefix.
_IDC_ROLE = (
    "(coalesce(session_issuer_arn, '') LIKE '%:role/aws-reserved/sso.amazonaws.com/%' "
    "OR coalesce(user_arn, '') LIKE '%:assumed-role/AWSReservedSSO!_%' ESCAPE '!')"
)

#: SQL: the MFA status of the principal behind an event (see the module docstring).
MFA_STATUS = f"""CASE
    WHEN user_type IN ('SAMLUser', 'WebIdentityUser', 'IdentityCenterUser') OR identity_store_user_id IS NOT NULL
        THEN 'mfa at IdP'
    WHEN user_type = 'AssumedRole' AND ({_IDC_ROLE} OR web_id_provider IS NOT NULL
                                       OR session_issuer_arn IN {_FEDERATED_ROLES}) THEN 'mfa at IdP'
    WHEN user_type = 'AWSService' OR (user_type IS NULL AND invoked_by IS NOT NULL) THEN 'service'
    WHEN user_type = 'AssumedRole' AND (ec2_role_delivery IS NOT NULL OR in_scope_of IS NOT NULL
                                       OR invoked_by IS NOT NULL) THEN 'service'
    WHEN user_type = 'AWSAccount' THEN 'other account'
    WHEN coalesce(mfa_authenticated, FALSE) THEN 'mfa'
    WHEN event_source = 'sts.amazonaws.com' AND json_valid(request_parameters)
         AND json_extract_string(request_parameters, '$.serialNumber') IS NOT NULL THEN 'mfa'
    WHEN user_type IN ('Root', 'IAMUser', 'AssumedRole', 'FederatedUser') THEN 'no mfa'
    ELSE 'unknown'
END"""

#: SQL: root / iam-user / federated / identity-center / unknown, for sign-ins.
PRINCIPAL_TYPE = f"""CASE
    WHEN user_type = 'Root' THEN 'root'
    WHEN user_type = 'IdentityCenterUser' OR identity_store_user_id IS NOT NULL OR {_IDC_ROLE}
         OR (event_name = 'UserAuthentication' AND event_type = 'AwsServiceEvent') THEN 'identity-center'
    WHEN user_type = 'IAMUser' THEN 'iam-user'
    WHEN user_type IN ('AssumedRole', 'FederatedUser', 'SAMLUser', 'WebIdentityUser') THEN 'federated'
    ELSE 'unknown'
END"""

_SIGN_IN_EVENTS = ("ConsoleLogin", "UserAuthentication")


def _categories(categories: Sequence[str]) -> str:
    bad = [c for c in categories if c not in SENSITIVE]
    if bad or not categories:
        raise QueryError(f"unknown sensitive categories {bad}; choose from: {', '.join(SENSITIVE)}")
    return "CASE " + " ".join(f"WHEN {SENSITIVE[c]} THEN '{c}'" for c in categories) + " END"


def sign_ins(
    events: Events,
    start: TimeLike = None,
    end: TimeLike = None,
    *,
    actor: str | Sequence[str] | None = None,
    source_ip: str | Sequence[str] | None = None,
) -> pd.DataFrame:
    """Every console sign-in (``ConsoleLogin``, Identity Center ``UserAuthentication``).

    Returns
    -------
    DataFrame: event_time, event_id, actor, user_name, principal_type (root, iam-user,
    federated, identity-center, unknown), result (Success / Failure), mfa_used (the raw
    ``MFAUsed`` as bool), mfa_status (mfa, no mfa, mfa at IdP, unknown), mfa_device
    (``MFAIdentifier``), source_ip_address, user_agent, error_message, login_to; in time order.

    Examples
    --------
    >>> s = sign_ins(case)  # doctest: +SKIP
    >>> s[(s.result == "Success") & (s.mfa_status == "no mfa")]  # doctest: +SKIP
    """
    src = source(events)
    where, params = src.where(start, end, actor=actor, source_ip=source_ip, event_names=list(_SIGN_IN_EVENTS))
    df = src.sql(
        f"""
        SELECT event_time, event_id, event_name, actor, user_name, user_type,
               {PRINCIPAL_TYPE} AS principal_type,
               coalesce(login_result, CASE WHEN coalesce(is_error, FALSE) THEN 'Failure' END,
                        CASE WHEN event_name = 'UserAuthentication' THEN 'Success' END) AS result,
               mfa_used,
               CASE WHEN ({PRINCIPAL_TYPE}) IN ('federated', 'identity-center') THEN 'mfa at IdP'
                    WHEN ({PRINCIPAL_TYPE}) IN ('root', 'iam-user') AND mfa_used THEN 'mfa'
                    WHEN ({PRINCIPAL_TYPE}) IN ('root', 'iam-user') AND NOT mfa_used THEN 'no mfa'
                    ELSE 'unknown' END AS mfa_status,
               CASE WHEN json_valid(additional_event_data)
                    THEN json_extract_string(additional_event_data, '$.MFAIdentifier') END AS mfa_device,
               source_ip_address, user_agent, error_message,
               CASE WHEN json_valid(additional_event_data)
                    THEN json_extract_string(additional_event_data, '$.LoginTo') END AS login_to,
               recipient_account_id
        FROM events{where}
        ORDER BY event_time, event_id
        """,
        params,
    )
    df["mfa_used"] = df["mfa_used"].astype("boolean")
    return utc_columns(df, "event_time")


def sign_in_outcomes(events: Events, start: TimeLike = None, end: TimeLike = None) -> pd.DataFrame:
    """Sign-ins counted by principal type, result and MFA status (for the outcomes chart).

    Returns
    -------
    DataFrame: principal_type, result, mfa_status, sign_ins.
    """
    s = sign_ins(events, start, end)
    if s.empty:
        return pd.DataFrame(columns=["principal_type", "result", "mfa_status", "sign_ins"])
    s["result"] = s["result"].fillna("unknown")
    out = s.groupby(["principal_type", "result", "mfa_status"]).size().rename("sign_ins").reset_index()
    return out.sort_values(["principal_type", "result", "mfa_status"], ignore_index=True)


def actions_without_mfa(
    events: Events,
    start: TimeLike = None,
    end: TimeLike = None,
    *,
    categories: Sequence[str] = DEFAULT_CATEGORIES,
    statuses: Sequence[str] = ("no mfa",),
    actor: str | Sequence[str] | None = None,
    include_failed: bool = True,
) -> pd.DataFrame:
    """Sensitive calls (IAM writes, STS credential issuance, trail changes, MFA device changes
    by default; see :data:`SENSITIVE`) made by a principal whose MFA status is in ``statuses``.

    Returns
    -------
    DataFrame: event_time, event_id, category, event_source, event_name, actor, user_type,
    mfa_status, access_key_id, key_type, session_creation_date, source_ip_address,
    user_agent, error_code; in time order.

    Examples
    --------
    >>> actions_without_mfa(case, categories=["trail"], statuses=["no mfa", "unknown"])  # doctest: +SKIP
    """
    cat = _categories(categories)
    src = source(events)
    where, params = src.where(start, end, actor=actor)
    where = and_where(where, f"({cat}) IS NOT NULL")
    if not include_failed:
        where = and_where(where, "NOT coalesce(is_error, FALSE)")
    marks = ", ".join("?" for _ in statuses) or "NULL"
    df = src.sql(
        f"""
        SELECT * FROM (
            SELECT event_time, event_id, {cat} AS category, event_source, event_name, actor, user_type,
                   {MFA_STATUS} AS mfa_status, access_key_id, key_type, session_creation_date,
                   source_ip_address, user_agent, error_code
            FROM events{where}
        ) WHERE mfa_status IN ({marks})
        ORDER BY event_time, event_id
        """,
        [*params, *statuses],
    )
    return utc_columns(df, "event_time", "session_creation_date")


def sessions_without_mfa(
    events: Events,
    start: TimeLike = None,
    end: TimeLike = None,
    *,
    categories: Sequence[str] = DEFAULT_CATEGORIES,
) -> pd.DataFrame:
    """The credentials (access key; session creation time) behind :func:`actions_without_mfa`.

    Returns
    -------
    DataFrame: actor, access_key_id, key_type, session_creation_date, first_time, last_time,
    events, categories, event_names; most sensitive calls first.
    """
    a = actions_without_mfa(events, start, end, categories=categories)
    cols = ["actor", "access_key_id", "key_type", "session_creation_date"]
    if a.empty:
        return pd.DataFrame(columns=[*cols, "first_time", "last_time", "events", "categories", "event_names"])
    a[cols] = a[cols].astype(object).where(a[cols].notna(), "")
    g = a.groupby(cols, dropna=False)
    out = g.agg(
        first_time=("event_time", "min"),
        last_time=("event_time", "max"),
        events=("event_id", "count"),
        categories=("category", lambda s: ", ".join(sorted(set(s)))),
        event_names=("event_name", lambda s: ", ".join(sorted(set(s)))),
    ).reset_index()
    out[cols] = out[cols].replace("", None)
    return out.sort_values(["events", "first_time"], ascending=[False, True], ignore_index=True)


def mfa_coverage(
    events: Events,
    start: TimeLike = None,
    end: TimeLike = None,
    *,
    categories: Sequence[str] = DEFAULT_CATEGORIES,
    humans_only: bool = True,
) -> pd.DataFrame:
    """Per actor: events by MFA status, and how many sensitive calls had MFA.

    ``coverage`` is the share of the actor's events made with MFA (at AWS or at the IdP);
    ``humans_only`` drops actors whose events are all service / other-account / unknown.

    Returns
    -------
    DataFrame: actor, user_type, events, mfa, no_mfa, mfa_at_idp, other, sensitive,
    sensitive_no_mfa, coverage; most sensitive calls without MFA first, then least covered.
    """
    cat = _categories(categories)
    src = source(events)
    where, params = src.where(start, end)
    df = src.sql(
        f"""
        WITH e AS (
            SELECT coalesce(actor, '(unknown)') AS actor, user_type, {MFA_STATUS} AS s,
                   ({cat}) IS NOT NULL AS sensitive
            FROM events{where}
        )
        SELECT actor, any_value(user_type) AS user_type, count(*) AS events,
               count(*) FILTER (WHERE s = 'mfa') AS mfa,
               count(*) FILTER (WHERE s = 'no mfa') AS no_mfa,
               count(*) FILTER (WHERE s = 'mfa at IdP') AS mfa_at_idp,
               count(*) FILTER (WHERE s NOT IN ('mfa', 'no mfa', 'mfa at IdP')) AS other,
               count(*) FILTER (WHERE sensitive) AS sensitive,
               count(*) FILTER (WHERE sensitive AND s = 'no mfa') AS sensitive_no_mfa
        FROM e GROUP BY actor
        """,
        params,
    )
    if humans_only:
        df = df[df["events"] > df["other"]]
    human = (df["mfa"] + df["no_mfa"] + df["mfa_at_idp"]).where(lambda s: s > 0)
    df = df.assign(coverage=((df["mfa"] + df["mfa_at_idp"]) / human).fillna(0.0))
    return df.sort_values(
        ["sensitive_no_mfa", "coverage", "events", "actor"],
        ascending=[False, True, False, True],
        ignore_index=True,
    )


def mfa_device_changes(events: Events, start: TimeLike = None, end: TimeLike = None) -> pd.DataFrame:
    """MFA device lifecycle: who created, enabled, deactivated, deleted or resynced which
    device, for whom.

    ``target_user`` is ``requestParameters.userName`` (``AWS ROOT USER`` means root) or, for
    CreateVirtualMFADevice / DeleteVirtualMFADevice, the device name from the serial ARN;
    ``self_service`` says whether the caller acted on its own user.

    Returns
    -------
    DataFrame: event_time, event_id, event_name, actor, user_type, target_user,
    serial_number, self_service, error_code, source_ip_address, user_agent; in time order.
    """
    src = source(events)
    where, params = src.where(start, end, event_names=list(MFA_DEVICE_EVENTS))
    df = src.sql(
        f"""
        WITH e AS (
            SELECT *, CASE WHEN json_valid(request_parameters) THEN request_parameters END AS rp,
                      CASE WHEN json_valid(response_elements) THEN response_elements END AS re
            FROM events{where}
        )
        SELECT event_time, event_id, event_name, actor, user_type, user_name,
               coalesce(json_extract_string(rp, '$.userName'),
                        regexp_extract(coalesce(json_extract_string(rp, '$.serialNumber'),
                                                json_extract_string(re, '$.virtualMFADevice.serialNumber'), ''),
                                       ':mfa/(.+)$', 1)) AS target_user,
               coalesce(json_extract_string(rp, '$.serialNumber'),
                        json_extract_string(re, '$.virtualMFADevice.serialNumber'),
                        json_extract_string(rp, '$.virtualMFADeviceName')) AS serial_number,
               error_code, source_ip_address, user_agent
        FROM e ORDER BY event_time, event_id
        """,
        params,
    )
    df["target_user"] = df["target_user"].replace("", None)
    root = df["target_user"].fillna("").str.upper().eq("AWS ROOT USER")
    same = df["target_user"].notna() & (
        (df["target_user"] == df["user_name"]) | (root & df["user_type"].eq("Root"))
    )
    df.insert(7, "self_service", same)
    return utc_columns(df.drop(columns=["user_name"]), "event_time")


def root_activity(events: Events, start: TimeLike = None, end: TimeLike = None) -> pd.DataFrame:
    """Every event by the root user, with its MFA status.

    ``mfa`` is the sign-in's ``MFAUsed`` for console sign-ins, else the session's
    ``mfaAuthenticated``; calls signed with a long-term root access key are ``no mfa (access
    key)``: root keys should not exist at all.

    Returns
    -------
    DataFrame: event_time, event_id, event_source, event_name, result, mfa, access_key_id,
    key_type, assumed_root, source_ip_address, user_agent, recipient_account_id; in time order.
    """
    src = source(events)
    where, params = src.where(start, end, extra=[("user_type = ?", "Root")])
    df = src.sql(
        f"""
        SELECT event_time, event_id, event_source, event_name,
               CASE WHEN coalesce(is_error, FALSE) OR login_result = 'Failure' THEN 'Failure'
                    ELSE 'Success' END AS result,
               CASE WHEN event_name = 'ConsoleLogin' THEN
                        CASE WHEN mfa_used THEN 'mfa' WHEN NOT mfa_used THEN 'no mfa' ELSE 'unknown' END
                    WHEN key_type = 'long-term' THEN 'no mfa (access key)'
                    WHEN mfa_authenticated THEN 'mfa'
                    WHEN NOT mfa_authenticated THEN 'no mfa'
                    ELSE 'unknown' END AS mfa,
               access_key_id, key_type, assumed_root, source_ip_address, user_agent, recipient_account_id
        FROM events{where}
        ORDER BY event_time, event_id
        """,
        params,
    )
    return utc_columns(df, "event_time")
