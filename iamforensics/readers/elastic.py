"""CloudTrail as Elastic's AWS integration indexed it (ECS documents).

Containers: a ``_search`` response (``{"hits": {"hits": [{"_source": ...}]}}``), one hit or
one ``_source`` document per line (elasticdump, Kibana NDJSON, ``jq -c``), or an array.
When the pipeline preserved it, ``event.original`` holds the record as AWS wrote it (a
JSON string): that is used, full fidelity. Otherwise the record is rebuilt from the ECS
fields (``@timestamp``, ``event.action``/``provider``/``id``, ``cloud.*``,
``source.address``, ``user_agent.original``, ``user.id``, ``aws.cloudtrail.*``; payloads
from ``aws.cloudtrail.flattened.*`` when present, else the Java ``toString`` text, which is
not JSON and is kept as a string) and is ``partial`` with the fields ECS did not keep.
Elastic drops empty values, so an absent field may have been ``""`` in the original.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..normalize import Item, Reject
from . import Reader, register
from ._common import Bad, bad_reject, dig, first_object, full_item, iter_json, json_text, rebuilt_item

_TOP = (
    ("eventTime", "@timestamp"),
    ("eventID", "event.id"),
    ("eventName", "event.action"),
    ("eventSource", "event.provider"),
    ("awsRegion", "cloud.region"),
    ("sourceIPAddress", "source.address"),
    ("userAgent", "user_agent.original"),
    ("eventVersion", "aws.cloudtrail.event_version"),
    ("eventType", "aws.cloudtrail.event_type"),
    ("eventCategory", "aws.cloudtrail.event_category"),
    ("requestID", "aws.cloudtrail.request_id"),
    ("sharedEventID", "aws.cloudtrail.shared_event_id"),
    ("recipientAccountId", "aws.cloudtrail.recipient_account_id"),
    ("errorCode", "aws.cloudtrail.error_code"),
    ("errorMessage", "aws.cloudtrail.error_message"),
    ("readOnly", "aws.cloudtrail.read_only"),
    ("managementEvent", "aws.cloudtrail.management_event"),
    ("vpcEndpointId", "aws.cloudtrail.vpc_endpoint_id"),
    ("apiVersion", "aws.cloudtrail.api_version"),
)
_PAYLOADS = (
    ("requestParameters", "request_parameters"),
    ("responseElements", "response_elements"),
    ("additionalEventData", "additional_eventdata"),
    ("serviceEventDetails", "service_event_details"),
)
_UI = "aws.cloudtrail.user_identity"


def _doc(obj: Any) -> Any:
    """The indexed document of a hit (``_source``) or the document itself."""
    if isinstance(obj, dict) and isinstance(obj.get("_source"), dict):
        return obj["_source"]
    return obj


def _is_ecs_cloudtrail(doc: Any) -> bool:
    if not isinstance(doc, dict):
        return False
    if isinstance(dig(doc, "event.original"), str) and (
        "@timestamp" in doc or "ecs" in doc or dig(doc, "event.kind") is not None
    ):
        return True
    return dig(doc, "aws.cloudtrail") is not None or dig(doc, "event.dataset") == "aws.cloudtrail"


def sniff(head: bytes) -> int:
    obj = first_object(head)
    if obj is not None:
        if isinstance(obj.get("hits"), dict):
            return 85
        return 85 if _is_ecs_cloudtrail(_doc(obj)) else 0
    if b'"_source"' in head and (b'"original"' in head or b'"cloudtrail"' in head):
        return 75
    return 0


def _hits(value: Any) -> Iterator[Any]:
    if isinstance(value, list):
        for el in value:
            yield from _hits(el)
    elif isinstance(value, dict) and isinstance(value.get("hits"), dict):
        yield from value["hits"].get("hits") or []
    else:
        yield value


def rebuild(doc: dict[str, Any]) -> dict[str, Any]:
    """A CloudTrail-shaped record from an ECS document (lossy; only what ECS kept)."""
    rec: dict[str, Any] = {}
    for name, path in _TOP:
        v = dig(doc, path)
        if v is not None:
            rec[name] = v
    for name, leaf in _PAYLOADS:
        v = dig(doc, f"aws.cloudtrail.flattened.{leaf}")
        if v is None:
            v = dig(doc, f"aws.cloudtrail.{leaf}")
        if v is not None:
            rec[name] = v
    res = dig(doc, "aws.cloudtrail.resources")
    if isinstance(res, list):
        rec["resources"] = [
            {"ARN": r.get("arn"), "accountId": r.get("account_id"), "type": r.get("type")}
            for r in res
            if isinstance(r, dict)
        ]
    elif isinstance(res, dict):
        rec["resources"] = [
            {"ARN": res.get("arn"), "accountId": res.get("account_id"), "type": res.get("type")}
        ]
    tls = dig(doc, "aws.cloudtrail.tls_details")
    if isinstance(tls, dict):
        rec["tlsDetails"] = {
            "tlsVersion": tls.get("tls_version"),
            "cipherSuite": tls.get("cipher_suite"),
            "clientProvidedHostHeader": tls.get("client_provided_host_header"),
        }
    ui: dict[str, Any] = {}
    for name, path in (
        ("type", f"{_UI}.type"),
        ("arn", f"{_UI}.arn"),
        ("accessKeyId", f"{_UI}.access_key_id"),
        ("invokedBy", f"{_UI}.invoked_by"),
        ("principalId", "user.id"),
        ("accountId", "cloud.account.id"),
    ):
        v = dig(doc, path)
        if v is not None:
            ui[name] = v
    uname = dig(doc, "user.name")
    if uname is not None and ui.get("type") in ("IAMUser", "Root", None):
        ui["userName"] = uname  # for roles ECS user.name is the role name, not userName
    sc: dict[str, Any] = {}
    attrs = {
        k: v
        for k, v in (
            ("mfaAuthenticated", dig(doc, f"{_UI}.session_context.mfa_authenticated")),
            ("creationDate", dig(doc, f"{_UI}.session_context.creation_date")),
        )
        if v is not None
    }
    if attrs:
        sc["attributes"] = attrs
    issuer = dig(doc, f"{_UI}.session_context.session_issuer")
    if isinstance(issuer, dict):
        sc["sessionIssuer"] = {
            "type": issuer.get("type"),
            "principalId": issuer.get("principal_id"),
            "arn": issuer.get("arn"),
            "accountId": issuer.get("account_id"),
        }
        if ui.get("type") == "AssumedRole" and uname is not None:
            sc["sessionIssuer"]["userName"] = uname
    if sc:
        ui["sessionContext"] = sc
    if ui:
        rec["userIdentity"] = ui
    return rec


def hit_item(hit: Any, idx: int) -> Item | Reject:
    doc = _doc(hit)
    if not isinstance(doc, dict):
        return Reject(idx, "not an Elasticsearch document", json_text(hit))
    original = dig(doc, "event.original")
    if isinstance(original, str) and original.lstrip().startswith("{"):
        out = full_item(original, idx)
        if isinstance(out, Reject):
            out.reason = f"event.original: {out.reason}"
        return out
    if not _is_ecs_cloudtrail(doc):
        return Reject(
            idx, "not a CloudTrail ECS document (no event.original or aws.cloudtrail)", json_text(hit)
        )
    return rebuilt_item(rebuild(doc), idx, evidence=doc)


def read(data: bytes, source: str) -> Iterator[Item | Reject]:
    idx = 0
    for value in iter_json(data):
        if isinstance(value, Bad):
            yield bad_reject(value, idx)
            idx += 1
            continue
        for hit in _hits(value):
            yield hit_item(hit, idx)
            idx += 1


register(
    Reader(
        "elastic",
        "Elastic/ECS documents: event.original when preserved, else rebuilt from aws.cloudtrail.* (partial)",
        sniff,
        read,
    )
)
