"""The sample evidence generator: determinism, S3 delivery shape, the answer key against the case."""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

import iamforensics as ifx
from iamforensics.cli import main
from iamforensics.errors import IamForensicsError
from iamforensics.samples import DEFAULT_SEED, generate, load_answers
from iamforensics.samples.answers import GEO
from tests.conftest import ROOT, shared_path

SAMPLES = ROOT / "data" / "samples"
KEY = re.compile(
    r"AWSLogs/(?:(o-[a-z0-9]{10})/)?(\d{12})/CloudTrail/([a-z0-9-]+)/(\d{4})/(\d\d)/(\d\d)/"
    r"\2_CloudTrail_\3_(\d{8}T\d{4}Z)_[A-Za-z0-9]{16}\.json\.gz$"
)
#: AWS's documented list (Root ... Unknown, with Role and Directory) plus the STS federation types.
USER_TYPES = {
    "Root", "IAMUser", "AssumedRole", "Role", "FederatedUser", "Directory", "AWSService", "AWSAccount",
    "IdentityCenterUser", "SAMLUser", "WebIdentityUser", "Unknown",
}  # fmt: skip


def _digests(folder: Path) -> dict[str, str]:
    """sha256 of every generated file; .gz by content (gzip bytes depend on the zlib build)."""
    out = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file() and (p.name == "ANSWERS.yaml" or "AWSLogs" in p.parts):
            data = p.read_bytes()
            if p.suffix == ".gz":
                data = gzip.decompress(data)
            out[p.relative_to(folder).as_posix()] = hashlib.sha256(data).hexdigest()
    return out


def _records(folder: Path) -> list[tuple[str, list[dict[str, Any]]]]:
    return [
        (p.relative_to(folder).as_posix(), json.loads(gzip.decompress(p.read_bytes()))["Records"])
        for p in sorted((folder / "AWSLogs").rglob("*.json.gz"))
    ]


def _refs(node: Any) -> list[dict[str, Any]]:
    """Every event reference ({event_id, event_name, ...}) anywhere in the answer key."""
    if isinstance(node, dict):
        found = [node] if "event_id" in node else []
        return found + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("samples")
    generate(out)
    return out


@pytest.fixture(scope="module")
def answers() -> dict[str, Any]:
    return load_answers(SAMPLES)


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any]:
    folder = tmp_path_factory.mktemp("case") / "case"
    report = ifx.ingest([str(SAMPLES)], folder, jobs=2)
    return report, ifx.open_case(folder)


def test_committed_sample_is_what_generate_writes(fresh: Path) -> None:
    committed, regenerated = _digests(SAMPLES), _digests(fresh)
    assert len(regenerated) > 1000
    assert committed == regenerated, (
        "data/samples is stale: run `iamforensics samples --out data/samples --force`"
    )


