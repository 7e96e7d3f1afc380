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
VALID_KEY = "regexp_full_match(coalesce(access_key_id, ''), '(AKIA|ASIA)[A-Z0-9]{12,124}')"
TEMP_KEY = f"(starts_with(access_key_id, 'ASIA') AND {VALID_KEY})"
LONG_KEY = f"(starts_with(access_key_id, 'AKIA') AND {VALID_KEY})"


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

#: Issuing events (successful or not: failed attempts are reported, never made sessions).
ISSUANCES = f"""
SELECT event_id, event_time, event_name, event_source, event_type, recipient_account_id,
       shared_event_id, request_id, user_type, user_arn, account_id, user_name, principal_id,
       CASE WHEN {VALID_KEY} THEN access_key_id END AS access_key_id,
       invoked_by, actor, session_name, session_issuer_arn, mfa_authenticated, source_identity,
       identity_provider, identity_store_user_id, identity_store_arn, source_ip_address, source_ip,
       ip_class, user_agent, error_code, coalesce(is_error, FALSE) AS is_error, login_result, mfa_used,
       assumed_root, {PROFILE_SELECT},
       {jx("response_elements", "$.credentials.accessKeyId")} AS issued_key,
       {jx("response_elements", "$.credentials.expiration")} AS expiration_text,
       {jx("request_parameters", "$.roleArn")} AS req_role_arn,
       {_ROLE_IN_RESOURCES} AS res_role_arn,
       {jx("request_parameters", "$.roleSessionName")} AS req_session_name,
       {jx("request_parameters", "$.durationSeconds")} AS duration_text,
       {jx("request_parameters", "$.serialNumber")} AS serial_number,
       coalesce({jx("response_elements", "$.sourceIdentity")},
                {jx("request_parameters", "$.sourceIdentity")}) AS req_source_identity,
       {jx("request_parameters", "$.name")} AS fed_name,
       {jx("request_parameters", "$.targetPrincipal")} AS target_principal,
       {jx("request_parameters", "$.principalArn")} AS saml_provider_arn,
       {jx("response_elements", "$.assumedRoleUser.arn")} AS assumed_role_arn,
       {jx("response_elements", "$.federatedUser.arn")} AS federated_arn,
       {jx("response_elements", "$.subject")} AS saml_subject,
       {jx("service_event_details", "$.role_name")} AS idc_role_name,
       {jx("service_event_details", "$.account_id")} AS idc_account_id
FROM events
WHERE (event_source = 'sts.amazonaws.com' AND event_name IN ({_NAMES}))
   OR (event_source = 'signin.amazonaws.com' AND event_name = 'ConsoleLogin'
       AND user_type IN ('IAMUser', 'Root'))
   OR (event_source = 'sso.amazonaws.com' AND event_name = 'GetRoleCredentials')
"""

#: Temporary keys in use, one row per key and profile, with what their events say about them.
KEY_USE = f"""
SELECT access_key_id AS key, {PROFILE_SELECT}, count(*) AS n,
       min(event_time) AS first_use, max(event_time) AS last_use,
       max(user_type) AS user_type, max(user_arn) AS user_arn, max(session_issuer_arn) AS issuer_arn,
       max(session_issuer_type) AS issuer_type, max(session_name) AS session_name,
       bool_or(mfa_authenticated) AS mfa_any, bool_and(mfa_authenticated) AS mfa_all,
       max(source_identity) AS source_identity, max(ec2_role_delivery) AS ec2_role_delivery,
       max({jx("in_scope_of", "$.issuerType")}) AS scope_issuer_type,
       max(identity_store_user_id) AS idc_user, max(identity_store_arn) AS idc_store,
       bool_or(coalesce(assumed_root, FALSE)) AS assumed_root
FROM events
WHERE {TEMP_KEY}
GROUP BY ALL
"""

#: Events without a usable key but with a session profile (console switch-role, Identity Center).
KEYLESS_USE = f"""
SELECT {PROFILE_SELECT}, count(*) AS n, min(event_time) AS first_use, max(event_time) AS last_use,
       max(user_type) AS user_type, max(user_arn) AS user_arn, max(session_issuer_arn) AS issuer_arn,
       max(session_issuer_type) AS issuer_type, max(session_name) AS session_name,
       bool_or(mfa_authenticated) AS mfa_any, bool_and(mfa_authenticated) AS mfa_all,
       max(source_identity) AS source_identity, max(ec2_role_delivery) AS ec2_role_delivery,
       max({jx("in_scope_of", "$.issuerType")}) AS scope_issuer_type,
       max(identity_store_user_id) AS idc_user, max(identity_store_arn) AS idc_store,
       bool_or(coalesce(assumed_root, FALSE)) AS assumed_root
FROM events
WHERE NOT {VALID_KEY} AND {P_CREATED} IS NOT NULL AND {P_PRINCIPAL} IS NOT NULL
  AND coalesce(user_type, '') NOT IN ('AWSAccount', 'AWSService')
GROUP BY ALL
"""


