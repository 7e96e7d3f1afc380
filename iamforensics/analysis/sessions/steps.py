"""The build as SQL steps: each creates one temporary table in the case's DuckDB connection.

Whole-case work happens here, vectorized: a 10M-event case yields hundreds of thousands of
sessions, far too many for per-row Python. Python only walks the parents (:mod:`.link`) and
pairs Identity Center calls (:mod:`.build`). Every value from records stays a column value;
the only text formatted in is fixed SQL and integer constants.

Tables, in order: ``_s_iss`` issuing events with the identity each one created, ``_s_issued``
one row per issuance (copies merged), ``_s_prof`` their profiles, ``_s_use`` keys and keyless
profiles in use, ``_s_keyres`` / ``_s_profres`` what each links to, ``_s_obs`` sessions seen only
in use, ``_s_nodes`` every session with its parent link and base origin.
"""

from __future__ import annotations

from . import _sql

TABLES: tuple[str, ...] = (
    "_s_iss",
    "_s_issued",
    "_s_prof",
    "_s_use",
    "_s_keys0",
    "_s_keyres",
    "_s_profres",
    "_s_obs",
    "_s_nodes",
    "_s_idc",
    "_s_roots",
    "_s_walk",
)

_ROLE_RE = r"^arn:([\w-]+):iam::([^:]*):role/(?:.*/)?([^/]+)$"
_ASSUMED_RE = r"^arn:([\w-]+):sts::([^:]*):assumed-role/([^/]+)/(.+)$"
_JAVA_FORMATS = "['%b %d, %Y, %I:%M:%S %p', '%b %d, %Y %I:%M:%S %p']"
_MAX_DURATION_S = 10 * 366 * 86400  # a longer "duration" is not a lifetime; ignore it


