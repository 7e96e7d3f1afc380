"""SQL text of session tracing: fixed expressions over the ``events`` view, no record values.

Every value from a record stays a column value or a ``?`` parameter; nothing here is built from
evidence. The *profile* of an event is what the fallback link compares (cloudtrail-reference
§4.2, join key 2): the account owning the principal, the principal (``role/<name>``,
``user/<name>``, ``root``, ``federated-user/<name>``), the role session name and the credentials'
creation time to the second.
"""

from __future__ import annotations

#: Event names that issue temporary credentials, per event source (cloudtrail-reference §4.1).
STS_ISSUERS: tuple[str, ...] = (
    "AssumeRole",
    "AssumeRoleWithSAML",
    "AssumeRoleWithWebIdentity",
    "GetSessionToken",
    "GetFederationToken",
    "AssumeRoot",
)

#: A key that can name credentials: masked (``AKIA****``), empty and ``Unknown`` keys cannot.
VALID_KEY = (
    "coalesce((starts_with(access_key_id, 'ASIA') OR starts_with(access_key_id, 'AKIA')) "
    "AND regexp_full_match(access_key_id, '(AKIA|ASIA)[A-Z0-9]{12,124}'), FALSE)"
)
TEMP_KEY = "coalesce(starts_with(access_key_id, 'ASIA') AND regexp_full_match(access_key_id, 'ASIA[A-Z0-9]{12,124}'), FALSE)"
LONG_KEY = "coalesce(starts_with(access_key_id, 'AKIA') AND regexp_full_match(access_key_id, 'AKIA[A-Z0-9]{12,124}'), FALSE)"


def _last_segment(col: str) -> str:
    return f"nullif(regexp_extract({col}, '/([^/]+)$', 1), '')"


#: Account owning the principal of the credentials (the role's account for role sessions).
P_ACCOUNT = "coalesce(nullif(session_issuer_account_id, ''), nullif(account_id, ''))"

#: The principal whose credentials these are; role and user names are unique in an account
#: whatever their path, and sessionIssuer keeps the path while assumed-role ARNs drop it.
P_PRINCIPAL = f"""CASE
    WHEN user_type = 'AssumedRole' THEN 'role/' || coalesce(nullif(session_issuer_user_name, ''),
        {_last_segment("session_issuer_arn")},
        nullif(regexp_extract(user_arn, ':assumed-role/([^/]+)/', 1), ''))
    WHEN user_type = 'FederatedUser' THEN 'federated-user/' || coalesce(nullif(session_name, ''),
        nullif(regexp_extract(user_arn, ':federated-user/(.+)$', 1), ''))
    WHEN user_type = 'Root' THEN 'root'
    WHEN user_type = 'IAMUser' THEN 'user/' || coalesce(nullif(user_name, ''), {_last_segment("user_arn")})
END"""

P_SESSION = "CASE WHEN user_type = 'AssumedRole' THEN coalesce(session_name, '') ELSE '' END"

#: Creation time of the credentials; a console SwitchRole event carries none, but it is written
#: at the second the role was assumed (cloudtrail-reference §4.6).
P_CREATED = """coalesce(date_trunc('second', session_creation_date),
    CASE WHEN event_name = 'SwitchRole' AND event_source = 'signin.amazonaws.com'
         AND user_type = 'AssumedRole' THEN date_trunc('second', event_time) END)"""

PROFILE_COLUMNS: tuple[str, ...] = ("p_account", "p_principal", "p_session", "p_created")

PROFILE_SELECT = (
    f"{P_ACCOUNT} AS p_account, {P_PRINCIPAL} AS p_principal, {P_SESSION} AS p_session, "
    f"{P_CREATED} AS p_created"
)


def jx(col: str, path: str) -> str:
    """``json_extract_string`` that yields NULL for text that is not JSON (never raises)."""
    return f"CASE WHEN json_valid({col}) THEN json_extract_string({col}, '{path}') END"


_ROLE_IN_RESOURCES = (
    "CASE WHEN json_valid(resources) THEN list_filter(json_extract_string(resources, '$[*].ARN'), "
    "lambda x: x LIKE 'arn:%:iam::%:role/%')[1] END"
)

