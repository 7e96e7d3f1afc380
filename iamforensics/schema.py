"""The one Arrow schema of a case's events table, and the map from CloudTrail paths to it.

Everything that names a column (normalize, store, queries, Sigma field mapping, docs)
takes it from here. Column names are the snake_case of the CloudTrail field; ids are
strings (account ids keep their leading zeros, ``accountId`` may be ``"anonymous"``),
times are UTC microseconds, nested payloads are JSON text, never flattened lossily.

Examples
--------
>>> from iamforensics.schema import EVENTS_SCHEMA, column_for_path
>>> EVENTS_SCHEMA.field("event_time").type
TimestampType(timestamp[us, tz=UTC])
>>> column_for_path("userIdentity.sessionContext.sessionIssuer.arn")
'session_issuer_arn'
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

SCHEMA_VERSION = 1

TS = pa.timestamp("us", tz="UTC")
STR = pa.string()
BOOL = pa.bool_()


@dataclass(frozen=True)
class Column:
    """One column of the events table."""

    name: str
    type: pa.DataType
    path: str | None  # CloudTrail JSON path it comes from; None for derived/provenance
    doc: str
    group: str


def _c(name: str, typ: pa.DataType, path: str | None, doc: str, group: str) -> Column:
    return Column(name, typ, path, doc, group)


UI = "userIdentity"
SC = "userIdentity.sessionContext"

COLUMNS: tuple[Column, ...] = (
    # record -------------------------------------------------------------
    _c("event_time", TS, "eventTime", "Completion time of the request, UTC.", "record"),
    _c("event_id", STR, "eventID", "CloudTrail event id; the dedup key.", "record"),
    _c("event_version", STR, "eventVersion", 'Kept as a string: "1.10" is not 1.1.', "record"),
    _c("event_source", STR, "eventSource", "Service endpoint, e.g. iam.amazonaws.com.", "record"),
    _c("event_name", STR, "eventName", "API or console action.", "record"),
    _c("event_type", STR, "eventType", "AwsApiCall, AwsConsoleSignIn, ...", "record"),
    _c("event_category", STR, "eventCategory", "Management, Data, Insight, ...", "record"),
    _c("aws_region", STR, "awsRegion", "Region the request was made to.", "record"),
    _c("source_ip_address", STR, "sourceIPAddress", "As written; not always an IP.", "record"),
    _c("user_agent", STR, "userAgent", "Client user agent (<= 1 KB).", "record"),
    _c("error_code", STR, "errorCode", "Error code of a failed call.", "record"),
    _c("error_message", STR, "errorMessage", "Error message of a failed call.", "record"),
    _c("read_only", BOOL, "readOnly", "Read-only call (coerced to bool).", "record"),
    _c("management_event", BOOL, "managementEvent", "Management event flag.", "record"),
    _c("request_id", STR, "requestID", "Shared by cross-account copies.", "record"),
    _c("shared_event_id", STR, "sharedEventID", "Links cross-account copies.", "record"),
    _c("recipient_account_id", STR, "recipientAccountId", "Account whose log got it.", "record"),
    _c("vpc_endpoint_id", STR, "vpcEndpointId", "VPC endpoint used.", "record"),
    _c("vpc_endpoint_account_id", STR, "vpcEndpointAccountId", "Endpoint owner.", "record"),
    _c("api_version", STR, "apiVersion", "API version.", "record"),
    _c(
        "session_credential_from_console",
        BOOL,
        "sessionCredentialFromConsole",
        "Console-session credentials used from a proxy or client.",
        "record",
    ),
    # identity -----------------------------------------------------------
    _c("user_type", STR, f"{UI}.type", "Root, IAMUser, AssumedRole, ...", "identity"),
    _c("principal_id", STR, f"{UI}.principalId", "AIDA..., AROA...:session, ...", "identity"),
    _c("user_arn", STR, f"{UI}.arn", "Caller ARN (assumed-role ARNs drop the path).", "identity"),
    _c("account_id", STR, f"{UI}.accountId", "Account owning the principal.", "identity"),
    _c("user_name", STR, f"{UI}.userName", "Friendly name (root: alias).", "identity"),
    _c("access_key_id", STR, f"{UI}.accessKeyId", "Key that signed the request.", "identity"),
    _c("invoked_by", STR, f"{UI}.invokedBy", "Service acting on your behalf.", "identity"),
    _c("identity_provider", STR, f"{UI}.identityProvider", "SAML/OIDC provider.", "identity"),
    _c("credential_id", STR, f"{UI}.credentialId", "Identity Center bearer id.", "identity"),
    _c("session_issuer_type", STR, f"{SC}.sessionIssuer.type", "Role, IAMUser, Root.", "identity"),
    _c("session_issuer_arn", STR, f"{SC}.sessionIssuer.arn", "Role ARN with path.", "identity"),
    _c(
        "session_issuer_principal_id",
        STR,
        f"{SC}.sessionIssuer.principalId",
        "Role/user unique id.",
        "identity",
    ),
    _c(
        "session_issuer_account_id",
        STR,
        f"{SC}.sessionIssuer.accountId",
        "Account of the issuer.",
        "identity",
    ),
    _c(
        "session_issuer_user_name",
        STR,
        f"{SC}.sessionIssuer.userName",
        "Role or user name.",
        "identity",
    ),
    _c(
        "session_creation_date",
        TS,
        f"{SC}.attributes.creationDate",
        "Issue time of the temporary credentials.",
        "identity",
    ),
    _c(
        "mfa_authenticated",
        BOOL,
        f"{SC}.attributes.mfaAuthenticated",
        "MFA at session issue (coerced to bool).",
        "identity",
    ),
    _c("source_identity", STR, f"{SC}.sourceIdentity", "Carried through role chains.", "identity"),
    _c("ec2_role_delivery", STR, f"{SC}.ec2RoleDelivery", "1.0 IMDSv1 / 2.0 IMDSv2.", "identity"),
    _c("assumed_root", BOOL, f"{SC}.assumedRoot", "AssumeRoot session.", "identity"),
    _c("sign_in_session_arn", STR, f"{SC}.signInSessionArn", "Console session ARN.", "identity"),
    _c(
        "web_id_provider",
        STR,
        f"{SC}.webIdFederationData.federatedProvider",
        "Web identity provider.",
        "identity",
    ),
    _c(
        "identity_store_user_id",
        STR,
        f"{UI}.onBehalfOf.userId",
        "Identity Center user id.",
        "identity",
    ),
    _c(
        "identity_store_arn",
        STR,
        f"{UI}.onBehalfOf.identityStoreArn",
        "Identity Center identity store.",
        "identity",
    ),
    _c("on_behalf_of", STR, f"{UI}.onBehalfOf", "JSON text.", "identity"),
    _c("in_scope_of", STR, f"{UI}.inScopeOf", "JSON text (service-scoped creds).", "identity"),
    # derived ------------------------------------------------------------
    _c("actor", STR, None, "One stable name per principal.", "derived"),
    _c("session_name", STR, None, "Role session / federated user name.", "derived"),
    _c("key_type", STR, None, "long-term (AKIA), temporary (ASIA), other.", "derived"),
    _c("source_ip", STR, None, "Parsed IP; null for service names and invalid values.", "derived"),
    _c(
        "ip_class",
        STR,
        None,
        "public, private, aws-service, aws-internal, invalid.",
        "derived",
    ),
    _c("user_agent_family", STR, None, "console, aws-cli, sdk:<lang>, terraform, ...", "derived"),
    _c("is_error", BOOL, None, "errorCode set or sign-in failure.", "derived"),
    _c("login_result", STR, None, "Success/Failure of sign-in events.", "derived"),
    _c("mfa_used", BOOL, None, "MFAUsed of sign-in events.", "derived"),
    # payloads (JSON text) -----------------------------------------------
    _c("request_parameters", STR, "requestParameters", "JSON text.", "payload"),
    _c("response_elements", STR, "responseElements", "JSON text.", "payload"),
    _c("additional_event_data", STR, "additionalEventData", "JSON text.", "payload"),
    _c("resources", STR, "resources", "JSON text.", "payload"),
    _c("service_event_details", STR, "serviceEventDetails", "JSON text.", "payload"),
    _c("tls_details", STR, "tlsDetails", "JSON text.", "payload"),
    _c("addendum", STR, "addendum", "JSON text.", "payload"),
    _c("insight_details", STR, "insightDetails", "JSON text (Insights).", "payload"),
    _c("edge_device_details", STR, "edgeDeviceDetails", "JSON text.", "payload"),
    _c("event_context", STR, "eventContext", "JSON text (Lake enriched).", "payload"),
    # provenance ---------------------------------------------------------
    _c("source", STR, None, "File or URL the record came from.", "provenance"),
    _c("source_index", pa.int64(), None, "Record position in the source.", "provenance"),
    _c("source_format", STR, None, "Reader that decoded it.", "provenance"),
    _c("fidelity", STR, None, "full, or partial for records rebuilt from a lossy shape.", "provenance"),
    _c("missing_fields", pa.list_(STR), None, "Fields absent from a partial record.", "provenance"),
    # raw ------------------------------------------------------------------
    _c("raw", STR, None, "Original record, compact JSON, sessionToken redacted.", "raw"),
)

EVENTS_SCHEMA: pa.Schema = pa.schema([pa.field(c.name, c.type) for c in COLUMNS]).with_metadata(
    {"iamforensics.schema_version": str(SCHEMA_VERSION)}
)
COLUMN_NAMES: tuple[str, ...] = tuple(c.name for c in COLUMNS)
PATH_TO_COLUMN: dict[str, str] = {c.path: c.name for c in COLUMNS if c.path}
PAYLOAD_COLUMNS: tuple[str, ...] = tuple(c.name for c in COLUMNS if c.group == "payload")

#: Hive partition column of the case's events dataset (a folder name, not in the files).
PARTITION_COLUMN = "event_date"

#: Columns a timeline shows by default.
TIMELINE_COLUMNS: tuple[str, ...] = (
    "event_time",
    "event_id",
    "event_source",
    "event_name",
    "actor",
    "user_type",
    "access_key_id",
    "source_ip_address",
    "aws_region",
    "user_agent",
    "error_code",
    "read_only",
    "recipient_account_id",
)


def column_for_path(path: str) -> str | None:
    """Column holding a CloudTrail JSON path, or None when the path lives in a JSON column.

    Examples
    --------
    >>> column_for_path("eventName")
    'event_name'
    """
    return PATH_TO_COLUMN.get(path)


def json_column_for_path(path: str) -> tuple[str, str] | None:
    """(JSON column, JSON path inside it) for a path below a payload, else None.

    Examples
    --------
    >>> json_column_for_path("requestParameters.userName")
    ('request_parameters', '$.userName')
    """
    head, _, rest = path.partition(".")
    col = PATH_TO_COLUMN.get(head)
    if col in PAYLOAD_COLUMNS and rest:
        return col, "$." + rest
    if path.startswith(f"{UI}.onBehalfOf.") or path.startswith(f"{UI}.inScopeOf."):
        parent = ".".join(path.split(".")[:2])
        return PATH_TO_COLUMN[parent], "$." + path.split(".", 2)[2]
    return None