def iss(defaults: dict[str, int]) -> str:
    """Issuing events, with kind, the identity of the credentials created, MFA, expiration, group."""
    default = "CASE event_name " + " ".join(f"WHEN '{k}' THEN {int(v)}" for k, v in defaults.items()) + " END"
    return f"""
CREATE OR REPLACE TEMP TABLE _s_iss AS
WITH raw AS ({_sql.ISSUANCES}),
k AS (
    SELECT *,
        CASE
            WHEN event_name = 'ConsoleLogin' THEN 'console'
            WHEN event_name = 'GetRoleCredentials' THEN 'identity-center'
            WHEN event_name = 'AssumeRole' AND (user_type = 'AWSService' OR (user_type IS NULL AND invoked_by IS NOT NULL))
                THEN CASE WHEN invoked_by = 'ec2.amazonaws.com' THEN 'instance-profile' ELSE 'service-delivered' END
            WHEN event_name = 'AssumeRole' AND starts_with(coalesce(source_ip_address, ''), 'AWS Internal')
                THEN 'switch-role'
            WHEN event_name = 'AssumeRole' THEN 'assume-role'
            WHEN event_name = 'AssumeRoleWithSAML'
                THEN CASE WHEN contains(coalesce(saml_provider_arn, ''), ':saml-provider/AWSSSO_')
                          THEN 'identity-center' ELSE 'saml' END
            WHEN event_name = 'AssumeRoleWithWebIdentity' THEN 'web-identity'
            WHEN event_name = 'GetSessionToken' THEN 'session-token'
            WHEN event_name = 'GetFederationToken' THEN 'federation-token'
            WHEN event_name = 'AssumeRoot' THEN 'assume-root'
        END AS kind,
        regexp_extract(coalesce(res_role_arn, req_role_arn, ''), '{_ROLE_RE}', ['part', 'acct', 'name']) AS rm,
        regexp_extract(coalesce(assumed_role_arn, ''), '{_ASSUMED_RE}', ['part', 'acct', 'name', 'sess']) AS am,
        TRY_CAST(TRY_CAST(duration_text AS DOUBLE) AS BIGINT) AS duration_s,
        coalesce(is_error, FALSE) AS failed,
        starts_with(event_name, 'AssumeRole') AS is_assume
    FROM raw
),
i AS (
    SELECT *,
        CASE
            WHEN is_assume THEN CASE WHEN rm.name <> '' THEN nullif(rm.acct, '')
                                     WHEN am.name <> '' THEN nullif(am.acct, '') END
            WHEN event_name IN ('GetSessionToken', 'ConsoleLogin', 'GetFederationToken')
                THEN coalesce(account_id, recipient_account_id)
            WHEN event_name = 'AssumeRoot' THEN nullif(regexp_extract(coalesce(target_principal, ''), '(\\d{{12}})', 1), '')
            WHEN event_name = 'GetRoleCredentials' THEN idc_account_id
        END AS s_account,
        CASE WHEN is_assume AND rm.name <> '' THEN coalesce(res_role_arn, req_role_arn) END AS role_arn,
        CASE WHEN is_assume THEN coalesce(req_session_name, nullif(am.sess, ''), '') ELSE '' END AS s_session
    FROM k
)
SELECT *,
    CASE
        WHEN is_assume THEN CASE WHEN rm.name <> '' THEN 'role/' || rm.name WHEN am.name <> '' THEN 'role/' || am.name END
        WHEN event_name IN ('GetSessionToken', 'ConsoleLogin') THEN
            CASE WHEN user_type = 'Root' THEN 'root'
                 WHEN user_type = 'IAMUser' THEN 'user/' || coalesce(user_name, nullif(regexp_extract(coalesce(user_arn, ''), '([^/]+)$', 1), ''))
            END
        WHEN event_name = 'GetFederationToken' THEN 'federated-user/' || fed_name
        WHEN event_name = 'AssumeRoot' AND s_account IS NOT NULL THEN 'root'
    END AS s_principal,
    CASE
        WHEN is_assume THEN coalesce(assumed_role_arn, CASE WHEN rm.name <> '' AND s_session <> ''
            THEN 'arn:' || rm.part || ':sts::' || rm.acct || ':assumed-role/' || rm.name || '/' || s_session END)
        WHEN event_name IN ('GetSessionToken', 'ConsoleLogin') THEN actor
        WHEN event_name = 'GetFederationToken'
            THEN coalesce(federated_arn, 'arn:aws:sts::' || s_account || ':federated-user/' || fed_name)
        WHEN event_name = 'AssumeRoot' THEN 'arn:aws:iam::' || s_account || ':root'
    END AS principal_arn,
    CASE
        WHEN kind IN ('saml', 'identity-center', 'web-identity', 'instance-profile', 'service-delivered') THEN NULL
        WHEN event_name = 'ConsoleLogin' THEN mfa_used
        WHEN serial_number IS NOT NULL THEN TRUE
        WHEN user_type = 'AWSAccount' THEN NULL  -- the other account's MFA is not shown
        ELSE FALSE
    END AS mfa_issue,
    try_strptime(expiration_text, {_JAVA_FORMATS})::TIMESTAMPTZ AS exp_response,
    CASE WHEN duration_s BETWEEN 0 AND {_MAX_DURATION_S}
         THEN date_trunc('second', event_time) + to_seconds(duration_s) END AS exp_duration,
    date_trunc('second', event_time) + to_seconds({default}) AS exp_default,
    CASE WHEN failed THEN NULL
         WHEN issued_key IS NOT NULL THEN 'key:' || issued_key
         WHEN shared_event_id IS NOT NULL AND is_assume THEN coalesce('key:' || max(issued_key) FILTER
             (WHERE NOT failed AND is_assume) OVER (PARTITION BY shared_event_id), 'shared:' || shared_event_id)
         ELSE 'evt:' || event_id
    END AS grp
FROM i
"""


#: Set expirations: the response's (Java-locale text, parsed above, else by Python), else the
#: request's duration, else the API's default lifetime.
ISS_EXPIRATION = """
UPDATE _s_iss SET exp_response = p.t FROM _s_exp_fix p WHERE _s_iss.event_id = p.event_id
"""