def test_same_seed_same_bytes_other_seed_other_events(fresh: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    generate(again, seed=DEFAULT_SEED)
    first = {p.relative_to(fresh): p.read_bytes() for p in fresh.rglob("*") if p.is_file()}
    second = {p.relative_to(again): p.read_bytes() for p in again.rglob("*") if p.is_file()}
    assert first == second  # byte-identical, gzip included
    other = tmp_path / "other"
    generate(other, seed=7, days=5)
    ids = {r["eventID"] for _, recs in _records(other) for r in recs}
    assert ids and not ids & {r["eventID"] for _, recs in _records(fresh) for r in recs}


def test_s3_delivery_layout(fresh: Path) -> None:
    files = _records(fresh)
    crossing = unordered = 0
    for path, recs in files:
        m = KEY.search(path)
        assert m, path
        org, account, region, y, mo, d, stamp = m.groups()
        delivered = time.strptime(stamp, "%Y%m%dT%H%MZ")
        assert (y, mo, d) == (stamp[:4], stamp[4:6], stamp[6:8])  # the folder is the delivery date
        t_stamp = time.mktime(delivered)
        times = []
        for r in recs:
            assert r["recipientAccountId"] == account and r["awsRegion"] == region
            t = time.mktime(time.strptime(r["eventTime"], "%Y-%m-%dT%H:%M:%SZ"))
            assert 300 <= t_stamp - t <= 900, (path, r["eventTime"])
            times.append(r["eventTime"])
        crossing += any(t[:10] != f"{y}-{mo}-{d}" for t in times)
        unordered += times != sorted(times)
    assert crossing > 0 and unordered > 0
    regions = {KEY.search(p).group(3) for p, _ in files}  # type: ignore[union-attr]
    assert {"us-east-1", "eu-west-1", "us-west-2"} <= regions
    # IAM, STS global endpoint and sign-in events are recorded in us-east-1
    assert all(
        KEY.search(p).group(3) == "us-east-1"  # type: ignore[union-attr]
        for p, recs in files
        for r in recs
        if r["eventSource"] in ("iam.amazonaws.com", "signin.amazonaws.com")
    )


def test_org_trail_copies_are_byte_identical(fresh: Path) -> None:
    raw: dict[str, set[bytes]] = {}
    trails: dict[str, set[str]] = {}
    for p in (fresh / "AWSLogs").rglob("*.json.gz"):
        body = gzip.decompress(p.read_bytes())
        org = p.relative_to(fresh).parts[1].startswith("o-")
        for r in json.loads(body)["Records"]:
            raw.setdefault(r["eventID"], set()).add(json.dumps(r, sort_keys=True).encode())
            trails.setdefault(r["eventID"], set()).add("org" if org else "account")
    repeated = [e for e, where in trails.items() if where == {"org", "account"}]
    assert len(repeated) > 1000
    assert all(len(raw[e]) == 1 for e in repeated)
    a = yaml.safe_load((fresh / "ANSWERS.yaml").read_text())
    assert len(repeated) == a["evidence"]["duplicate_records"]


def test_ingest_counts_match_answer_key(case: tuple[Any, Any], answers: dict[str, Any]) -> None:
    report, c = case
    ev = answers["evidence"]
    assert report.identity_holds
    assert report.counts["duplicates"] == ev["duplicate_records"]
    generated = [s for s in report.sources if "/AWSLogs/" in s["source"]]
    assert len(generated) == ev["files"]
    assert sum(s["records"] for s in generated) == ev["records"]
    assert not [s["source"] for s in generated if s.get("quarantined")]
    # what is quarantined when the whole folder is ingested: the docs naming CloudTrail fields
    quarantined = {Path(s["source"]).name for s in report.sources if s.get("quarantined")}
    assert quarantined <= {"README.md", "ANSWERS.yaml", "SOURCE.md"}
    public = [
        s
        for s in report.sources
        if "/public/" in s["source"] and s.get("format") not in (None, "not-evidence")
    ]
    assert sum(s["records"] for s in public if not s.get("quarantined")) == 5 + 6  # stratus + plaso
    assert (
        len(c.sql("SELECT DISTINCT event_id FROM events WHERE source LIKE '%/AWSLogs/%'"))
        == ev["unique_events"]
    )


def test_every_answer_event_is_in_the_case(case: tuple[Any, Any], answers: dict[str, Any]) -> None:
    _, c = case
    refs = _refs(answers)
    assert len(refs) > 150
    ids = sorted({r["event_id"] for r in refs})
    df = c.sql(
        "SELECT event_id, event_name, strftime(event_time, '%Y-%m-%dT%H:%M:%SZ') t, recipient_account_id a "
        "FROM events WHERE list_contains(?, event_id)",
        [ids],
    )
    found = {row.event_id: row for row in df.itertuples()}
    for r in refs:
        row = found.get(r["event_id"])
        assert row is not None, r
        assert (row.event_name, row.t, row.a) == (r["event_name"], r["time"], r["account"]), r


def test_answer_key_story(case: tuple[Any, Any], answers: dict[str, Any]) -> None:
    _, c = case
    key = answers["leaked_key"]
    assert key["access_key_id"].startswith("AKIA") and key["owner_name"] == "dave"
    first, last = answers["first_malicious_event"], answers["last_malicious_event"]
    assert first["time"] < last["time"]
    # the leaked key was used from the office before the compromise, never from the attacker
    # addresses before the first malicious event
    before = c.sql(
        "SELECT DISTINCT source_ip_address ip FROM events WHERE access_key_id = ? AND event_time < ?",
        [key["access_key_id"], first["time"]],
    )
    attacker = {i["ip"] for i in answers["attacker_ips"]}
    assert len(before) and not attacker & set(before["ip"])
    # every session descends from the key through its parent
    keys = {key["access_key_id"]}
    for s in answers["sessions"]:
        assert s["parent_access_key_id"] in keys
        keys.add(s["access_key_id"])
        used = c.sql("SELECT count(*) n FROM events WHERE access_key_id = ?", [s["access_key_id"]])
        assert used["n"][0] > 0
    assert {s["type"] for s in answers["sessions"]} == {"AssumedRole", "FederatedUser"}
    assert max(s["chain_depth"] for s in answers["sessions"]) == 2
    pair = answers["cross_account_assume_role"]
    rows = c.sql(
        "SELECT recipient_account_id a, user_type, shared_event_id, request_id FROM events WHERE list_contains(?, event_id)",
        [[p["event_id"] for p in pair]],
    )
    assert set(rows["a"]) == set(answers["accounts_touched"])
    assert rows["shared_event_id"].nunique() == 1 and rows["request_id"].nunique() == 1
    assert set(rows["user_type"]) == {"IAMUser", "AWSAccount"}
    techniques = answers["techniques"]
    assert all(re.fullmatch(r"T\d{4}(\.\d{3})?", t["attack_id"]) and t["events"] for t in techniques.values())
    names = {t: {e["event_name"] for e in v["events"]} for t, v in techniques.items()}
    assert {"StopLogging", "PutEventSelectors"} <= names["disable_cloud_logs"]
    assert names["transfer_to_cloud_account"] == {"ModifySnapshotAttribute"}
    assert names["mfa_modification"] == {"DeactivateMFADevice"}
    assert {"CreateAccessKey", "CreateLoginProfile"} <= names["additional_credentials"]
    err = c.sql(
        "SELECT error_code FROM events WHERE event_id = ?", [answers["expired_session_use"]["event_id"]]
    )
    assert err["error_code"][0] == "ExpiredToken"
    assert answers["expired_session_use"]["time"] > answers["expired_session_use"]["expired_at"]
    denied = c.sql(
        "SELECT count(*) n FROM events WHERE list_contains(?, event_id) AND error_code = 'AccessDenied'",
        [[e["event_id"] for e in answers["access_denied_burst"]]],
    )
    assert denied["n"][0] == len(answers["access_denied_burst"]) >= 10
    root = c.sql("SELECT user_type, mfa_used, login_result FROM events WHERE event_id = ?",
                 [answers["mfa"]["root_sign_in_without_mfa"]["event_id"]])  # fmt: skip
    assert root.iloc[0].tolist() == ["Root", False, "Success"]
    failed = c.sql(
        "SELECT count(*) n FROM events WHERE event_name = 'ConsoleLogin' AND login_result = 'Failure' "
        "AND source LIKE '%/AWSLogs/%'"
    )
    assert failed["n"][0] == len(answers["sign_ins"]["failed"]) >= 4


def test_every_user_identity_type_appears(case: tuple[Any, Any]) -> None:
    _, c = case
    types = c.sql("SELECT DISTINCT user_type FROM events WHERE source LIKE '%/AWSLogs/%'")["user_type"]
    assert USER_TYPES <= set(types.dropna())
    assert types.isna().any()  # AwsServiceEvent records with no userIdentity.type


def test_directory_and_role_identities_are_benign_and_named(
    case: tuple[Any, Any], answers: dict[str, Any]
) -> None:
    """The two rare types carry only their documented fields, get a stable actor, and stay
    outside the attack: no answer-key reference, no built-in detection finding."""
    from iamforensics.detections import findings

    _, c = case
    rows = c.sql(
        "SELECT event_id, user_type, actor, user_arn, user_name, session_name, access_key_id, event_source, "
        "json_extract_string(raw, '$.userIdentity') AS ui FROM events WHERE user_type IN ('Role', 'Directory')"
    )
    by_type = rows.groupby("user_type")
    assert by_type.size().to_dict() == {"Directory": 30, "Role": 7}  # weekdays of WorkDocs, one call a day
    for _, r in rows.iterrows():
        ui = json.loads(r["ui"])
        assert r["actor"] == r["user_arn"] == ui["arn"] and r["user_name"] == ui["userName"]
        assert pd.isna(r["session_name"]) and pd.isna(r["access_key_id"])  # no session, no key
        if r["user_type"] == "Directory":
            assert set(ui) == {"type", "arn", "accountId", "userName"}
            assert re.fullmatch(r"arn:aws:ds:[a-z0-9-]+:\d{12}:user/d-[0-9a-f]{10}/[0-9a-f-]{36}", ui["arn"])
            assert r["event_source"] == "workdocs.amazonaws.com"
        else:
            assert set(ui) == {"type", "principalId", "arn", "accountId", "userName"}
            assert ui["principalId"].startswith("AROA") and ui["arn"].endswith(
                ":role/service-role/" + ui["userName"]
            )
    ids = set(rows["event_id"])
    assert not ids & {ref["event_id"] for ref in _refs(answers)}
    flagged = set().union(*map(set, findings(c)["event_ids"]))
    assert not ids & flagged


def test_geoip_of_scenario_addresses() -> None:
    from geoip2fast import GeoIP2Fast

    geo = GeoIP2Fast(geoip2fast_data_file="geoip2fast-asn.dat.gz")
    for ip, (cc, country, asn) in GEO.items():
        hit = geo.lookup(ip)
        assert (hit.country_code, hit.country_name, hit.asn_name) == (cc, country, asn), ip


def test_scale_multiplies_background_only(tmp_path: Path, fresh: Path) -> None:
    big = generate(tmp_path / "x3", days=5, scale=3)
    small = yaml.safe_load((fresh / "ANSWERS.yaml").read_text())
    assert big.answers["techniques"] == small["techniques"]
    assert big.answers["sessions"] == small["sessions"]
    base = sum(1 for _, recs in _records(fresh) for r in recs if r["eventTime"] < "2024-05-11")
    assert big.stats.records > 2.2 * base


def test_load_answers_errors(tmp_path: Path) -> None:
    with pytest.raises(IamForensicsError, match="not found"):
        load_answers(tmp_path)
    (tmp_path / "ANSWERS.yaml").write_text("- just a list\n")
    with pytest.raises(IamForensicsError, match="not an answer key"):
        load_answers(tmp_path)


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["samples", "--out", str(tmp_path / "s"), "--days", "5", "--seed", "3"]) == 0
    assert "duplicates" in capsys.readouterr().out
    assert (tmp_path / "s" / "ANSWERS.yaml").is_file()
    assert main(["samples", "--out", str(tmp_path / "s"), "--days", "5"]) == 2  # exists, no --force
    assert main(["samples", "--out", str(tmp_path / "t"), "--days", "2"]) == 2
    assert "at least 5" in capsys.readouterr().err


