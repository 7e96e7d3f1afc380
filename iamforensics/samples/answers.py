"""The answer key: what a competent investigation of the sample must find, computed from the story.

The structure is documented in ``data/samples/README.md``; keys are stable. Event references
are ``{event_id, event_name, time, account, region}`` (time is the record's eventTime).
"""

from __future__ import annotations

from typing import Any

from .background import DayPlan
from .scenario import ATTACKER_IPS, TECHNIQUES, Story
from .world import (
    ALIASES,
    BASE,
    DAY,
    DEV,
    GITHUB_IPS,
    HOME_IPS,
    OFFICE_IP,
    ORG_ID,
    OUTSIDE,
    PROD,
    VENDOR,
    VENDOR_IPS,
    Record,
    World,
    iso,
)
from .writer import Stats, Trail

#: What geoip2fast (its ASN database) says about the addresses the scenario uses; the tests
#: check these against the installed database, so the committed key never depends on it.
GEO: dict[str, tuple[str, str, str]] = {
    "5.188.10.77": ("RU", "Russia", "Green Floid LLC"),
    "193.32.162.80": ("RO", "Romania", "Unmanaged Ltd"),
    "91.240.118.172": ("HK", "Hong Kong", "Chang Way Technologies Co. Limited"),
    "81.2.69.161": ("GB", "United Kingdom", "Andrews & Arnold Ltd"),
    "86.143.2.7": ("GB", "United Kingdom", "British Telecommunications PLC"),
    "73.162.10.20": ("US", "United States", "COMCAST-7922"),
    "185.220.101.45": ("DE", "Germany", "Stiftung Erneuerbare Freiheit"),
}


def ref(rec: Record) -> dict[str, Any]:
    return {
        "event_id": rec["eventID"],
        "event_name": rec["eventName"],
        "time": rec["eventTime"],
        "account": rec["recipientAccountId"],
        "region": rec["awsRegion"],
    }


def _ordered(recs: list[Record]) -> list[Record]:
    return sorted(recs, key=lambda e: (e["eventTime"], e["eventID"]))


def _geo(ip: str) -> dict[str, str]:
    cc, country, asn = GEO[ip]
    return {"ip": ip, "country_code": cc, "country": country, "asn_name": asn}