#: One session per group of successful copies; the caller's copy (never the AWSAccount view)
#: is the primary one.
ISSUED = """
CREATE OR REPLACE TEMP TABLE _s_issued AS
WITH g AS (
    SELECT grp,
        list(event_id ORDER BY o) AS issuing_event_ids,
        max(issued_key) AS access_key_id,
        bool_or(kind = 'switch-role') AS any_switch,
        arg_min(s_account, o) FILTER (WHERE s_account IS NOT NULL) AS account_id,
        arg_min(s_principal, o) FILTER (WHERE s_principal IS NOT NULL) AS p_principal,
        arg_min(role_arn, o) FILTER (WHERE role_arn IS NOT NULL) AS role_arn,
        arg_min(principal_arn, o) FILTER (WHERE principal_arn IS NOT NULL) AS principal_arn
    FROM (SELECT *, {'aws': user_type IS NOT DISTINCT FROM 'AWSAccount', 't': event_time, 'id': event_id} AS o
          FROM _s_iss WHERE grp IS NOT NULL)
    GROUP BY grp
)
SELECT coalesce(g.access_key_id,
        CASE p.kind WHEN 'console' THEN 'console' WHEN 'identity-center' THEN 'sso' ELSE 'issue' END
        || ':' || p.event_id) AS session_id,
    CASE WHEN g.any_switch THEN 'switch-role' ELSE p.kind END AS kind,
    p.event_id AS issuing_event_id, g.issuing_event_ids, p.event_name AS issuing_event_name,
    p.event_time AS issued_at,
    coalesce(p.exp_response, p.exp_duration, p.exp_default) AS expiration,
    CASE WHEN p.exp_response IS NOT NULL THEN 'response' WHEN p.exp_duration IS NOT NULL THEN 'duration'
         WHEN p.exp_default IS NOT NULL THEN 'default' END AS expiration_source,
    g.access_key_id, g.account_id, g.role_arn, g.principal_arn,
    CASE WHEN p.s_session <> '' THEN p.s_session WHEN p.kind = 'federation-token' THEN p.fed_name END AS session_name,
    coalesce(p.req_source_identity, p.source_identity) AS source_identity,
    p.mfa_issue, p.serial_number IS NOT NULL AS has_serial,
    p.actor AS issuer_actor, p.access_key_id AS issuer_key, p.user_type AS issuer_type,
    p.source_ip_address AS issuer_ip,
    g.p_principal, p.s_session AS p_session,
    -- the caller's identity, to find the session the call was made with
    p.access_key_id AS c_key, p.user_type AS c_type, p.p_account AS c_account, p.p_principal AS c_principal,
    p.p_session AS c_session, p.p_created AS c_created, p.actor AS c_actor, p.invoked_by AS c_invoked_by,
    p.principal_id AS c_principal_id, p.account_id AS c_account_id, p.idc_role_name
FROM g JOIN _s_iss p ON p.event_id = g.issuing_event_ids[1]
"""

PROF = """
CREATE OR REPLACE TEMP TABLE _s_prof AS
SELECT session_id, account_id AS p_account, p_principal, p_session, date_trunc('second', issued_at) AS p_created
FROM _s_issued WHERE p_principal IS NOT NULL AND account_id IS NOT NULL AND issued_at IS NOT NULL
"""

#: Temporary keys in use (``key`` set) and keyless events with a profile (``key`` NULL), with
#: what the sessions table reports of their use: these rows are every event a session owns
#: (the role owner's AWSAccount copies are the caller's events, not counted twice).
USE = f"""
CREATE OR REPLACE TEMP TABLE _s_use AS
SELECT CASE WHEN {_sql.VALID_KEY} THEN access_key_id END AS key, {_sql.PROFILE_SELECT},
       count(*) AS n, min(event_time) AS first_use, max(event_time) AS last_use,
       count(*) FILTER (WHERE is_error) AS errors,
       list(DISTINCT source_ip) FILTER (WHERE source_ip IS NOT NULL) AS ips,
       list(DISTINCT user_agent) FILTER (WHERE user_agent IS NOT NULL) AS uas,
       list(DISTINCT aws_region) FILTER (WHERE aws_region IS NOT NULL) AS regions,
       max(user_type) AS user_type, max(user_arn) AS user_arn, max(session_issuer_arn) AS issuer_arn,
       max(session_issuer_type) AS issuer_type, max(session_name) AS session_name,
       bool_or(mfa_authenticated) AS mfa_any, max(source_identity) AS source_identity,
       max(ec2_role_delivery) AS ec2_role_delivery,
       max({_sql.jx("in_scope_of", "$.issuerType")}) AS scope_issuer_type,
       max(identity_store_user_id) AS idc_user, max(identity_store_arn) AS idc_store,
       bool_or(coalesce(assumed_root, FALSE)) AS assumed_root
FROM events
WHERE ({_sql.TEMP_KEY} AND user_type IS DISTINCT FROM 'AWSAccount')
   OR (NOT {_sql.VALID_KEY} AND {_sql.P_CREATED} IS NOT NULL AND {_sql.P_PRINCIPAL} IS NOT NULL
       AND coalesce(user_type, '') NOT IN ('AWSAccount', 'AWSService'))
GROUP BY ALL
"""

