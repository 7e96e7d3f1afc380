"""Built-in detections on real public evidence (../shared/data) and on the sample scenario."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from iamforensics.detections import findings, load_rules

from .conftest import ROOT, shared_path
from .detections_helpers import make_case, make_case_from

STRATUS = ("stratus-red-team-detonation-logs", "raw")

#: Stratus technique (file name) -> built-in rule ids its detonation must raise.
EXPECTED: dict[str, set[str]] = {
    "aws.credential-access.ec2-get-password-data": {"ec2-get-password-data", "access-denied-burst"},
    "aws.credential-access.ec2-steal-instance-credentials": {
        "ec2-instance-credentials-external",
        "ssm-send-command",
    },
    "aws.credential-access.secretsmanager-batch-retrieve-secrets": {
        "secrets-batch-retrieve",
        "secrets-get-value-burst",
    },
    "aws.credential-access.secretsmanager-retrieve-secrets": {"secrets-get-value-burst"},
    "aws.credential-access.ssm-retrieve-securestring-parameters": {"ssm-get-parameters-decrypted"},
    "aws.defense-evasion.cloudtrail-delete": {"cloudtrail-delete-trail"},
    "aws.defense-evasion.cloudtrail-event-selectors": {"cloudtrail-event-selectors"},
    "aws.defense-evasion.cloudtrail-stop": {"cloudtrail-stop-logging"},
    "aws.defense-evasion.dns-delete-logs": {"dns-query-logging-deleted"},
    "aws.defense-evasion.organizations-leave": {"organizations-leave"},
    "aws.defense-evasion.vpc-remove-flow-logs": {"ec2-delete-flow-logs"},
    "aws.discovery.ec2-download-user-data": {"ec2-describe-user-data", "access-denied-burst"},
    "aws.execution.ec2-launch-unusual-instances": {"ec2-run-unusual-instance-type"},
    "aws.execution.ec2-user-data": {"ec2-modify-user-data"},
    "aws.execution.ssm-send-command": {"ssm-send-command"},
    "aws.execution.ssm-start-session": {"ssm-start-session"},
    "aws.exfiltration.ec2-security-group-open-port-22-ingress": {"ec2-security-group-open-world"},
    "aws.exfiltration.ec2-share-ami": {"ec2-ami-shared"},
    "aws.exfiltration.ec2-share-ebs-snapshot": {"ec2-snapshot-shared"},
    "aws.exfiltration.rds-share-snapshot": {"rds-snapshot-shared"},
    "aws.impact.bedrock-invoke-model": {"bedrock-model-access-enabled"},
    "aws.initial-access.console-login-without-mfa": {"console-login-without-mfa"},
    "aws.lateral-movement.ec2-instance-connect": {"ec2-instance-connect-ssh-key"},
    "aws.lateral-movement.ec2-serial-console-send-ssh-public-key": {"ec2-serial-console-ssh-key"},
    "aws.persistence.iam-backdoor-role": {"iam-role-trust-external", "iam-update-assume-role-policy"},
    "aws.persistence.iam-backdoor-user": {"iam-create-access-key-other-user"},
    "aws.persistence.iam-create-admin-user": {
        "iam-create-user",
        "iam-attach-admin-policy",
        "iam-create-access-key-other-user",
    },
    "aws.persistence.iam-create-backdoor-role": {
        "iam-create-role",
        "iam-role-trust-external",
        "iam-attach-admin-policy",
    },
    "aws.persistence.iam-create-user-login-profile": {"iam-create-login-profile"},
    "aws.persistence.lambda-backdoor-function": {"lambda-add-permission-external"},
    "aws.persistence.lambda-layer-extension": {"lambda-layer-added"},
    "aws.persistence.lambda-overwrite-code": {"lambda-update-code"},
    "aws.persistence.rolesanywhere-create-trust-anchor": {"rolesanywhere-trust-anchor"},
    "aws.persistence.sts-federation-token": {"sts-get-federation-token"},
    "aws.privilege-escalation.iam-update-user-login-profile": {"iam-update-login-profile"},
}
#: Stratus techniques with no built-in rule yet, and why (none today: every file is covered).
NO_RULE: dict[str, str] = {}


@pytest.fixture(scope="module")
def stratus_findings(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    folder = shared_path(*STRATUS)
    case = make_case_from(tmp_path_factory.mktemp("stratus"), [folder])
    df = findings(case)
    # Every event of the case came from one technique file; map findings back to it.
    ev = case.sql("SELECT event_id, source FROM events")
    src = dict(
        zip(ev["event_id"], ev["source"].map(lambda s: Path(s).name.removesuffix(".json")), strict=True)
    )
    df["technique_file"] = df["event_ids"].map(lambda ids: src[ids[0]])
    return df


def test_every_stratus_file_is_in_the_table() -> None:
    files = {p.name.removesuffix(".json") for p in shared_path(*STRATUS).glob("aws.*.json")}
    assert files == set(EXPECTED) | set(NO_RULE)
    assert not set(EXPECTED) & set(NO_RULE)
    known = {r.id for r in load_rules()}
    assert set().union(*EXPECTED.values()) <= known


@pytest.mark.parametrize("technique", sorted(EXPECTED))
def test_stratus_detonation_triggers_its_rules(stratus_findings: pd.DataFrame, technique: str) -> None:
    fired = set(stratus_findings.loc[stratus_findings["technique_file"] == technique, "rule"])
    missing = EXPECTED[technique] - fired
    assert not missing, f"{technique}: {sorted(missing)} did not fire (fired: {sorted(fired)})"


def _scenario_case(tmp: Path):  # type: ignore[no-untyped-def]
    path = shared_path("panther-analysis-cloudtrail-tests", "derived", "scenario_events.jsonl")
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    # Only the documented compromised-root-creds story (enrichment-example is a variant).
    events = [o["event"] for o in lines if "compromised-root-creds" in o["_source_file"]]
    return make_case(tmp, events, "panther"), events


def test_panther_root_compromise_detected_step_by_step(tmp_path: Path) -> None:
    case, events = _scenario_case(tmp_path)
    df = findings(case)
    attacker = "92.55.146.245"
    ev = case.sql("SELECT event_id, event_name, source_ip_address, event_time FROM events")
    by_id = ev.set_index("event_id")
    attacker_ids = set(ev.loc[ev["source_ip_address"] == attacker, "event_id"])

    def steps(rule: str) -> pd.DataFrame:
        return df[(df["rule"] == rule) & df["event_ids"].map(lambda ids: bool(set(ids) & attacker_ids))]

    # 1. failed root sign-ins, 2 days, one burst finding holding all three failures
    burst = steps("console-login-failed-burst")
    assert len(burst) == 1 and burst["count"].iloc[0] == 3
    assert set(by_id.loc[list(burst["event_ids"].iloc[0]), "event_name"]) == {"ConsoleLogin"}
    # 2. the successful root sign-in without MFA
    assert len(steps("console-login-without-mfa")) == 1 and len(steps("root-console-login")) == 4
    # 3. StopLogging (it failed: NotOrganizationMasterAccountException, an attempt still counts)
    assert "NotOrganizationMasterAccountException" in steps("cloudtrail-stop-logging")["summary"].iloc[0]
    # 4. root access key for root itself, 5. the look-alike user, 6. admin-like policy, key for it
    assert len(steps("root-create-access-key")) == 1
    assert steps("iam-create-user")["summary"].str.contains("tracy_stone").all()
    assert steps("iam-attach-admin-policy")["summary"].str.contains("IAMFullAccess").any()
    assert steps("iam-create-access-key-other-user")["summary"].str.contains("tracy_stone").any()
    # 7. RunInstances of a GPU type by the new user
    run = steps("ec2-run-unusual-instance-type")
    assert (
        run["actor"].str.endswith("user/tracy_stone").all()
        and run["summary"].str.contains("p2.8xlarge").all()
    )
    # and in that order
    order = [
        "console-login-failed-burst",
        "console-login-without-mfa",
        "cloudtrail-stop-logging",
        "root-create-access-key",
        "iam-create-user",
        "iam-attach-admin-policy",
        "ec2-run-unusual-instance-type",
    ]
    last_times = [steps(r)["last_time"].max() for r in order]
    assert last_times == sorted(last_times)
    assert len(case) == len(events)  # placeholder ids ("1") did not merge events


def test_federated_and_identity_center_sign_ins_are_not_console_login_without_mfa(tmp_path: Path) -> None:
    path = shared_path("panther-analysis-cloudtrail-tests", "derived", "rule_test_events.jsonl")
    chosen = []
    for line in path.read_text().splitlines():
        o = json.loads(line)
        e = o["event"]
        if not isinstance(e, dict) or e.get("eventName") != "ConsoleLogin":
            continue
        aed = e.get("additionalEventData") or {}
        federated = (e.get("userIdentity") or {}).get("type") == "AssumedRole" or "SamlProviderArn" in aed
        if federated and isinstance(aed, dict) and str(aed.get("MFAUsed")).lower() == "no":
            chosen.append(e)
    # SAML (as IAMUser and as role), Identity Center (AWSReservedSSO_*) and plain role sign-ins
    assert len(chosen) >= 5
    assert any("AWSReservedSSO_" in str(e["userIdentity"].get("arn")) for e in chosen)
    assert any("SamlProviderArn" in (e.get("additionalEventData") or {}) for e in chosen)
    case = make_case(tmp_path, chosen)
    assert len(case) == len(chosen)
    df = findings(case)
    assert "console-login-without-mfa" not in set(df["rule"])


def test_sample_scenario_techniques_are_found(tmp_path: Path) -> None:
    answers_path = ROOT / "data" / "samples" / "ANSWERS.yaml"
    if not answers_path.exists():
        pytest.skip("the sample scenario (data/samples) is not generated")
    answers = yaml.safe_load(answers_path.read_text())
    case = make_case_from(tmp_path, [ROOT / "data" / "samples" / "AWSLogs"])
    df = findings(case)
    flagged = set().union(*map(set, df["event_ids"]))
    #: Techniques of the answer key that no built-in rule is meant to catch, and why.
    not_covered = {}
    results = {}
    for slug, tech in answers["techniques"].items():
        ids = {e["event_id"] for e in tech["events"]}
        results[slug] = bool(ids & flagged)
    missed = {s for s, hit in results.items() if not hit}
    assert missed <= set(not_covered), f"techniques with no finding: {sorted(missed - set(not_covered))}"
    # the list of exceptions stays honest: a technique that is now found must leave it
    assert not (set(not_covered) - missed), (
        f"now detected, drop from not_covered: {set(not_covered) - missed}"
    )
