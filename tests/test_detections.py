"""Findings table, hunt (files written into the case), the CLI, and rule-file validation."""

from __future__ import annotations

import csv
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from iamforensics.cli import main
from iamforensics.detections import FINDINGS_COLUMNS, RuleError, findings, hunt, load_rules
from iamforensics.detections.engine import compile_condition, parse_rule
from iamforensics.errors import IamForensicsError

from .detections_helpers import make_case, rec

IAM = "iam.amazonaws.com"
RULE = {
    "id": "t-rule",
    "title": "t",
    "description": "d",
    "tactic": ["TA0003", "Persistence"],
    "technique": ["T1136.003", "Create Account: Cloud Account"],
    "severity": "low",
    "match": {"event_name": "CreateUser"},
}


@pytest.fixture
def case(tmp_path: Path):  # type: ignore[no-untyped-def]
    records = [
        # attacker-controlled text that a spreadsheet would run as a formula
        rec("CreateUser", IAM, key="d1", user='=HYPERLINK("http://x")', rp={"userName": "@evil\r\nline"}),
        rec("StopLogging", "cloudtrail.amazonaws.com", key="d2", rp={"name": "trail"}),
        rec("ListBuckets", "s3.amazonaws.com", key="d3"),
    ]
    return make_case(tmp_path, records)


def test_findings_columns_and_severity_filter(case) -> None:  # type: ignore[no-untyped-def]
    df = findings(case)
    assert tuple(df.columns) == FINDINGS_COLUMNS
    assert set(df["rule"]) == {"iam-create-user", "cloudtrail-stop-logging"}
    # session attribution: calls made with a user's own long-term key have the user as origin
    assert (df["origin"] == df["actor"]).all()
    assert df["time"].is_monotonic_increasing
    high = findings(case, min_severity="high")
    assert set(high["rule"]) == {"cloudtrail-stop-logging"}
    assert case.findings(min_severity="high")["rule"].tolist() == high["rule"].tolist()
    summary = df.loc[df["rule"] == "iam-create-user", "summary"].iloc[0]
    assert "\r" not in summary and "\n" not in summary and "@evil" in summary
    with pytest.raises(IamForensicsError):
        findings(case, min_severity="urgent")


def test_hunt_writes_parquet_and_neutralized_csv(case) -> None:  # type: ignore[no-untyped-def]
    result = hunt(case)
    assert {"parquet", "csv"} <= set(result.paths)
    table = pq.read_table(result.paths["parquet"])
    assert table.num_rows == len(result.findings) == 2
    with open(result.paths["csv"], encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2
    actor = next(r["actor"] for r in rows if r["rule"] == "iam-create-user")
    assert actor.startswith("arn:aws:iam::")  # the actor cell starts with arn, the user name is inside
    for row in rows:
        for cell in row.values():
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell
    ids = next(r["event_ids"] for r in rows if r["rule"] == "cloudtrail-stop-logging")
    assert (
        ids
        == result.findings.loc[result.findings["rule"] == "cloudtrail-stop-logging", "event_ids"].iloc[0][0]
    )


def test_cli_hunt(case, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    assert main(["hunt", "--case", str(case.path), "--min-severity", "medium"]) == 0
    out = capsys.readouterr().out
    assert "cloudtrail-stop-logging" in out and "findings.parquet" in out
    assert (case.path / "findings.csv").exists()
    assert main(["hunt", "--case", str(case.path), "--sigma", str(case.path / "nope")]) == 2


def test_rule_validation_errors() -> None:
    assert parse_rule(dict(RULE)).tactic == "TA0003 Persistence"
    bad = [
        {**RULE, "severity": "urgent"},
        {**RULE, "tactic": ["T0003", "Persistence"]},
        {**RULE, "where": {"field": "no_such_column", "equals": "x"}},
        {**RULE, "where": {"field": "event_name", "sounds_like": "x"}},
        {**RULE, "aggregate": {"type": "threshold", "by": ["actor"], "count": 3}},
        {**RULE, "extra": 1},
        {**RULE, "id": "Bad Id"},
    ]
    for doc in bad:
        with pytest.raises(RuleError):
            parse_rule(doc)


def test_values_are_parameters_never_sql_text() -> None:
    sql, params = compile_condition(
        {
            "any": [
                {"field": "requestParameters.userName", "equals": "x' OR '1'='1"},
                {"field": "user_agent", "contains": "%_"},
            ]
        }
    )
    assert "OR '1'='1" not in sql and "x' OR '1'='1" in params
    assert sql.count("?") == len(params)
    for rule in load_rules():
        from iamforensics.detections.engine import rule_query

        q, p = rule_query(rule)
        assert q.count("?") == len(p), rule.id
        assert "amazonaws.com" not in q, rule.id


def test_rules_carry_attack_metadata() -> None:
    rules = load_rules()
    assert len(rules) >= 60
    tactics = {r.tactic_name for r in rules}
    assert {
        "Initial Access",
        "Persistence",
        "Privilege Escalation",
        "Defense Evasion",
        "Credential Access",
        "Discovery",
        "Lateral Movement",
        "Execution",
        "Exfiltration",
        "Impact",
    } <= tactics
    for r in rules:
        assert r.references and r.description and r.title