#: One row per key: the profile most of its events carry (events without creationDate do not
#: override it), with counts over all its events.
KEYS0 = """
CREATE OR REPLACE TEMP TABLE _s_keys0 AS
SELECT * EXCLUDE (rn, n, first_use, last_use, mfa_any, n_all, first_all, last_all, mfa_all, errors, ips, uas, regions),
       n_all AS n, first_all AS first_use, last_all AS last_use, mfa_all AS mfa_any
FROM (
    SELECT *,
        row_number() OVER (PARTITION BY key ORDER BY p_created IS NULL, n DESC, p_created, p_principal, p_session) AS rn,
        sum(n) OVER (PARTITION BY key) AS n_all, min(first_use) OVER (PARTITION BY key) AS first_all,
        max(last_use) OVER (PARTITION BY key) AS last_all, bool_or(mfa_any) OVER (PARTITION BY key) AS mfa_all
    FROM _s_use WHERE key IS NOT NULL
) WHERE rn = 1
"""


def _best(use: str, key_cols: str, prof: str, tolerance_s: int) -> str:
    """Per use row, the candidate sessions at the smallest time difference (sorted)."""
    on = " AND ".join(f"u.{c} IS NOT DISTINCT FROM c.{c}" for c in key_cols.split(", "))
    return f"""
c AS (
    SELECT {", ".join("u." + c for c in key_cols.split(", "))}, p.session_id,
           abs(epoch(u.p_created) - epoch(p.p_created)) AS diff
    FROM {use} u JOIN {prof} p
      ON u.p_account = p.p_account AND u.p_principal = p.p_principal AND u.p_session = p.p_session
     AND u.p_created BETWEEN p.p_created - INTERVAL {int(tolerance_s)} SECOND
                         AND p.p_created + INTERVAL {int(tolerance_s)} SECOND
),
m AS (SELECT {key_cols}, min(diff) AS md FROM c GROUP BY ALL),
best AS (
    SELECT {", ".join("c." + x for x in key_cols.split(", "))}, list(DISTINCT c.session_id ORDER BY c.session_id) AS cands
    FROM c JOIN m u ON {on} AND c.diff = u.md GROUP BY ALL
)"""


def keyres(tolerance_s: int) -> str:
    """Every key in use: exact when issued here, else fallback/ambiguous on its profile, else observed."""
    return f"""
CREATE OR REPLACE TEMP TABLE _s_keyres AS
WITH issued AS (SELECT access_key_id AS key, session_id FROM _s_issued WHERE access_key_id IS NOT NULL),
rest AS (SELECT * FROM _s_keys0 WHERE key NOT IN (SELECT key FROM issued)),
{_best("rest", "key", "_s_prof", tolerance_s)}
SELECT k.key, i.session_id, 'exact-key' AS attribution, NULL::VARCHAR[] AS candidates, FALSE AS observed
FROM _s_keys0 k JOIN issued i ON i.key = k.key
UNION ALL
SELECT r.key,
    CASE WHEN b.cands IS NULL THEN r.key WHEN len(b.cands) = 1 THEN b.cands[1] END,
    CASE WHEN b.cands IS NULL THEN 'exact-key' WHEN len(b.cands) = 1 THEN 'fallback' ELSE 'ambiguous' END,
    CASE WHEN len(b.cands) > 1 THEN b.cands END,
    b.cands IS NULL
FROM rest r LEFT JOIN best b ON b.key = r.key
"""


_PK = "p_account, p_principal, p_session, p_created"