def build_answers(
    w: World, story: Story, people: list[DayPlan], trails: list[Trail], stats: Stats, days: int, scale: int
) -> dict[str, Any]:
    """The answer key as plain data (dumped to ANSWERS.yaml)."""
    dave = w.user(PROD, "dave")
    mal = _ordered(story.malicious)
    m = story.marks
    logins = [e for _, e in story.events if e["eventName"] == "ConsoleLogin"]
    for plan in people:
        logins += [e for _, e in plan.events if e["eventName"] == "ConsoleLogin"]
    logins = _ordered(logins)
    failed = [e for e in logins if e["responseElements"]["ConsoleLogin"] == "Failure"]
    ok = [e for e in logins if e["responseElements"]["ConsoleLogin"] == "Success"]
    no_mfa = [e for e in ok if e["additionalEventData"]["MFAUsed"] != "Yes"]
    ips = []
    for ip in ATTACKER_IPS:
        seen = [e for e in mal if e["sourceIPAddress"] == ip]
        ips.append(
            {
                **_geo(ip),
                "first_seen": seen[0]["eventTime"],
                "last_seen": seen[-1]["eventTime"],
                "events": len(seen),
            }
        )
    expired = m["expired_session"]
    org_only = [e for e in mal if not any(t.records(e["recipientAccountId"], _t(e), e.get("eventCategory", "Management"))
                                          for t in trails if t.org_id is None)]  # fmt: skip
    techniques = {}
    for slug, (tactic, attack_id, name) in TECHNIQUES.items():
        techniques[slug] = {
            "tactic": tactic,
            "attack_id": attack_id,
            "attack_name": name,
            "events": [ref(e) for e in _ordered(story.techniques[slug])],
        }
    return {
        "scenario": "leaked long-term access key of IAM user dave (production) used from new countries and ASNs",
        "seed": w.seed,
        "days": days,
        "scale": scale,
        "period": {"start": iso(BASE), "end": iso(BASE + days * DAY)},
        "organization": ORG_ID,
        "accounts": {
            "production": {"id": PROD, "alias": ALIASES[PROD]},
            "development": {"id": DEV, "alias": ALIASES[DEV]},
            "monitoring_vendor": {"id": VENDOR},
            "attacker": {"id": OUTSIDE},
        },
        "trails": [
            {
                "name": t.name,
                "prefix": f"AWSLogs/{t.org_id}/" if t.org_id else f"AWSLogs/{t.accounts[0]}/",
                "accounts": list(t.accounts),
                "management_events": t.management,
                "data_events": t.data,
                "gaps": [
                    {"after": iso(a), "until": iso(b) if b is not None else None, "what": what}
                    for a, b, what in t.gaps
                ],
            }
            for t in trails
        ],
        "evidence": {
            "files": stats.files,
            "records": stats.records,
            "unique_events": stats.events - stats.unlogged,
            "duplicate_records": stats.duplicates,
            "events_no_trail_recorded": stats.unlogged,
            "records_per_trail": dict(stats.per_trail),
        },
        "leaked_key": {
            "access_key_id": dave.key,
            "owner_arn": dave.arn,
            "owner_name": dave.name,
            "owner_principal_id": dave.user_id,
            "account": PROD,
        },
        "first_malicious_event": ref(mal[0]),
        "last_malicious_event": ref(mal[-1]),
        "malicious_event_count": len(mal),
        "attacker_ips": ips,
        "legitimate_ips": [_geo(ip) for ip in (OFFICE_IP, HOME_IPS["dave"], HOME_IPS["bob"])]
        + [{"ip": ip, "role": "monitoring vendor"} for ip in VENDOR_IPS]
        + [{"ip": ip, "role": "GitHub Actions"} for ip in GITHUB_IPS],
        "sessions": [
            {
                "access_key_id": s["access_key_id"],
                "type": s["type"],
                "session_name": s["session_name"],
                "role_arn": s["role_arn"],
                "account": s["account"],
                "parent_access_key_id": s["parent_access_key_id"],
                "origin": s["origin"],
                "chain_depth": s["chain_depth"],
                "created": iso(s["created"]),
                "expires": iso(s["expires"]),
                "issued_by": [ref(e) for e in s["issued_by"]],
            }
            for s in story.sessions
        ],
        "attacker_credentials": [
            {
                "kind": c["kind"],
                "principal_arn": c["user"],
                "access_key_id": c["access_key_id"],
                "account": c["account"],
                "created_by": ref(c["created_by"]),
                **({"first_used": ref(c["first_used"])} if "first_used" in c else {}),
            }
            for c in story.credentials
        ],
        "techniques": techniques,
        "accounts_touched": [PROD, DEV],
        "outside_accounts": [OUTSIDE],
        "access_denied_burst": [ref(e) for e in _ordered(m["access_denied_burst"])],
        "failed_assume_role": ref(m["failed_assume_role"]),
        "federation_token": ref(m["federation_token"]),
        "cross_account_assume_role": [ref(e) for e in m["cross_account_assume_role"]],
        "role_chain": ref(m["role_chain"]),
        "snapshot_shared": {**ref(m["snapshot_shared"]), "shared_with": OUTSIDE},
        "logging": {
            "stop_logging": ref(m["stop_logging"]),
            "put_event_selectors": ref(m["put_event_selectors"]),
            "start_logging": ref(m["start_logging"]),
            "malicious_events_only_in_org_trail": [ref(e) for e in org_only],
        },
        "mfa": {
            "deactivated": ref(m["deactivate_mfa"]),
            "root_sign_in_without_mfa": ref(m["root_sign_in_without_mfa"]),
            "root_sign_in_with_mfa": ref(m["root_sign_in_with_mfa"]),
        },
        "sign_ins": {
            "total": len(logins),
            "successful": len(ok),
            "with_mfa": len(ok) - len(no_mfa),
            "without_mfa": [{**ref(e), "user": _who(e)} for e in no_mfa],
            "failed": [{**ref(e), "user": _who(e), "error_message": e["errorMessage"]} for e in failed],
        },
        "expired_session_use": {
            **ref(m["expired_session_use"]),
            "access_key_id": expired.key,
            "expired_at": iso(expired.expires),
        },
        "benign_findings": {
            "self_billing_policy": {**ref(m["self_billing_policy"]), "user": w.user(PROD, "frank").arn},
            "iam_admin_work": [ref(e) for e in m["iam_admin_work"]],
            "service_events_without_identity_type": [ref(e) for e in m["service_events"]],
            "unknown_user_sign_in": {
                **ref(m["unknown_user_sign_in"]),
                **_geo(m["unknown_user_sign_in"]["sourceIPAddress"]),
            },
        },
    }


def _t(rec: Record) -> int:
    import calendar
    import time

    return calendar.timegm(time.strptime(rec["eventTime"], "%Y-%m-%dT%H:%M:%SZ"))


def _who(rec: Record) -> str:
    ui = rec["userIdentity"]
    if ui.get("type") == "Root":
        return ui.get("arn", "root")
    return str(ui.get("arn") or ui.get("userName"))
