"""Case: the timeline query reads only the partitions and columns it needs; values are always data."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import iamforensics as ifx
from iamforensics.case import Case
from iamforensics.errors import CaseError, QueryError
from iamforensics.schema import COLUMN_NAMES
from iamforensics.store import event_files
from tests.conftest import shared_path

ALICE = "arn:aws:iam::111122223333:user/alice"
BOB = "arn:aws:iam::111122223333:user/bob"
EVIL = "arn:aws:iam::111122223333:user/o'brien\"; DROP TABLE events; --"


def rec(n: int, when: str, actor: str, key: str, ip: str, name: str, **extra: Any) -> dict[str, Any]:
    return {
        "eventVersion": "1.08",
        "eventTime": when,
        "eventID": f"c0ffee00-0000-4000-8000-{n:012d}",
        "eventSource": "iam.amazonaws.com",
        "eventName": name,
        "awsRegion": "us-east-1",
        "sourceIPAddress": ip,
        "readOnly": name.startswith(("List", "Get")),
        "userIdentity": {"type": "IAMUser", "arn": actor, "accessKeyId": key, "accountId": "111122223333"},
    } | extra


RECORDS = [
    rec(1, "2024-05-01T00:00:00Z", ALICE, "AKIAALICE0000000001", "198.51.100.1", "ListUsers"),
    rec(2, "2024-05-01T23:59:59Z", ALICE, "AKIAALICE0000000001", "198.51.100.1", "CreateUser"),
    rec(3, "2024-05-02T00:00:00Z", BOB, "ASIABOB000000000001", "203.0.113.9", "GetUser"),
    rec(
        4,
        "2024-05-02T12:00:00Z",
        BOB,
        "ASIABOB000000000001",
        "203.0.113.9",
        "DeleteUser",
        errorCode="AccessDenied",
    ),
    rec(5, "2024-05-03T08:00:00Z", EVIL, "AKIAEVIL00000000001", "10.0.0.5", "AttachUserPolicy"),
    rec(6, "2024-05-04T08:00:00Z", ALICE, "AKIAALICE0000000001", "198.51.100.2", "ListUsers"),
]


@pytest.fixture(scope="module")
def case_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("case")
    (root / "ev.json").write_text(json.dumps({"Records": RECORDS}))
    ifx.ingest([str(root / "ev.json")], root / "case", jobs=1)
    return root / "case"


@pytest.fixture
def case(case_path: Path) -> Case:
    c = ifx.open_case(case_path)
    yield c
    c.close()


def names(df: pd.DataFrame) -> list[str]:
    return df["event_name"].tolist()


def test_all_events_in_time_order(case):
    df = case.events()
    assert len(case) == len(df) == 6
    assert names(df) == [r["eventName"] for r in RECORDS]
    assert list(df.columns) == list(COLUMN_NAMES)


def test_time_window_start_inclusive_end_exclusive(case):
    assert names(case.events("2024-05-01", "2024-05-02")) == ["ListUsers", "CreateUser"]
    assert names(case.events("2024-05-01T23:59:59Z", "2024-05-02T00:00:00Z")) == ["CreateUser"]
    assert names(case.events("2024-05-02T00:00:00Z", "2024-05-02T00:00:01Z")) == ["GetUser"]
    assert names(case.events(start="2024-05-03")) == ["AttachUserPolicy", "ListUsers"]
    assert names(case.events(end="2024-05-01T00:00:01")) == ["ListUsers"]
    # Aware bounds in another zone are converted: 02:00+02:00 is midnight UTC.
    assert names(case.events("2024-05-02T02:00:00+02:00", "2024-05-02T13:00:00+00:00")) == [
        "GetUser",
        "DeleteUser",
    ]
    assert names(case.events(dt.date(2024, 5, 4), dt.datetime(2024, 5, 5, tzinfo=dt.UTC))) == ["ListUsers"]


def test_filters(case):
    assert names(case.events(actor=BOB)) == ["GetUser", "DeleteUser"]
    assert names(case.events(actor=[BOB, ALICE], end="2024-05-02T01:00:00Z")) == [
        "ListUsers",
        "CreateUser",
        "GetUser",
    ]
    assert names(case.events(access_key_id="ASIABOB000000000001")) == ["GetUser", "DeleteUser"]
    assert names(case.events(event_names=["ListUsers"])) == ["ListUsers", "ListUsers"]
    assert names(case.events(event_names="CreateUser")) == ["CreateUser"]
    assert names(case.events(source_ip="198.51.100.2")) == ["ListUsers"]
    assert names(case.events(read_only=True)) == ["ListUsers", "GetUser", "ListUsers"]
    assert names(case.events(read_only=False)) == ["CreateUser", "DeleteUser", "AttachUserPolicy"]
    assert names(case.events(errors_only=True)) == ["DeleteUser"]
    assert names(case.events(actor=ALICE, event_names="ListUsers", start="2024-05-02")) == ["ListUsers"]
    assert case.events(actor=[]).empty and case.events(actor="nobody").empty


def test_columns_and_limit(case):
    df = case.events(columns=["event_time", "event_name"], limit=2)
    assert list(df.columns) == ["event_time", "event_name"] and len(df) == 2
    assert str(df["event_time"].dtype).startswith("datetime64") and str(df["event_time"].dt.tz) == "UTC"
    assert list(case.events(columns=["actor"], actor=BOB).columns) == ["actor"]
    with pytest.raises(QueryError, match="unknown column"):
        case.events(columns=["event_time", "nope; DROP TABLE x"])


def test_values_with_quotes_and_sql_are_data(case):
    df = case.events(actor=EVIL, columns=["actor", "event_name"])
    assert df.to_dict("records") == [{"actor": EVIL, "event_name": "AttachUserPolicy"}]
    assert case.events(actor="' OR '1'='1").empty
    assert case.events(event_names=["x') OR 1=1 --"]).empty
    assert len(case) == 6  # nothing was dropped


def test_sql_with_params(case):
    df = case.sql(
        "SELECT event_name, count(*) AS n FROM events WHERE actor = ? GROUP BY 1 ORDER BY 1", [ALICE]
    )
    assert dict(zip(df["event_name"], df["n"], strict=True)) == {"CreateUser": 1, "ListUsers": 2}
    df = case.sql(
        "SELECT count(*) AS n FROM events WHERE actor = $a AND source_ip = $ip",
        {"a": ALICE, "ip": "198.51.100.1"},
    )
    assert df["n"][0] == 2
    assert case.sql("SELECT count(*) AS n FROM events WHERE actor = ?", [EVIL])["n"][0] == 1
    # The partition column is queryable too.
    days = case.sql("SELECT DISTINCT event_date FROM events ORDER BY 1")["event_date"].astype(str).tolist()
    assert days == ["2024-05-01", "2024-05-02", "2024-05-03", "2024-05-04"]
    with pytest.raises(QueryError, match="query failed"):
        case.sql("SELECT no_such_column FROM events")


def test_where_builds_parameters_not_text(case):
    where, params = case.where("2024-05-02", "2024-05-03", actor=EVIL, event_names=["A", "B"])
    assert EVIL not in where and "?" in where
    assert EVIL in params and "A" in params and "B" in params


def _corrupt_other_days(case_path: Path, keep: set[str], tmp: Path) -> Path:
    """A copy of the case where every partition outside ``keep`` holds garbage instead of Parquet."""
    import shutil

    copy = tmp / "pruned-case"
    shutil.copytree(case_path, copy)
    for f in event_files(copy):
        if f.parent.name.split("=")[1] not in keep:
            f.write_bytes(b"not parquet at all")
    return copy


def test_time_bounded_queries_read_only_their_partitions(case_path, tmp_path):
    # DuckDB takes the view's schema from the first file, so the first day stays intact.
    copy = _corrupt_other_days(case_path, {"2024-05-01", "2024-05-03"}, tmp_path)
    c = ifx.open_case(copy)
    # Unreadable partitions outside the window are never opened (a midnight end excludes its day).
    assert names(c.events("2024-05-03", "2024-05-04")) == ["AttachUserPolicy"]
    assert names(c.events("2024-05-03T06:00:00Z", "2024-05-03T18:00:00Z", actor=EVIL)) == ["AttachUserPolicy"]
    assert c.sql(*c_count(c, "2024-05-01", "2024-05-02"))["n"][0] == 2
    # A query that needs the other days does open them, and says so.
    with pytest.raises(QueryError, match="event_date=2024-05-02"):
        c.events("2024-05-01", "2024-05-03")


def c_count(c: Case, start: str, end: str) -> tuple[str, list[Any]]:
    where, params = c.where(start, end)
    return f"SELECT count(*) AS n FROM events{where}", params


def test_explain_analyze_counts_the_files_read(case):
    def files_read(where: str, params: list[Any]) -> str:
        rows = (
            case.connection()
            .execute(f"EXPLAIN ANALYZE SELECT event_name FROM events{where}", params)
            .fetchall()
        )
        plan = "\n".join(r[1] for r in rows)
        return " ".join(line.strip(" │") for line in plan.splitlines() if "Files" in line and ":" in line)

    assert "Scanning Files: 1/4" in files_read(*case.where("2024-05-02", "2024-05-03"))
    assert "Scanning Files: 2/4" in files_read(*case.where("2024-05-01T12:00:00Z", "2024-05-02T01:00:00Z"))
    assert "Total Files Read: 4" in files_read(*case.where())


def test_empty_case(tmp_path):
    (tmp_path / "none.json").write_text("[]")
    ifx.ingest([str(tmp_path / "none.json")], tmp_path / "case", jobs=1)
    c = ifx.open_case(tmp_path / "case")
    assert len(c) == 0 and c.events().empty
    assert list(c.events(columns=["event_time", "actor"]).columns) == ["event_time", "actor"]


def test_open_case_errors(tmp_path):
    with pytest.raises(CaseError, match="no such case folder"):
        ifx.open_case(tmp_path / "nothing")
    (tmp_path / "plain").mkdir()
    with pytest.raises(CaseError, match="not a case folder"):
        ifx.open_case(tmp_path / "plain")


def test_real_evidence_principal_timeline(tmp_path):
    src = shared_path("stratus-red-team-detonation-logs", "raw")
    ifx.ingest([str(src)], tmp_path / "case", jobs=1)
    c = ifx.open_case(tmp_path / "case")
    actor = "arn:aws:sts::017622104382:assumed-role/stratus-red-team-ec2-steal-credentials-role/i-786a3A8B5C0d92eF4"
    df = c.events(actor=actor, columns=["event_time", "event_name", "source_ip_address", "access_key_id"])
    assert not df.empty and set(df["access_key_id"]) == {"ASIAP5CT9NN8EYVU1FXV"}
    assert df["event_time"].is_monotonic_increasing
    by_key = c.events(access_key_id="ASIAP5CT9NN8EYVU1FXV", columns=["event_id"])
    assert len(by_key) == len(df)


def test_a_case_opened_empty_sees_events_ingested_later(tmp_path):
    (tmp_path / "none.json").write_text("[]")
    ifx.ingest([str(tmp_path / "none.json")], tmp_path / "case", jobs=1)
    c = ifx.open_case(tmp_path / "case")
    assert len(c) == 0
    (tmp_path / "some.json").write_text(json.dumps(RECORDS[:2]))
    ifx.ingest([str(tmp_path / "some.json")], tmp_path / "case", jobs=1)
    assert len(c) == 2