def profres(tolerance_s: int) -> str:
    """Keyless profiles: issued sessions and keyed observed sessions are the candidates."""
    return f"""
CREATE OR REPLACE TEMP TABLE _s_profres AS
WITH cand AS (
    SELECT session_id, {_PK} FROM _s_prof
    UNION ALL
    SELECT k.key, k.p_account, k.p_principal, k.p_session, k.p_created FROM _s_keys0 k
    JOIN _s_keyres r ON r.key = k.key AND r.observed
    WHERE k.p_created IS NOT NULL AND k.p_principal IS NOT NULL AND k.p_account IS NOT NULL
),
rest AS (SELECT * FROM _s_use WHERE key IS NULL),
{_best("rest", _PK, "cand", tolerance_s)}
SELECT r.p_account, r.p_principal, r.p_session, r.p_created,
    CASE WHEN b.cands IS NULL THEN 'observed:' || substr(sha256(concat_ws(chr(31), coalesce(r.p_account, ''),
             coalesce(r.p_principal, ''), coalesce(r.p_session, ''), coalesce(CAST(r.p_created AS VARCHAR), ''))), 1, 16)
         WHEN len(b.cands) = 1 THEN b.cands[1] END AS session_id,
    CASE WHEN b.cands IS NULL OR len(b.cands) = 1 THEN 'fallback' ELSE 'ambiguous' END AS attribution,
    CASE WHEN len(b.cands) > 1 THEN b.cands END AS candidates,
    b.cands IS NULL AS observed
FROM rest r LEFT JOIN best b ON b.p_account IS NOT DISTINCT FROM r.p_account
    AND b.p_principal IS NOT DISTINCT FROM r.p_principal AND b.p_session IS NOT DISTINCT FROM r.p_session
    AND b.p_created IS NOT DISTINCT FROM r.p_created
"""


#: Kind and origin of a session seen only through its use: only what AWS stamps on the events
#: counts (ec2RoleDelivery, inScopeOf, a service-linked role's path, onBehalfOf, a federated
#: user's session issuer, an IAM user's own session).
_OBS_KIND = """CASE
    WHEN u.ec2_role_delivery IS NOT NULL OR ends_with(coalesce(u.issuer_arn, ''), ':role/aws:ec2-instance')
        THEN 'instance-profile'
    WHEN u.scope_issuer_type IS NOT NULL OR regexp_matches(coalesce(u.issuer_arn, ''), ':role/aws-service-role/[^/]+/')
        THEN 'service-delivered'
    WHEN u.idc_user IS NOT NULL OR contains(coalesce(u.issuer_arn, ''), ':role/aws-reserved/sso.amazonaws.com/')
        THEN 'identity-center'
    WHEN u.user_type = 'FederatedUser' THEN 'federation-token'
    ELSE 'observed'
END"""

OBS = f"""
CREATE OR REPLACE TEMP TABLE _s_obs AS
WITH u AS (
    SELECT r.session_id, k.* FROM _s_keys0 k JOIN _s_keyres r ON r.key = k.key AND r.observed
    UNION ALL BY NAME
    SELECT r.session_id, u.* FROM _s_use u JOIN _s_profres r ON r.observed AND u.key IS NULL
        AND r.p_account IS NOT DISTINCT FROM u.p_account AND r.p_principal IS NOT DISTINCT FROM u.p_principal
        AND r.p_session IS NOT DISTINCT FROM u.p_session AND r.p_created IS NOT DISTINCT FROM u.p_created
), k AS (SELECT *, {_OBS_KIND} AS kind FROM u)
SELECT session_id, kind, key AS access_key_id, p_created AS issued_at, p_account AS account_id,
    CASE WHEN starts_with(coalesce(p_principal, ''), 'role/') THEN issuer_arn END AS role_arn,
    user_arn AS principal_arn, coalesce(session_name, nullif(p_session, '')) AS session_name,
    source_identity,
    CASE WHEN kind IN ('instance-profile', 'service-delivered', 'identity-center') THEN NULL ELSE mfa_any END AS mfa_ev,
    CASE
        WHEN kind = 'instance-profile' THEN 'ec2.amazonaws.com'
        WHEN kind = 'service-delivered' THEN coalesce(
            nullif(regexp_extract(coalesce(issuer_arn, ''), ':role/aws-service-role/([^/]+)/', 1), ''),
            CASE WHEN len(string_split(coalesce(scope_issuer_type, ''), '::')) >= 3
                 THEN lower(string_split(scope_issuer_type, '::')[2]) || '.amazonaws.com' END,
            'aws-service')
        WHEN kind = 'identity-center' AND idc_user IS NOT NULL
            THEN 'identitycenter:' || coalesce(idc_store, '') || '#' || idc_user
        WHEN kind = 'identity-center' THEN 'unknown: Identity Center session whose GetRoleCredentials / '
            || 'AssumeRoleWithSAML is not in the case'
        WHEN user_type = 'FederatedUser' AND issuer_arn IS NOT NULL THEN issuer_arn
        WHEN user_type = 'IAMUser' AND user_arn IS NOT NULL THEN user_arn
        WHEN user_type = 'Root' THEN 'unknown: ' || CASE WHEN assumed_root THEN 'AssumeRoot session' ELSE 'root session' END
            || ' whose issuing event (console sign-in, GetSessionToken or AssumeRoot) is not in the case'
        ELSE 'unknown: issuing event not in the case'
            || coalesce(' (sourceIdentity ' || source_identity || ')', '')
    END AS b_origin,
    CASE
        WHEN kind IN ('instance-profile', 'service-delivered') THEN 'aws-service'
        WHEN kind = 'identity-center' AND idc_user IS NOT NULL THEN 'identity-center-user'
        WHEN kind = 'identity-center' THEN 'unknown'
        WHEN user_type = 'FederatedUser' AND issuer_arn IS NOT NULL
            THEN CASE WHEN issuer_type = 'Root' THEN 'root' ELSE 'iam-user' END
        WHEN user_type = 'IAMUser' AND user_arn IS NOT NULL THEN 'iam-user'
        ELSE 'unknown'
    END AS b_kind
FROM k
"""