_NAMES = ", ".join(f"'{n}'" for n in STS_ISSUERS)


def jxs(col: str, paths: tuple[str, ...]) -> str:
    """Several paths of one JSON text column, parsed once: a list (NULL when not JSON)."""
    listed = ", ".join(f"'{p}'" for p in paths)
    return f"CASE WHEN json_valid({col}) THEN json_extract_string({col}, [{listed}]) END"


_RESP = ("$.credentials.accessKeyId", "$.credentials.expiration", "$.sourceIdentity", "$.assumedRoleUser.arn",
         "$.federatedUser.arn")  # fmt: skip
_REQ = ("$.roleArn", "$.roleSessionName", "$.durationSeconds", "$.serialNumber", "$.sourceIdentity", "$.name",
        "$.targetPrincipal", "$.principalArn")  # fmt: skip
_SED = ("$.role_name", "$.account_id")

#: Issuing events (successful or not: failed attempts are reported, never made sessions).
ISSUANCES = f"""
WITH x AS (
    SELECT *, {jxs("response_elements", _RESP)} AS re, {jxs("request_parameters", _REQ)} AS rp,
           {jxs("service_event_details", _SED)} AS sd
    FROM events
    WHERE (event_source = 'sts.amazonaws.com' AND event_name IN ({_NAMES}))
       OR (event_source = 'signin.amazonaws.com' AND event_name = 'ConsoleLogin'
           AND user_type IN ('IAMUser', 'Root'))
       OR (event_source = 'sso.amazonaws.com' AND event_name = 'GetRoleCredentials')
)
SELECT event_id, event_time, event_name, recipient_account_id, shared_event_id, user_type, user_arn,
       account_id, user_name, principal_id, CASE WHEN {VALID_KEY} THEN access_key_id END AS access_key_id,
       invoked_by, actor, source_identity, source_ip_address, coalesce(is_error, FALSE) AS is_error, mfa_used,
       {PROFILE_SELECT},
       re[1] AS issued_key, re[2] AS expiration_text, rp[1] AS req_role_arn, {_ROLE_IN_RESOURCES} AS res_role_arn,
       rp[2] AS req_session_name, rp[3] AS duration_text, rp[4] AS serial_number,
       coalesce(re[3], rp[5]) AS req_source_identity, rp[6] AS fed_name, rp[7] AS target_principal,
       rp[8] AS saml_provider_arn, re[4] AS assumed_role_arn, re[5] AS federated_arn,
       sd[1] AS idc_role_name, sd[2] AS idc_account_id
FROM x
"""


#: Origin of an event that no session explains (long-term keys, password sign-ins, services).
#: An ``AKIA`` prefix marks a long-term key even when an export masked the rest (``AKIA****``).
_AKIA = "starts_with(coalesce(access_key_id, ''), 'AKIA')"

DIRECT_ORIGIN = f"""CASE
    WHEN user_type IN ('IAMUser', 'Root') AND {_AKIA} THEN actor
    WHEN user_type IN ('IAMUser', 'Root') AND NOT {VALID_KEY} AND session_creation_date IS NULL
         AND event_source = 'signin.amazonaws.com' THEN actor
    WHEN user_type IN ('SAMLUser', 'WebIdentityUser', 'IdentityCenterUser') THEN actor
    WHEN user_type = 'AWSService' OR (user_type IS NULL AND invoked_by IS NOT NULL)
         THEN coalesce(invoked_by, 'aws-service')
    WHEN user_type = 'AWSAccount'
         THEN 'unknown: ' || coalesce(actor, 'a caller') || ' acts from another account; its copy is not in the case'
END"""

