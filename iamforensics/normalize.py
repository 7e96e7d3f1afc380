"""Pure normalization: decoded CloudTrail records in, one Arrow table of the schema out.

There is one path. Every record becomes a :class:`Record` struct first: the fast way is
msgspec decoding its JSON bytes straight into the typed struct, nested payloads kept as
``msgspec.Raw`` (their original bytes, never turned into Python dicts); a record whose
values do not fit the types (``readOnly: "true"``, a numeric ``eventName``, a dict from a
re-shaped export) is decoded generically and coerced into the same struct. Columns are
then built from the structs by one function, so the fast and the readable path cannot
disagree. No I/O happens here.

Examples
--------
>>> t, rejects = normalize_records([{"eventTime": "2024-05-01T09:00:00Z", "eventID": "e1",
...     "eventName": "GetCallerIdentity", "eventSource": "sts.amazonaws.com",
...     "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::012345678901:user/alice",
...                      "accountId": "012345678901", "accessKeyId": "AKIAEXAMPLE"}}])
>>> t.column("actor")[0].as_py(), t.column("key_type")[0].as_py(), rejects
('arn:aws:iam::012345678901:user/alice', 'long-term', [])
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import msgspec
import orjson
import pyarrow as pa
import pyarrow.compute as pc
from msgspec.structs import astuple

from .schema import EVENTS_SCHEMA
from .timeparse import parse_time_column

_STRING = pa.string()
_NULL = pa.null()

Raw = msgspec.Raw
_EMPTY = msgspec.Raw(b"")
REDACTED = "<redacted by iamforensics>"


# The typed structs hold only strings, booleans, Raw and each other, so they can never
# be part of a reference cycle: gc=False keeps the cyclic collector from tracking (and
# re-scanning) millions of them during an ingest.
class SessionIssuer(msgspec.Struct, omit_defaults=True, gc=False):
    type: str | None = None
    principalId: str | None = None
    arn: str | None = None
    accountId: str | None = None
    userName: str | None = None


class Attributes(msgspec.Struct, gc=False):
    creationDate: str | None = None
    mfaAuthenticated: str | bool | None = None


class WebIdFederationData(msgspec.Struct, gc=False):
    federatedProvider: str | None = None


class SessionContext(msgspec.Struct, gc=False):
    sessionIssuer: SessionIssuer | None = None
    attributes: Attributes | None = None
    sourceIdentity: str | None = None
    ec2RoleDelivery: str | None = None
    assumedRoot: str | bool | None = None
    signInSessionArn: str | None = None
    webIdFederationData: WebIdFederationData | None = None


class OnBehalfOf(msgspec.Struct, gc=False):
    userId: str | None = None
    identityStoreArn: str | None = None


class UserIdentity(msgspec.Struct, gc=False):
    type: str | None = None
    principalId: str | None = None
    arn: str | None = None
    accountId: str | None = None
    userName: str | None = None
    accessKeyId: str | None = None
    invokedBy: str | None = None
    identityProvider: str | None = None
    credentialId: str | None = None
    sessionContext: SessionContext | None = None
    onBehalfOf: msgspec.Raw = _EMPTY
    inScopeOf: msgspec.Raw = _EMPTY


class Record(msgspec.Struct, gc=False):
    """The typed view of one CloudTrail record (unknown keys stay in the raw column)."""

    eventTime: str | None = None
    eventID: str | None = None
    eventVersion: str | None = None
    eventSource: str | None = None
    eventName: str | None = None
    eventType: str | None = None
    eventCategory: str | None = None
    awsRegion: str | None = None
    sourceIPAddress: str | None = None
    userAgent: str | None = None
    errorCode: str | None = None
    errorMessage: str | None = None
    readOnly: bool | None = None
    managementEvent: bool | None = None
    requestID: str | None = None
    sharedEventID: str | None = None
    recipientAccountId: str | None = None
    vpcEndpointId: str | None = None
    vpcEndpointAccountId: str | None = None
    apiVersion: str | None = None
    sessionCredentialFromConsole: str | bool | None = None
    userIdentity: UserIdentity | None = None
    requestParameters: msgspec.Raw = _EMPTY
    responseElements: msgspec.Raw = _EMPTY
    additionalEventData: msgspec.Raw = _EMPTY
    resources: msgspec.Raw = _EMPTY
    serviceEventDetails: msgspec.Raw = _EMPTY
    tlsDetails: msgspec.Raw = _EMPTY
    addendum: msgspec.Raw = _EMPTY
    insightDetails: msgspec.Raw = _EMPTY
    edgeDeviceDetails: msgspec.Raw = _EMPTY
    eventContext: msgspec.Raw = _EMPTY


_NUMERIC_VERSION = re.compile(rb'"eventVersion"\s*:\s*(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)')
_DECODER = msgspec.json.Decoder(Record)
_GENERIC = msgspec.json.Decoder()
_ENCODER = msgspec.json.Encoder()

_RECORD_FIELDS = {f: t for f, t in Record.__annotations__.items()}
_RAW_FIELDS = {
    "requestParameters",
    "responseElements",
    "additionalEventData",
    "resources",
    "serviceEventDetails",
    "tlsDetails",
    "addendum",
    "insightDetails",
    "edgeDeviceDetails",
    "eventContext",
}
_BOOL_FIELDS = {"readOnly", "managementEvent"}
_CT_MARKERS = ("eventName", "eventSource", "eventVersion", "eventID", "insightDetails")


@dataclass(slots=True)
class Item:
    """One record ready for :func:`normalize`: the struct, its raw JSON and its position."""

    record: Record
    raw: str
    source_index: int
    fidelity: str = "full"
    missing_fields: list[str] | None = None
    #: Whether the record's text may hold a sessionToken (prepare knows it already);
    #: None: not known, normalize looks.
    secret: bool | None = None


@dataclass(slots=True)
class Reject:
    """A record normalize would not keep, with the reason (the caller quarantines it)."""

    source_index: int
    reason: str
    raw: bytes


# --- decoding -------------------------------------------------------------------------


def _redact(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {
            k: (
                REDACTED
                if isinstance(k, str) and k.lower() == "sessiontoken" and v not in (None, "")
                else _redact(v)
            )
            for k, v in obj.items()
        }
    if isinstance(obj, list):
        return [_redact(v) for v in obj]
    if isinstance(obj, str) and ("oken" in obj or "OKEN" in obj):
        # A payload given as a JSON string (double-encoded) hides its keys from the walk.
        return redact_text(obj)
    return obj


#: A sessionToken key and its string value in JSON text (the value may be cut off at the end).
_TOKEN_VALUE = re.compile(r'((?i:"sessiontoken")\s*:\s*")(?:[^"\\\n]|\\.)*"?')


def redact_text(text: str) -> str:
    """Redact sessionToken values in JSON-looking text that may not parse (quarantine, strings).

    Examples
    --------
    >>> redact_text('{"sessionToken": "IQoJb3", "x": 1}')
    '{"sessionToken": "<redacted by iamforensics>", "x": 1}'
    """
    return _TOKEN_VALUE.sub(lambda m: m.group(1) + REDACTED + '"', text)


#: Any spelling of a sessionToken key (``sessionToken``, ``SessionToken``, ``SESSIONTOKEN``).
_TOKEN_KEY = re.compile(rb"(?i)sessiontoken")


def has_session_token(raw: bytes) -> bool:
    """True when the JSON text may hold a sessionToken key (any case): it needs redaction."""
    # The substring tests are a cheap filter (memchr speed); then an ASCII-lowered copy
    # is searched (what the case-insensitive regex matches, ~8x faster on 1-2 KB).
    return (b"oken" in raw or b"OKEN" in raw) and b"sessiontoken" in raw.lower()


#: In compact JSON, the value after a ``"sessionToken":`` key when it is a string or null.
_TOKEN_VALUE_AT = re.compile(rb'null|"(?:[^"\\]|\\.)*"')
_TOKEN_KEY_LOW = b'"sessiontoken":'
_REDACTED_JSON = b'"' + REDACTED.encode() + b'"'


def redact_compact(compact: bytes) -> bytes:
    """Redact sessionToken values in compact JSON text (the JSON value :func:`_redact` gives).

    When every sessionToken in the text is a key with a string or null value (what AWS
    writes), the values are replaced in place and the rest of the text is kept byte for
    byte; anything else (a token inside a double-encoded string, an object value) goes
    through the decode, walk and encode of :func:`_redact`.

    Examples
    --------
    >>> redact_compact(b'{"credentials":{"sessionToken":"IQoJb3","expiration":"x"}}')
    b'{"credentials":{"sessionToken":"<redacted by iamforensics>","expiration":"x"}}'
    """
    fast = redact_keys(compact)
    if fast is not None:
        return fast
    # msgspec, not orjson: it keeps integers beyond 64 bits exact (orjson turns them into floats).
    return _ENCODER.encode(_redact(_GENERIC.decode(compact)))


def redact_keys(compact: bytes) -> bytes | None:
    """:func:`redact_compact` when every sessionToken in the text is a key with a string
    or null value (then no other value of the record names one); None otherwise.

    Examples
    --------
    >>> redact_keys(b'{"sessionToken":"IQoJb3"}')
    b'{"sessionToken":"<redacted by iamforensics>"}'
    >>> redact_keys(b'{"errorMessage":"sessionToken missing"}') is None
    True
    """
    # Found with bytes.find on an ASCII-lowered copy: a case-insensitive regex would
    # be tried at every position of the record.
    low = compact.lower()
    out: list[bytes] = []
    last = pairs = 0
    pos = low.find(_TOKEN_KEY_LOW)
    while pos > 0:
        if compact[pos - 1] in b"{,":  # a key: compact JSON has no space before it
            m = _TOKEN_VALUE_AT.match(compact, pos + len(_TOKEN_KEY_LOW))
            if m is not None:
                pairs += 1
                if m.group(0) not in (b"null", b'""'):
                    out.append(compact[last : m.start()])
                    out.append(_REDACTED_JSON)
                    last = m.end()
        pos = low.find(_TOKEN_KEY_LOW, pos + 1)
    if pairs and pairs == low.count(b"sessiontoken"):
        out.append(compact[last:])
        return b"".join(out)
    return None


def _compact(raw: bytes) -> tuple[bytes, bool]:
    """(compact redacted text, whether the record held a sessionToken key)."""
    compact = msgspec.json.format(raw, indent=-1)
    if has_session_token(compact):
        return redact_compact(compact), True
    return compact, False


def compact_raw(raw: bytes) -> bytes:
    """The record's JSON without whitespace, sessionToken values redacted."""
    return _compact(raw)[0]