#: The caller's session of each issuance, by its key, else by its profile; else its identity.
_BASE = """CASE
    WHEN s.c_type IN ('IAMUser', 'Root') AND starts_with(coalesce(s.c_key, ''), 'AKIA')
        THEN {o: coalesce(s.c_actor, 'unknown: caller without an ARN'),
              k: CASE s.c_type WHEN 'IAMUser' THEN 'iam-user' ELSE 'root' END, key: s.c_key, d: 1}
    WHEN s.issuing_event_name = 'ConsoleLogin' AND s.c_actor IS NOT NULL
        THEN {o: s.c_actor, k: CASE s.c_type WHEN 'IAMUser' THEN 'iam-user' ELSE 'root' END, key: NULL, d: 1}
    WHEN s.c_type = 'AWSService' OR (s.c_type IS NULL AND s.c_invoked_by IS NOT NULL)
        THEN {o: coalesce(s.c_invoked_by, 'aws-service'), k: 'aws-service', key: NULL, d: 1}
    WHEN s.c_type = 'SAMLUser' AND s.c_actor IS NOT NULL THEN {o: s.c_actor, k: 'idp-saml', key: NULL, d: 1}
    WHEN s.c_type = 'WebIdentityUser' AND s.c_actor IS NOT NULL
        THEN {o: s.c_actor, k: 'idp-web-identity', key: NULL, d: 1}
    WHEN s.c_type = 'IdentityCenterUser' AND s.c_actor IS NOT NULL
        THEN {o: s.c_actor, k: 'identity-center-user', key: NULL, d: 1}
    WHEN s.c_type = 'AWSAccount' AND starts_with(coalesce(s.c_principal_id, ''), 'AIDA') AND f.arn IS NOT NULL
        THEN {o: f.arn, k: 'iam-user', key: NULL, d: NULL}
    WHEN s.c_type = 'AWSAccount' AND regexp_full_match(coalesce(s.c_principal_id, ''), '\\d{12}')
        THEN {o: 'arn:aws:iam::' || s.c_principal_id || ':root', k: 'root', key: NULL, d: NULL}
    WHEN s.c_type = 'AWSAccount'
        THEN {o: 'unknown: issued to ' || coalesce(s.c_principal_id, '?') || ' of account '
                 || coalesce(s.c_account_id, '?') || '; the caller''s copy of the call is not in the case',
              k: 'unknown', key: NULL, d: NULL}
    ELSE {o: 'unknown: caller ' || coalesce(s.c_actor, s.c_type, '?') || ' carries no key or session to follow',
          k: 'unknown', key: NULL, d: NULL}
END"""