DIRECT_KIND = f"""CASE
    WHEN user_type = 'IAMUser' AND ({_AKIA} OR event_source = 'signin.amazonaws.com') THEN 'iam-user'
    WHEN user_type = 'Root' AND ({_AKIA} OR event_source = 'signin.amazonaws.com') THEN 'root'
    WHEN user_type = 'SAMLUser' THEN 'idp-saml'
    WHEN user_type = 'WebIdentityUser' THEN 'idp-web-identity'
    WHEN user_type = 'IdentityCenterUser' THEN 'identity-center-user'
    WHEN user_type = 'AWSService' OR (user_type IS NULL AND invoked_by IS NOT NULL) THEN 'aws-service'
    WHEN user_type = 'AWSAccount' THEN 'unknown'
END"""


def attribution_sql(
    keys: str, profiles: str, partners: str, select: str = "e.*", source: str = "events"
) -> str:
    """Every event with its session: by key, else by profile, else through its cross-account copy.

    ``keys``, ``profiles`` and ``partners`` name the cached maps; ``select`` is fixed text
    chosen by the caller (column names from the schema).
    """
    return f"""
WITH e0 AS (
    SELECT *, {VALID_KEY} AS _valid_key FROM {source}
), e0p AS (  -- the profile matters only to events without a usable key
    SELECT *, CASE WHEN NOT _valid_key THEN {P_ACCOUNT} END AS p_account,
        CASE WHEN NOT _valid_key THEN {P_PRINCIPAL} END AS p_principal,
        CASE WHEN NOT _valid_key THEN {P_SESSION} END AS p_session,
        CASE WHEN NOT _valid_key THEN {P_CREATED} END AS p_created
    FROM e0
), e1 AS (
    SELECT e0p.*,
        CASE WHEN e0p._valid_key THEN k.session_id ELSE p.session_id END AS a_session_id,
        CASE WHEN e0p._valid_key THEN k.attribution ELSE p.attribution END AS a_attribution,
        CASE WHEN e0p._valid_key THEN k.candidates ELSE p.candidates END AS a_candidates,
        CASE WHEN e0p._valid_key THEN k.origin ELSE p.origin END AS a_origin,
        CASE WHEN e0p._valid_key THEN k.origin_kind ELSE p.origin_kind END AS a_origin_kind,
        CASE WHEN e0p._valid_key THEN k.origin_key ELSE p.origin_key END AS a_origin_key,
        CASE WHEN e0p._valid_key THEN k.chain_depth ELSE p.chain_depth END AS a_chain_depth
    FROM e0p
    LEFT JOIN {keys} k ON e0p._valid_key AND k.key = e0p.access_key_id
    LEFT JOIN {profiles} p ON NOT e0p._valid_key AND p.p_account = e0p.p_account
        AND p.p_principal = e0p.p_principal AND p.p_session = e0p.p_session AND p.p_created = e0p.p_created
), e AS (
    SELECT e1.* EXCLUDE (a_session_id, a_attribution, a_candidates, a_origin, a_origin_kind,
                         a_origin_key, a_chain_depth, _valid_key, p_account, p_principal, p_session,
                         p_created),
        coalesce(e1.a_session_id, x.session_id) AS session_id,
        coalesce(e1.a_attribution, x.attribution, 'none') AS attribution,
        coalesce(e1.a_candidates, x.candidates) AS candidates,
        coalesce(e1.a_origin, x.origin, {DIRECT_ORIGIN}) AS origin,
        coalesce(e1.a_origin_kind, x.origin_kind, {DIRECT_KIND}) AS origin_kind,
        coalesce(e1.a_origin_key, x.origin_key,
                 CASE WHEN e1.user_type IN ('IAMUser', 'Root') AND {LONG_KEY} THEN e1.access_key_id END)
            AS origin_key,
        coalesce(e1.a_chain_depth, x.chain_depth,
                 CASE WHEN ({DIRECT_ORIGIN}) IS NOT NULL AND e1.user_type IS DISTINCT FROM 'AWSAccount'
                      THEN 0 END)
            AS chain_depth
    FROM e1
    LEFT JOIN {partners} x ON e1.a_attribution IS NULL AND e1.user_type = 'AWSAccount'
        AND x.shared_event_id = e1.shared_event_id AND x.recipient_account_id <> e1.recipient_account_id
)
SELECT {select} FROM e
"""