def json_bytes(obj: Any) -> bytes:
    """JSON text of a decoded value, whatever it holds (big integers, non-string keys).

    Raises ``UnicodeEncodeError`` for strings that are not valid Unicode (lone surrogates
    from a lenient JSON decoder): such a record cannot be stored as text and is rejected.
    """
    try:
        return orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:  # orjson.JSONEncodeError: integers beyond 64 bits, surrogates, odd keys
        return json.dumps(obj, ensure_ascii=False, default=str).encode("utf-8")


def _to_str(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, float) else str(value)
    return json_bytes(value).decode("utf-8")


def _to_bool(value: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        v = value.strip().lower()
        if v in ("true", "yes", "1"):
            return True
        if v in ("false", "no", "0"):
            return False
        return None
    if isinstance(value, int | float):
        return bool(value)
    return None


def _obj_struct(cls: type[msgspec.Struct], value: Any) -> Any:
    """Coerce a dict into a struct of str fields (nested structs handled by the caller)."""
    if not isinstance(value, dict):
        return None
    kwargs: dict[str, Any] = {}
    for name in cls.__struct_fields__:
        if name in value:
            kwargs[name] = value[name]
    return kwargs


def _coerce_identity(ui: Any) -> UserIdentity | None:
    if not isinstance(ui, dict):
        return None
    kw: dict[str, Any] = {}
    for name in UserIdentity.__struct_fields__:
        if name not in ui:
            continue
        v = ui[name]
        if name in ("onBehalfOf", "inScopeOf"):
            kw[name] = msgspec.Raw(json_bytes(v))
        elif name == "sessionContext":
            kw[name] = _coerce_session_context(v)
        else:
            kw[name] = _to_str(v)
    return UserIdentity(**kw)


def _coerce_session_context(sc: Any) -> SessionContext | None:
    if not isinstance(sc, dict):
        return None
    issuer = _obj_struct(SessionIssuer, sc.get("sessionIssuer"))
    attrs = _obj_struct(Attributes, sc.get("attributes"))
    web = _obj_struct(WebIdFederationData, sc.get("webIdFederationData"))
    return SessionContext(
        sessionIssuer=SessionIssuer(**{k: _to_str(v) for k, v in issuer.items()}) if issuer else None,
        attributes=Attributes(
            creationDate=_to_str(attrs.get("creationDate")),
            mfaAuthenticated=_to_str(attrs.get("mfaAuthenticated")),
        )
        if attrs
        else None,
        sourceIdentity=_to_str(sc.get("sourceIdentity")),
        ec2RoleDelivery=_to_str(sc.get("ec2RoleDelivery")),
        assumedRoot=_to_str(sc.get("assumedRoot")),
        signInSessionArn=_to_str(sc.get("signInSessionArn")),
        webIdFederationData=WebIdFederationData(federatedProvider=_to_str(web.get("federatedProvider")))
        if web
        else None,
    )


def record_from_obj(obj: dict[str, Any]) -> Record:
    """Coerce a generically decoded record into a :class:`Record` whatever its value types.

    Examples
    --------
    >>> record_from_obj({"readOnly": "true", "eventName": 7}).readOnly
    True
    """
    kw: dict[str, Any] = {}
    for name in _RECORD_FIELDS:
        if name not in obj:
            continue
        v = obj[name]
        if name in _RAW_FIELDS:
            kw[name] = msgspec.Raw(json_bytes(v))
        elif name in _BOOL_FIELDS:
            kw[name] = _to_bool(v)
        elif name == "userIdentity":
            kw[name] = _coerce_identity(v)
        else:
            kw[name] = _to_str(v)
    return Record(**kw)


def decode_record(raw: bytes | memoryview | msgspec.Raw) -> Record:
    """Decode one record's JSON bytes into a :class:`Record` (typed fast path, else coerced).

    Raises ``msgspec.DecodeError`` when the bytes are not JSON and ``TypeError`` when the
    JSON is not an object.
    """
    try:
        return _DECODER.decode(raw)
    except msgspec.ValidationError:
        obj = _GENERIC.decode(raw)
        if not isinstance(obj, dict):
            raise TypeError(f"a record must be a JSON object, got {type(obj).__name__}") from None
        rec = record_from_obj(obj)
        if isinstance(obj.get("eventVersion"), float):
            # A version written as a number (YAML/CSV loaders do it): keep the literal
            # text, so 1.10 stays "1.10" instead of becoming the float 1.1.
            m = _NUMERIC_VERSION.search(bytes(raw))
            if m:
                rec.eventVersion = m.group(1).decode()
        return rec


def prepare(raw: bytes, source_index: int) -> Item | Reject:
    """Decode and check one record's JSON bytes; the unit both readers and tests call."""
    try:
        # Decoding the compact (and redacted) text, not the input, makes the payload
        # columns compact too: the same record gives the same text whatever its layout.
        compact, secret = _compact(bytes(raw))
        rec = decode_record(compact)
        text = compact.decode("utf-8")
    except UnicodeDecodeError:
        return Reject(source_index, f"invalid UTF-8 at byte {_utf8_offset(raw)} of the record", bytes(raw))
    except (msgspec.DecodeError, orjson.JSONDecodeError, TypeError) as exc:
        if "UTF-8" in str(exc):  # msgspec's own message gives no offset: find the byte
            return Reject(
                source_index, f"invalid UTF-8 at byte {_utf8_offset(raw)} of the record", bytes(raw)
            )
        return Reject(source_index, f"invalid JSON record: {exc}", bytes(raw))
    return check(rec, text, source_index, secret=secret)


def _utf8_offset(raw: bytes) -> int:
    """Offset of the first byte that is not UTF-8 (msgspec's own offset is relative to a string)."""
    try:
        bytes(raw).decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start
    return 0


def prepare_obj(
    obj: Any, source_index: int, *, fidelity: str = "full", missing_fields: list[str] | None = None
) -> Item | Reject:
    """Like :func:`prepare` for an already decoded object (re-shaped formats, tests)."""
    try:
        raw = json_bytes(obj)
    except UnicodeEncodeError as exc:
        text = json.dumps(obj, default=str)  # ASCII escapes keep the evidence readable
        return Reject(source_index, f"invalid Unicode in the record: {exc.reason}", text.encode())
    if not isinstance(obj, dict):
        return Reject(source_index, "not a JSON object", raw)
    text = json_bytes(_redact(obj)).decode("utf-8")
    item = check(record_from_obj(obj), text, source_index)
    if isinstance(item, Item):
        item.fidelity = fidelity
        item.missing_fields = missing_fields
    return item


def check(rec: Record, raw: str, source_index: int, *, secret: bool | None = None) -> Item | Reject:
    """Keep a record only when it is CloudTrail and has an event time."""
    if (
        # The markers of _CT_MARKERS, spelled out: this runs once per record.
        rec.eventName is None
        and rec.eventSource is None
        and rec.eventVersion is None
        and rec.eventID is None
        and rec.userIdentity is None
        and not bytes(rec.insightDetails)
    ):
        return Reject(
            source_index,
            "not a CloudTrail record (no eventName, eventSource, eventVersion, eventID or userIdentity)",
            raw.encode(),
        )
    if rec.eventTime is None or not rec.eventTime.strip():
        return Reject(source_index, "missing eventTime", raw.encode())
    return Item(rec, raw, source_index, secret=secret)


# --- derived values ---------------------------------------------------------------------

_SDK = (
    ("aws-sdk-go", "sdk:go"),
    ("aws-sdk-java", "sdk:java"),
    ("aws-sdk-js", "sdk:js"),
    ("aws-sdk-nodejs", "sdk:js"),
    ("aws-sdk-rust", "sdk:rust"),
    ("aws-sdk-ruby", "sdk:ruby"),
    ("aws-sdk-dotnet", "sdk:dotnet"),
    ("aws-sdk-net", "sdk:dotnet"),
    ("aws-sdk-php", "sdk:php"),
    ("aws-sdk-cpp", "sdk:cpp"),
    ("aws-sdk-swift", "sdk:swift"),
    ("aws-sdk-kotlin", "sdk:kotlin"),
    ("boto3/", "sdk:python"),
    ("botocore/", "sdk:python"),
)


@lru_cache(maxsize=65536)
def user_agent_family(ua: str | None) -> str | None:
    """Classify a user agent: console, aws-cli, sdk:<lang>, terraform, cloudformation, service, other.

    Examples
    --------
    >>> user_agent_family("[aws-cli/2.15.34 Python/3.11.8 Linux/6.1]")
    'aws-cli'
    """
    if ua is None:
        return None
    s = ua.strip()
    if s.startswith("[") and s.endswith("]"):
        s = s[1:-1].strip()
    low = s.lower()
    if not low:
        return "other"
    # Most specific first: the client a UA starts with names the tool that made the call
    # ("aws-cli/2.15 ... command/cloudformation.describe-stacks" is the CLI calling
    # CloudFormation). Terraform is the exception: it prefixes or suffixes the Go SDK's UA
    # ("aws-sdk-go/1.29 ... Terraform/0.12") and names CloudFormation in "api/cloudformation#".
    if low.startswith("aws-cli/"):
        return "aws-cli"
    if "terraform" in low:
        return "terraform"
    if low == "cloudformation.amazonaws.com" or "cloudformation" in low:
        return "cloudformation"
    if (
        low in ("console.amazonaws.com", "signin.amazonaws.com")
        or low.startswith(("console.", "s3console", "aws console", "mozilla/", "aws internal"))
        or "console.amazonaws.com" in low
    ):
        # "AWS Internal" is what console actions (and console Switch Role) log; the
        # reference (cloudtrail-reference.md 6.2) files it under the console family.
        return "console"
    for prefix, fam in _SDK:
        if low.startswith(prefix):
            return fam
    if low.endswith(".amazonaws.com") or low.startswith(("coral/", "amazon cloudfront")):
        return "service"
    return "other"


@lru_cache(maxsize=262144)
def classify_ip(value: str | None) -> tuple[str | None, str | None]:
    """(parsed ip or None, ip_class) for a sourceIPAddress value.

    Examples
    --------
    >>> classify_ip("253.252.51.07")
    (None, 'invalid')
    >>> classify_ip("ec2.amazonaws.com")
    (None, 'aws-service')
    """
    if value is None or value == "":
        return None, None
    s = value.strip()
    if s.startswith("AWS Internal"):
        return None, "aws-internal"
    if s.endswith(".amazonaws.com") or s.endswith(".amazonaws.com.cn"):
        return None, "aws-service"
    try:
        ip = ipaddress.ip_address(s)
    except ValueError:
        return None, "invalid"
    mapped = getattr(ip, "ipv4_mapped", None)
    if mapped is not None:  # ::ffff:a.b.c.d is the IPv4 client; store it so it joins with IPv4 rows
        ip = mapped
    if ip.is_unspecified or ip.is_multicast:
        # No client sends from :: / 0.0.0.0 or a multicast group: a redaction or a forgery.
        return None, "invalid"
    # "private" is every address that is not globally routable: RFC 1918 and ULA fc00::/7,
    # loopback, link-local fe80::/10, shared 100.64/10, and documentation/reserved ranges
    # (192.0.2/24, 2001:db8::/32): never an Internet client, whatever the evidence says.
    return str(ip), ("public" if ip.is_global else "private")


def key_type(access_key_id: str | None) -> str | None:
    """long-term (AKIA...), temporary (ASIA...), other, or None when no key is carried."""
    if not access_key_id:
        return None
    if access_key_id.startswith("AKIA"):
        return "long-term"
    if access_key_id.startswith("ASIA"):
        return "temporary"
    return "other"


def session_name_of(user_type: str | None, principal_id: str | None, arn: str | None) -> str | None:
    """Role session or federated user name carried by an identity."""
    if user_type in ("AssumedRole", "FederatedUser") or (arn and ":assumed-role/" in arn):
        if arn and (":assumed-role/" in arn):
            return arn.split("/", 2)[2] if arn.count("/") >= 2 else None
        if arn and ":federated-user/" in arn:
            return arn.split(":federated-user/", 1)[1]
        if principal_id and ":" in principal_id:
            return principal_id.split(":", 1)[1]
    return None


def actor_of(
    user_type: str | None,
    arn: str | None,
    account_id: str | None,
    principal_id: str | None,
    user_name: str | None,
    invoked_by: str | None,
    idstore_arn: str | None,
    idstore_user: str | None,
) -> str | None:
    """One stable name per principal: its ARN, ``root``-ARN, the service, or the IdC user."""
    if arn:
        return arn
    if user_type == "Root" and account_id:
        return f"arn:aws:iam::{account_id}:root"
    if user_type == "IAMUser" and account_id and user_name:
        # Failed console sign-ins carry no ARN; rebuild it (path unknown) so they group.
        return f"arn:aws:iam::{account_id}:user/{user_name}"
    if idstore_user:
        return f"identitycenter:{idstore_arn or ''}#{idstore_user}"
    if user_type == "AWSService" or (not user_type and invoked_by):
        return invoked_by or "aws-service"
    if user_type in ("SAMLUser", "WebIdentityUser") and principal_id:
        return f"{user_type.lower()}:{principal_id}"
    if user_type == "AWSAccount":
        return f"account:{account_id or '?'}/{principal_id or '?'}"
    if principal_id:
        return f"{(user_type or 'unknown').lower()}:{principal_id}"
    if invoked_by:
        return invoked_by
    return None


def synthetic_event_id(raw: str) -> str:
    """Deterministic id for a record that has none: a hash of its raw JSON."""
    return "synthetic-" + hashlib.sha256(raw.encode()).hexdigest()[:32]


_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def event_id_of(event_id: str | None, raw: str) -> str:
    """The stored event id: eventID when it is a real (UUID) CloudTrail id.

    Records without one get a hash of their content; placeholder ids that tools reuse for
    different records (``"1"`` in every Panther scenario line) get a content-hash suffix
    so two different events are never merged as duplicates. The raw column keeps the
    original either way.
    """
    if not event_id:
        return synthetic_event_id(raw)
    if _UUID.match(event_id):
        return event_id
    return f"{event_id}~{hashlib.sha256(raw.encode()).hexdigest()[:12]}"


def _raw_text(r: msgspec.Raw) -> str | None:
    """A payload as JSON text: double-encoded objects unwrapped, sessionToken values redacted."""
    b = bytes(r)
    if not b or b == b"null":
        return None
    if b[:1] == b'"':
        inner = double_encoded(b)
        if inner is not None:
            b = inner.encode("utf-8")
    if has_session_token(b):
        return redact_compact(msgspec.json.format(b, indent=-1)).decode("utf-8")
    return b.decode("utf-8")


def double_encoded(payload: bytes) -> str | None:
    r"""Compact JSON text of a payload given as a JSON *string* holding an object or array.

    Re-shaped exports (Panther tests, some SIEMs) store ``requestParameters`` and
    ``responseElements`` as ``"{\\"key\\": ...}"``; the column keeps the object so JSON
    queries work whatever the shape. Anything else (a plain string payload) gives None.

    Examples
    --------
    >>> double_encoded(b'"{\\"roleName\\": \\"x\\"}"'), double_encoded(b'"plain"')
    ('{"roleName":"x"}', None)
    """
    try:
        s = _GENERIC.decode(payload)
    except msgspec.DecodeError:
        return None
    if not isinstance(s, str) or s.lstrip()[:1] not in ("{", "["):
        return None
    try:
        return msgspec.json.format(s.encode("utf-8"), indent=-1).decode("utf-8")
    except msgspec.DecodeError:
        return None


_SIGNIN_SOURCES = ("signin.amazonaws.com",)


def _login_fields(rec: Record) -> tuple[str | None, bool | None]:
    """(login_result, mfa_used) for sign-in events, else (None, None)."""
    if rec.eventSource not in _SIGNIN_SOURCES and rec.eventName != "ConsoleLogin":
        return None, None
    result = None
    mfa = None
    resp = (_raw_text(rec.responseElements) or "").encode("utf-8")
    if resp:
        try:
            obj = _GENERIC.decode(resp)
            if isinstance(obj, dict) and rec.eventName in obj and isinstance(obj[rec.eventName], str):
                result = obj[rec.eventName]
        except msgspec.DecodeError:
            pass
    if result is None and rec.eventName == "ConsoleLogin":
        result = "Failure" if rec.errorCode or rec.errorMessage else None
    add = (_raw_text(rec.additionalEventData) or "").encode("utf-8")
    if add:
        try:
            obj = _GENERIC.decode(add)
            if isinstance(obj, dict) and isinstance(obj.get("MFAUsed"), str):
                mfa = _to_bool(obj["MFAUsed"])
        except msgspec.DecodeError:
            pass
    return result, mfa


# --- columns ----------------------------------------------------------------------------


#: Columns copied as they are from a top-level field, from userIdentity, from its
#: sessionContext.sessionIssuer and from its sessionContext.
_TOP = {
    "event_version": "eventVersion",
    "event_source": "eventSource",
    "event_name": "eventName",
    "event_type": "eventType",
    "aws_region": "awsRegion",
    "source_ip_address": "sourceIPAddress",
    "user_agent": "userAgent",
    "error_code": "errorCode",
    "error_message": "errorMessage",
    "read_only": "readOnly",
    "management_event": "managementEvent",
    "request_id": "requestID",
    "shared_event_id": "sharedEventID",
    "recipient_account_id": "recipientAccountId",
    "vpc_endpoint_id": "vpcEndpointId",
    "vpc_endpoint_account_id": "vpcEndpointAccountId",
    "api_version": "apiVersion",
}
_IDENTITY = {
    "principal_id": "principalId",
    "account_id": "accountId",
    "user_name": "userName",
    "identity_provider": "identityProvider",
    "credential_id": "credentialId",
}
_ISSUER = {
    "session_issuer_type": "type",
    "session_issuer_arn": "arn",
    "session_issuer_principal_id": "principalId",
    "session_issuer_account_id": "accountId",
    "session_issuer_user_name": "userName",
}
_CONTEXT = {
    "source_identity": "sourceIdentity",
    "ec2_role_delivery": "ec2RoleDelivery",
    "sign_in_session_arn": "signInSessionArn",
}
_PAYLOADS = {
    "request_parameters": "requestParameters",
    "response_elements": "responseElements",
    "additional_event_data": "additionalEventData",
    "resources": "resources",
    "service_event_details": "serviceEventDetails",
    "tls_details": "tlsDetails",
    "addendum": "addendum",
    "insight_details": "insightDetails",
    "edge_device_details": "edgeDeviceDetails",
    "event_context": "eventContext",
}
_NO_LOGIN: tuple[str | None, bool | None] = (None, None)
_NO_OBO: tuple[str | None, str | None] = (None, None)
_UUID_RE2 = _UUID.pattern


def string_array(values: Sequence[str | None]) -> pa.Array:
    """A string column from Python values (None is null).

    Examples
    --------
    >>> string_array(["a", None]).null_count
    1
    """
    # Inferring the type is about twice as fast as converting to a given one (pyarrow
    # checks each value against the target type); values that are not all str take
    # the typed conversion, which raises for what cannot be a string.
    arr = pa.array(values)
    if arr.type == _STRING:
        return arr
    if arr.type == _NULL:
        return arr.cast(_STRING)
    return pa.array(values, _STRING)


def _fields(objs: Sequence[Any], cls: type[msgspec.Struct]) -> dict[str, Sequence[Any]]:
    """Each field of ``cls`` as a column over ``objs`` (None objects give None values).

    One C-level tuple per struct and one transpose replace a comprehension per field.
    """
    blank = astuple(cls())
    names = cls.__struct_fields__
    if not objs:
        return {f: () for f in names}
    rows = [blank if o is None else astuple(o) for o in objs]
    return dict(zip(names, zip(*rows, strict=True), strict=True))


def _or_none(values: Sequence[Any]) -> list[Any]:
    # "" and other empty values mean "not given" for these identity fields.
    return [v or None for v in values]


def _bools(values: Sequence[Any]) -> list[bool | None]:
    return [v if v is None or v.__class__ is bool else _to_bool(v) for v in values]


def _payloads(values: Sequence[msgspec.Raw], tokens: list[bool]) -> list[str | None]:
    """The :func:`_raw_text` of each payload, the common case without a function call.

    A payload can only hold a sessionToken when the text of its record names one
    (``tokens``); a JSON string may hold a double-encoded object: both take the full path.
    """
    out: list[str | None] = [None] * len(values)
    for i, r in enumerate(values):
        if r is _EMPTY:
            continue
        b = bytes(r)
        if not b or b == b"null":
            continue
        if tokens[i] or b[:1] == b'"':
            out[i] = _raw_text(r)
        else:
            out[i] = b.decode("utf-8")
    return out


def _category(r: Record) -> str | None:
    # Insights records from before eventCategory existed, or exports that dropped it.
    return "Insight" if r.eventType == "AwsCloudTrailInsight" or bytes(r.insightDetails) else None


def _on_behalf(text: str | None) -> tuple[str | None, str | None]:
    """(identityStoreArn, userId) of an onBehalfOf payload."""
    if text is None:
        return None, None
    try:
        o = msgspec.json.decode(text, type=OnBehalfOf)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None, None
    return o.identityStoreArn, o.userId


def _event_ids(eids: Sequence[str | None], raws: list[str]) -> pa.Array | list[str]:
    """The event_id column: real UUIDs as they are, the rest through :func:`event_id_of`."""
    arr = string_array(eids)
    ok = pc.fill_null(pc.match_substring_regex(arr, _UUID_RE2), False)
    if pc.all(ok).as_py():
        return arr
    return [e if k else event_id_of(e, raw) for e, k, raw in zip(eids, ok.to_pylist(), raws, strict=True)]


def normalize_groups(groups: Sequence[tuple[Sequence[Item], str, str]]) -> pa.Table:
    """:func:`normalize` of the records of many files at once: ``(items, source, format)`` each.

    One call builds each column once for all the files: normalize's fixed cost (about 70
    Arrow conversions) is paid per batch, not per delivery file of a handful of records.

    Examples
    --------
    >>> a, b = prepare(b'{"eventTime":"2024-01-01T00:00:00Z","eventName":"A"}', 0), prepare(
    ...     b'{"eventTime":"2024-01-01T00:00:01Z","eventName":"B"}', 0)
    >>> normalize_groups([([a], "f1", "cloudtrail"), ([b], "f2", "cloudtrail")]).column("source").to_pylist()
    ['f1', 'f2']
    """
    items = [it for g in groups for it in g[0]]
    sources: list[str] = []
    formats: list[str] = []
    for its, src, fmt in groups:
        sources += [src] * len(its)
        formats += [fmt] * len(its)
    return _normalize(items, string_array(sources), string_array(formats))


def normalize(items: Sequence[Item], *, source: str, source_format: str) -> pa.Table:
    """Build the events table (schema v1) from prepared records.

    Columns are built one at a time (a list comprehension over the structs, then one
    Arrow array), so the work per record is attribute reads and a few cached helpers.

    Examples
    --------
    >>> item = prepare(b'{"eventTime":"2024-01-01T00:00:00Z","eventName":"X"}', 0)
    >>> normalize([item], source="mem", source_format="json").num_rows
    1
    """
    n = len(items)
    return _normalize(
        items,
        pa.repeat(pa.scalar(source, pa.string()), n),
        pa.repeat(pa.scalar(source_format, pa.string()), n),
    )


def _normalize(items: Sequence[Item], sources: pa.Array, formats: pa.Array) -> pa.Table:
    recs = [it.record for it in items]
    raws = [it.raw for it in items]
    raw_column = string_array(raws)
    # Rows that may hold a sessionToken take the full payload path (which applies the
    # exact test): prepare already knows; else the cheap filter of has_session_token.
    tokens = [("oken" in it.raw or "OKEN" in it.raw) if it.secret is None else it.secret for it in items]
    top = _fields(recs, Record)
    uis = top["userIdentity"]
    ui = _fields(uis, UserIdentity)
    scs = ui["sessionContext"]
    sc = _fields(scs, SessionContext)
    si = _fields(sc["sessionIssuer"], SessionIssuer)
    at = _fields(sc["attributes"], Attributes)
    cols: dict[str, Any] = {}
    for col, attr in _TOP.items():
        cols[col] = top[attr]
    cols["event_time"] = top["eventTime"]
    cols["event_id"] = _event_ids(top["eventID"], raws)
    cols["event_category"] = [r.eventCategory or _category(r) for r in recs]
    cols["session_credential_from_console"] = _bools(top["sessionCredentialFromConsole"])
    for col, attr in _IDENTITY.items():
        cols[col] = ui[attr]
    utype = cols["user_type"] = _or_none(ui["type"])
    arn = cols["user_arn"] = _or_none(ui["arn"])
    akid = cols["access_key_id"] = _or_none(ui["accessKeyId"])
    inv = cols["invoked_by"] = _or_none(ui["invokedBy"])
    for col, attr in _ISSUER.items():
        cols[col] = si[attr]
    cols["session_creation_date"] = at["creationDate"]
    cols["mfa_authenticated"] = _bools(at["mfaAuthenticated"])
    for col, attr in _CONTEXT.items():
        cols[col] = sc[attr]
    cols["assumed_root"] = _bools(sc["assumedRoot"])
    cols["web_id_provider"] = _fields(sc["webIdFederationData"], WebIdFederationData)["federatedProvider"]
    obo = cols["on_behalf_of"] = _payloads(ui["onBehalfOf"], tokens)
    ids = [_NO_OBO if o is None else _on_behalf(o) for o in obo]
    idarn = cols["identity_store_arn"] = [i[0] for i in ids]
    iduser = cols["identity_store_user_id"] = [i[1] for i in ids]
    cols["in_scope_of"] = _payloads(ui["inScopeOf"], tokens)
    pid, acct, uname = cols["principal_id"], cols["account_id"], cols["user_name"]
    cols["actor"] = list(map(actor_of, utype, arn, acct, pid, uname, inv, idarn, iduser))
    cols["session_name"] = list(map(session_name_of, utype, pid, arn))
    cols["key_type"] = list(map(key_type, akid))
    ips = list(map(classify_ip, cols["source_ip_address"]))
    cols["source_ip"] = [p[0] for p in ips]
    cols["ip_class"] = [p[1] for p in ips]
    cols["user_agent_family"] = list(map(user_agent_family, cols["user_agent"]))
    logins = [
        _login_fields(r) if r.eventSource in _SIGNIN_SOURCES or r.eventName == "ConsoleLogin" else _NO_LOGIN
        for r in recs
    ]
    cols["login_result"] = [lg[0] for lg in logins]
    cols["mfa_used"] = [lg[1] for lg in logins]
    cols["is_error"] = [
        bool(e) or lg[0] == "Failure" for e, lg in zip(cols["error_code"], logins, strict=True)
    ]
    for col, attr in _PAYLOADS.items():
        cols[col] = _payloads(top[attr], tokens)
    cols["source_index"] = [it.source_index for it in items]
    cols["fidelity"] = [it.fidelity for it in items]
    cols["missing_fields"] = [it.missing_fields for it in items]
    cols["raw"] = raw_column
    arrays = []
    for field in EVENTS_SCHEMA:
        name = field.name
        if name in ("event_time", "session_creation_date"):
            arrays.append(parse_time_column(cols[name]))
        elif name == "source":
            arrays.append(sources)
        elif name == "source_format":
            arrays.append(formats)
        elif isinstance(cols[name], pa.Array):
            arrays.append(cols[name])
        elif field.type == pa.string():
            arrays.append(string_array(cols[name]))
        else:
            arrays.append(pa.array(cols[name], type=field.type))
    return pa.Table.from_arrays(arrays, schema=EVENTS_SCHEMA)


def unparsed_rows(table: pa.Table) -> tuple[pa.Table, list[int]]:
    """(the rows whose eventTime parsed, the positions of those that did not)."""
    bad = pc.is_null(table.column("event_time"))
    if not pc.any(bad).as_py():
        return table, []
    return table.filter(pc.invert(bad)), pc.indices_nonzero(bad).to_pylist()


def unparsed_reject(item: Item) -> Reject:
    """The reject of a record whose eventTime did not parse."""
    return Reject(item.source_index, f"unparseable eventTime {item.record.eventTime!r}", item.raw.encode())


def split_unparsed_times(table: pa.Table, items: Sequence[Item]) -> tuple[pa.Table, list[Reject]]:
    """Move rows whose eventTime did not parse out of the table, as rejects."""
    bad = pc.is_null(table.column("event_time"))
    if not pc.any(bad).as_py():
        return table, []
    idx = pc.indices_nonzero(bad).to_pylist()
    rejects = [
        Reject(
            items[i].source_index,
            f"unparseable eventTime {items[i].record.eventTime!r}",
            items[i].raw.encode(),
        )
        for i in idx
    ]
    return table.filter(pc.invert(bad)), rejects


def normalize_records(
    records: Iterable[dict[str, Any] | bytes], *, source: str = "<memory>", source_format: str = "json"
) -> tuple[pa.Table, list[Reject]]:
    """Normalize decoded dicts or JSON bytes; returns (table, rejects). Pure, for tests and callers.

    Examples
    --------
    >>> table, rejects = normalize_records([b'{"eventName": "X"}'])
    >>> table.num_rows, rejects[0].reason
    (0, 'missing eventTime')
    """
    items: list[Item] = []
    rejects: list[Reject] = []
    for i, rec in enumerate(records):
        out = prepare(rec, i) if isinstance(rec, bytes | bytearray) else prepare_obj(rec, i)
        (items if isinstance(out, Item) else rejects).append(out)  # type: ignore[arg-type]
    table = normalize(items, source=source, source_format=source_format)
    table, bad = split_unparsed_times(table, items)
    return table, rejects + bad