def test_shapes_match_real_evidence() -> None:
    """Generated ConsoleLogin and AssumeRole records carry the fields real ones do (stratus, AWS docs)."""
    real: list[dict[str, Any]] = []
    for p in shared_path("stratus-red-team-detonation-logs", "raw").rglob("*.json"):
        real += json.loads(p.read_text())
    for line in shared_path("awsdocs-cloudtrail-user-guide-examples", "derived").glob(
        "doc_example_events.jsonl"
    ):
        real += [json.loads(x)["event"] for x in line.read_text().splitlines() if x.strip()]
    ours = [r for _, recs in _records(SAMPLES) for r in recs]
    for name in ("ConsoleLogin", "AssumeRole", "GetFederationToken"):
        theirs = [r for r in real if r.get("eventName") == name and "errorMessage" not in r]
        mine = [r for r in ours if r["eventName"] == name and "errorMessage" not in r]
        assert theirs and mine, name
        their_keys = set().union(*(r.keys() for r in theirs))
        assert {
            "eventVersion",
            "userIdentity",
            "eventTime",
            "eventID",
            "eventType",
            "recipientAccountId",
        } <= their_keys
        for r in mine:
            assert set(r) - their_keys <= {"tlsDetails", "eventCategory", "managementEvent", "resources",
                                           "sharedEventID", "additionalEventData", "sessionCredentialFromConsole"}, name  # fmt: skip
            if name != "ConsoleLogin":
                real_creds = next(
                    t["responseElements"]["credentials"] for t in theirs if t.get("responseElements")
                )
                assert set(r["responseElements"]["credentials"]) == set(real_creds)
                assert re.fullmatch(r"[A-Z][a-z]{2} \d{1,2}, \d{4}, \d{1,2}:\d\d:\d\d [AP]M",
                                    r["responseElements"]["credentials"]["expiration"])  # fmt: skip
    real_login = [r["additionalEventData"] for r in real if r.get("eventName") == "ConsoleLogin"]
    mine_login = [r["additionalEventData"] for r in ours if r["eventName"] == "ConsoleLogin"]
    assert set().union(*mine_login) <= set().union(*real_login)