#: Every session: its parent link (exact-key, fallback, ambiguous, none), base origin when the
#: parent is not a session, and what its own events say about MFA and Identity Center users.
NODES = f"""
CREATE OR REPLACE TEMP TABLE _s_nodes AS
WITH foreign_users AS (
    SELECT principal_id, min(user_arn) AS arn FROM events
    WHERE user_type = 'IAMUser' AND user_arn IS NOT NULL
      AND principal_id IN (SELECT c_principal_id FROM _s_issued WHERE c_type = 'AWSAccount')
    GROUP BY 1 HAVING count(DISTINCT user_arn) = 1
),
linked AS (  -- what each session's own events say
    SELECT r.session_id, u.mfa_any, u.idc_user, u.idc_store FROM _s_use u JOIN _s_keyres r ON r.key = u.key
    UNION ALL
    SELECT r.session_id, u.mfa_any, u.idc_user, u.idc_store FROM _s_use u JOIN _s_profres r ON u.key IS NULL
        AND r.p_account IS NOT DISTINCT FROM u.p_account AND r.p_principal IS NOT DISTINCT FROM u.p_principal
        AND r.p_session IS NOT DISTINCT FROM u.p_session AND r.p_created IS NOT DISTINCT FROM u.p_created
),
ev AS (
    SELECT session_id, bool_or(mfa_any) AS mfa_ev,
        list(DISTINCT 'identitycenter:' || coalesce(idc_store, '') || '#' || idc_user ORDER BY 1)
            FILTER (WHERE idc_user IS NOT NULL) AS idc_users
    FROM linked WHERE session_id IS NOT NULL GROUP BY 1
),
link AS (
    SELECT s.session_id,
        CASE WHEN starts_with(coalesce(s.c_key, ''), 'ASIA') AND kr.key IS NOT NULL THEN kr.attribution
             WHEN s.c_key IS NULL AND pr.attribution IS NOT NULL THEN pr.attribution
             ELSE 'none' END AS link,
        CASE WHEN starts_with(coalesce(s.c_key, ''), 'ASIA') AND kr.key IS NOT NULL
                 THEN {{sid: kr.session_id, cands: kr.candidates}}
             WHEN s.c_key IS NULL AND pr.attribution IS NOT NULL
                 THEN {{sid: pr.session_id, cands: pr.candidates}} END AS parent,
        {_BASE} AS base,
        CASE WHEN s.c_type IN ('AWSAccount', 'IAMUser', 'Root') THEN s.c_account_id END AS base_account
    FROM _s_issued s
    LEFT JOIN _s_keyres kr ON kr.key = s.c_key
    LEFT JOIN _s_profres pr ON s.c_key IS NULL AND s.c_type NOT IN ('AWSAccount', 'AWSService')
        AND pr.p_account = s.c_account AND pr.p_principal = s.c_principal
        AND pr.p_session = coalesce(s.c_session, '') AND pr.p_created = s.c_created
    LEFT JOIN foreign_users f ON f.principal_id = s.c_principal_id
)
SELECT s.session_id, s.kind, s.account_id, FALSE AS observed_only, l.link, l.parent.sid AS parent_session_id,
    l.parent.cands AS parent_candidates, l.base.o AS b_origin, l.base.k AS b_kind, l.base.key AS b_key,
    l.base.d AS b_depth, l.base_account, s.mfa_issue, s.has_serial, ev.mfa_ev, ev.idc_users
FROM _s_issued s JOIN link l USING (session_id) LEFT JOIN ev USING (session_id)
UNION ALL
SELECT o.session_id, o.kind, o.account_id, TRUE, 'none', NULL, NULL, o.b_origin, o.b_kind, NULL,
    CASE WHEN o.b_kind = 'unknown' THEN NULL ELSE 1 END, NULL, NULL, FALSE, o.mfa_ev, NULL
FROM _s_obs o
"""

#: Failed issuing calls, counted on the session that made them.
FAILED = """
SELECT coalesce(kr.session_id, pr.session_id) AS session_id, count(*) AS n
FROM _s_iss s
LEFT JOIN _s_keyres kr ON starts_with(coalesce(s.access_key_id, ''), 'ASIA') AND kr.key = s.access_key_id
LEFT JOIN _s_profres pr ON s.access_key_id IS NULL AND coalesce(s.user_type, '') NOT IN ('AWSAccount', 'AWSService')
    AND pr.p_account = s.p_account AND pr.p_principal = s.p_principal AND pr.p_session = coalesce(s.p_session, '')
    AND pr.p_created = s.p_created
WHERE s.failed AND coalesce(kr.session_id, pr.session_id) IS NOT NULL
GROUP BY 1
"""