def candidates_sql(use_table: str, profiles_table: str, tolerance_s: int) -> str:
    """Fallback candidates: sessions whose issue profile matches a use profile within tolerance."""
    return f"""
SELECT u.row_id, p.session_id,
       abs(epoch(u.p_created) - epoch(p.p_created)) AS diff
FROM {use_table} u JOIN {profiles_table} p
  ON u.p_account = p.p_account AND u.p_principal = p.p_principal AND u.p_session = p.p_session
 AND u.p_created BETWEEN p.p_created - INTERVAL {int(tolerance_s)} SECOND
                     AND p.p_created + INTERVAL {int(tolerance_s)} SECOND
"""


#: Origin of an event that no session explains (long-term keys, password sign-ins, services).
DIRECT_ORIGIN = f"""CASE
    WHEN user_type IN ('IAMUser', 'Root') AND {LONG_KEY} THEN actor
    WHEN user_type IN ('IAMUser', 'Root') AND NOT {VALID_KEY} AND session_creation_date IS NULL
         AND event_source = 'signin.amazonaws.com' THEN actor
    WHEN user_type IN ('SAMLUser', 'WebIdentityUser', 'IdentityCenterUser') THEN actor
    WHEN user_type = 'AWSService' OR (user_type IS NULL AND invoked_by IS NOT NULL)
         THEN coalesce(invoked_by, 'aws-service')
    WHEN user_type = 'AWSAccount'
         THEN 'unknown: ' || coalesce(actor, 'a caller') || ' acts from another account; its copy is not in the case'
END"""

DIRECT_KIND = f"""CASE
    WHEN user_type = 'IAMUser' AND ({LONG_KEY} OR event_source = 'signin.amazonaws.com') THEN 'iam-user'
    WHEN user_type = 'Root' AND ({LONG_KEY} OR event_source = 'signin.amazonaws.com') THEN 'root'
    WHEN user_type = 'SAMLUser' THEN 'idp-saml'
    WHEN user_type = 'WebIdentityUser' THEN 'idp-web-identity'
    WHEN user_type = 'IdentityCenterUser' THEN 'identity-center-user'
    WHEN user_type = 'AWSService' OR (user_type IS NULL AND invoked_by IS NOT NULL) THEN 'aws-service'
    WHEN user_type = 'AWSAccount' THEN 'unknown'
END"""


def attribution_sql(keys: str, profiles: str, partners: str, select: str = "e.*") -> str:
    """Every event with its session: by key, else by profile, else through its cross-account copy.

    ``keys``, ``profiles`` and ``partners`` name the cached maps; ``select`` is fixed text
    chosen by the caller (column names from the schema).
    """
    return f"""
WITH e0 AS (
    SELECT *, {PROFILE_SELECT}, {VALID_KEY} AS _valid_key FROM events
), e1 AS (
    SELECT e0.*,
        CASE WHEN e0._valid_key THEN k.session_id ELSE p.session_id END AS a_session_id,
        CASE WHEN e0._valid_key THEN k.attribution ELSE p.attribution END AS a_attribution,
        CASE WHEN e0._valid_key THEN k.candidates ELSE p.candidates END AS a_candidates,
        CASE WHEN e0._valid_key THEN k.origin ELSE p.origin END AS a_origin,
        CASE WHEN e0._valid_key THEN k.origin_kind ELSE p.origin_kind END AS a_origin_kind,
        CASE WHEN e0._valid_key THEN k.origin_key ELSE p.origin_key END AS a_origin_key,
        CASE WHEN e0._valid_key THEN k.chain_depth ELSE p.chain_depth END AS a_chain_depth
    FROM e0
    LEFT JOIN {keys} k ON e0._valid_key AND k.key = e0.access_key_id
    LEFT JOIN {profiles} p ON NOT e0._valid_key AND p.p_account = e0.p_account
        AND p.p_principal = e0.p_principal AND p.p_session = e0.p_session AND p.p_created = e0.p_created
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