def stats(cap: int) -> str:
    """Each session's use, from the rows of ``_s_use`` its keys and profiles link to."""
    prof_eq = " AND ".join(f"r.{c} IS NOT DISTINCT FROM u.{c}" for c in _PK.split(", "))
    return f"""
WITH m AS (
    SELECT r.session_id, u.key, u.n, u.errors, u.first_use, u.last_use, u.ips, u.uas, u.regions
    FROM _s_use u JOIN _s_keyres r ON r.key = u.key WHERE r.session_id IS NOT NULL
    UNION ALL
    SELECT r.session_id, NULL, u.n, u.errors, u.first_use, u.last_use, u.ips, u.uas, u.regions
    FROM _s_use u JOIN _s_profres r ON u.key IS NULL AND {prof_eq} WHERE r.session_id IS NOT NULL
), a AS (
    SELECT session_id, sum(n) AS events, sum(errors) AS errors, min(first_use) AS first_use,
        max(last_use) AS last_use, list_sort(list_distinct(flatten(list(ips)))) AS ips,
        list_sort(list_distinct(flatten(list(uas)))) AS uas, list_sort(list_distinct(flatten(list(regions)))) AS regions,
        list_sort(list_distinct(list(key) FILTER (WHERE key IS NOT NULL))) AS keys_used
    FROM m GROUP BY session_id
)
SELECT session_id, events, errors, first_use, last_use, list_slice(ips, 1, {int(cap)}) AS ips, len(ips) AS ip_count,
    list_slice(uas, 1, {int(cap)}) AS user_agents, len(uas) AS user_agent_count, regions,
    list_slice(keys_used, 1, {int(cap)}) AS keys_used
FROM a
"""


#: Sessions whose parent is not a session (nearly all): origin, depth, accounts and MFA in SQL.
#: Identity Center: a portal SAML session takes the user behind its GetRoleCredentials, else the
#: onBehalfOf its own calls carry (AWS stamps it), rather than the SAML subject.
ROOTS = """
CREATE OR REPLACE TEMP TABLE _s_roots AS
WITH n AS (
    SELECT n.*, i.origin AS idc_origin, i.ambiguous AS idc_ambiguous FROM _s_nodes n
    LEFT JOIN _s_idc i ON i.saml = n.session_id WHERE n.link = 'none'
), b AS (
    SELECT *,
        CASE WHEN observed_only THEN {o: b_origin, k: b_kind, key: b_key, d: b_depth}
             WHEN idc_origin IS NOT NULL THEN {o: idc_origin, k: 'identity-center-user', key: NULL, d: 1}
             WHEN idc_ambiguous IS NOT NULL
                 THEN {o: 'ambiguous: ' || array_to_string(idc_ambiguous, ' | '), k: 'ambiguous', key: NULL, d: NULL}
             WHEN len(coalesce(idc_users, [])) = 1 AND b_kind IN ('idp-saml', 'unknown')
                 THEN {o: idc_users[1], k: 'identity-center-user', key: NULL, d: 1}
             ELSE {o: b_origin, k: b_kind, key: b_key, d: b_depth} END AS r
    FROM n
), s AS (
    SELECT *, coalesce(base_account, CASE WHEN r.k IN ('iam-user', 'root') THEN nullif(split_part(r.o, ':', 5), '') END)
        AS start_account
    FROM b
)
SELECT session_id, r.o AS origin, r.k AS origin_kind, r.key AS origin_key, CAST(r.d AS BIGINT) AS chain_depth,
    CASE WHEN start_account IS NULL THEN (CASE WHEN account_id IS NULL THEN []::VARCHAR[] ELSE [account_id] END)
         WHEN account_id IS NULL OR account_id = start_account THEN [start_account]
         ELSE [start_account, account_id] END AS chain_accounts,
    CASE WHEN kind IN ('instance-profile', 'service-delivered', 'saml', 'identity-center', 'web-identity') THEN NULL
         WHEN mfa_ev IS NOT NULL THEN mfa_ev ELSE mfa_issue END AS mfa_at_issue
FROM s
"""

#: The few sessions issued by another session (chains, switch-role, AssumeRoot...), for the walk.
CHAINED = """
SELECT session_id, kind, account_id, observed_only, link, parent_session_id, parent_candidates, mfa_issue,
    has_serial, mfa_ev
FROM _s_nodes WHERE link <> 'none'
"""

#: The already resolved parents the chained sessions point at.
CHAINED_PARENTS = """
SELECT * FROM _s_roots WHERE session_id IN (
    SELECT parent_session_id FROM _s_nodes WHERE link <> 'none'
    UNION SELECT unnest(parent_candidates) FROM _s_nodes WHERE link <> 'none'
)
"""
