"""The hunt's fast path (candidates selected by name/source, one statement for all Sigma rules,
findings assembled in DuckDB) finds exactly what evaluating every rule on its own over every
event finds: on the sample scenario and on real detonation logs."""

from __future__ import annotations

import csv
import textwrap
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest

from iamforensics.case import Case
from iamforensics.detections import load_rules, load_sigma
from iamforensics.detections.engine import condition_need, run_rule_arrow
from iamforensics.detections.findings import FINDINGS_SCHEMA, findings_table, write_findings
from iamforensics.detections.prefilter import need_all, need_any, resolve
from iamforensics.detections.sigma import run_sigma
from iamforensics.report.export import write_csv

from .analysis_helpers import samples_case
from .conftest import SHARED_SIGMA, shared_path
from .detections_helpers import make_case, make_case_from, rec

SIGMA_DIR = SHARED_SIGMA


def _rows(table: pa.Table, columns: list[str]) -> Counter[tuple[Any, ...]]:
    df = table.select(columns).to_pandas()
    if "event_ids" in df:
        df["event_ids"] = df["event_ids"].map(tuple)
    return Counter(df.itertuples(index=False, name=None))


def _reference_builtin(case: Case) -> pa.Table:
    """Every built-in rule's own query over all events (no candidates, no prefilter)."""
    return pa.concat_tables([run_rule_arrow(case, r, "events") for r in load_rules()])


def _reference_sigma(case: Case) -> Counter[tuple[Any, ...]]:
    """(rule, event id, time, actor) of every Sigma rule run alone over all events."""
    out: Counter[tuple[Any, ...]] = Counter()
    for q in load_sigma(SIGMA_DIR):
        assert q.sql is not None, q.reason
        hits = case.connection().execute(
            f"SELECT event_id, event_time, actor FROM events WHERE coalesce({q.sql}, FALSE)", q.params
        )
        for event_id, event_time, actor in hits.fetchall():
            out[("sigma:" + Path(q.file).stem, (event_id,), pd.Timestamp(event_time), actor)] += 1
    return out


def _check_same_findings(case: Case) -> pa.Table:
    if not SIGMA_DIR.is_dir():
        pytest.skip("shared Sigma rules not present")
    table, report, _ = findings_table(case, sigma=SIGMA_DIR)
    builtin = table.filter(pa.compute.equal(table.column("source"), "builtin"))
    cols = [c for c in FINDINGS_SCHEMA.names if c != "origin"]
    assert _rows(builtin, cols) == _rows(_reference_builtin(case), cols)
    sigma = table.filter(pa.compute.equal(table.column("source"), "sigma"))
    got = Counter(
        (r, tuple(ids), pd.Timestamp(t), a)
        for r, ids, t, a in zip(
            *(sigma.column(c).to_pylist() for c in ("rule", "event_ids", "time", "actor")), strict=True
        )
    )
    assert got == _reference_sigma(case)
    assert report is not None and int(report["matches"].sum()) == sigma.num_rows
    return table


def test_fast_hunt_equals_rule_by_rule_on_the_sample_scenario() -> None:
    case = samples_case()
    table = _check_same_findings(case)
    assert table.num_rows > 1000  # the scenario's assumed-role traffic alone matches one Sigma rule
    # origins come from session attribution for every finding's first event
    assert pa.compute.sum(pa.compute.is_valid(table.column("origin"))).as_py() == table.num_rows
    t = table.column("time").to_pandas()
    assert t.is_monotonic_increasing


def test_fast_hunt_equals_rule_by_rule_on_real_detonations(tmp_path_factory: pytest.TempPathFactory) -> None:
    stratus = shared_path("stratus-red-team-detonation-logs", "raw")
    panther = shared_path("panther-analysis-cloudtrail-tests", "derived", "scenario_events.jsonl")
    case = make_case_from(tmp_path_factory.mktemp("prefilter-real"), [stratus, panther])
    table = _check_same_findings(case)
    assert set(table.column("source").to_pylist()) == {"builtin", "sigma"}


def test_needs_of_builtin_rules() -> None:
    by_id = {r.id: r for r in load_rules()}
    need = condition_need(by_id["cloudtrail-stop-logging"].condition)
    assert need is not None and set(need) == {"event_source", "event_name"}
    assert condition_need(by_id["access-denied-burst"].condition) is None  # errors of any call
    # a NOT says nothing; an OR says something only about columns all branches test
    assert condition_need({"not": {"field": "eventName", "equals": "A"}}) is None
    assert need_any([{"event_name": ("a", [])}, None]) is None
    both = need_all([{"event_name": ("x = ?", [1])}, {"event_source": ("y = ?", [2])}])
    assert both == {"event_name": ("x = ?", [1]), "event_source": ("y = ?", [2])}


def test_needs_resolve_on_the_values_the_case_holds(tmp_path: Path) -> None:
    case = make_case(
        tmp_path,
        [
            rec("CreateUser", "iam.amazonaws.com", key="p1"),
            rec("createuser", "iam.amazonaws.com", key="p2"),
            rec("ListUsers", "iam.amazonaws.com", key="p3"),
        ],
    )
    con = case.connection()
    ci = {"event_name": ('lower(CAST("event_name" AS VARCHAR)) = ?', ["createuser"])}
    absent = {"event_name": ('CAST("event_name" AS VARCHAR) = ?', ["DeleteTrail"])}
    wild = {"event_name": ('regexp_matches(CAST("event_name" AS VARCHAR), ?)', ["^List"])}
    (f_ci, f_absent, f_wild, f_none) = resolve(con, [ci, absent, wild, None])
    assert isinstance(f_ci, tuple) and sorted(f_ci[1]) == ["CreateUser", "createuser"]
    assert f_absent is False and f_none is None
    assert isinstance(f_wild, tuple) and f_wild[1] == ["ListUsers"]


def test_sigma_rule_whose_calls_are_absent_still_reported(tmp_path: Path) -> None:
    case = make_case(tmp_path, [rec("CreateUser", "iam.amazonaws.com", key="q1")])
    folder = tmp_path / "rules"
    folder.mkdir()
    head = "logsource: {product: aws, service: cloudtrail}\nlevel: high\n"
    rules = {
        "absent.yml": "detection: {sel: {eventName: DeleteTrail}, condition: sel}",
        "ci.yml": "detection: {sel: {eventName: CREATEUSER}, condition: sel}",
        "no_name.yml": "detection: {sel: {userIdentity.type: IAMUser}, condition: sel}",
        "bad_regex.yml": "detection: {sel: {eventName|re: '(?=Create)User'}, condition: sel}",
    }
    for name, body in rules.items():
        (folder / name).write_text(f"title: {name}\n{head}" + textwrap.dedent(body))
    report, table = run_sigma(case, folder)
    rep = report.set_index("file")
    assert rep.loc["absent.yml", "matches"] == 0 and rep.loc["absent.yml", "converted"]
    assert rep.loc["ci.yml", "matches"] == 1 and rep.loc["no_name.yml", "matches"] == 1
    # a regex RE2 rejects (no lookahead) is reported with the reason; the other rules still run
    assert not rep.loc["bad_regex.yml", "converted"] and "(?=" in rep.loc["bad_regex.yml", "reason"]
    assert table.num_rows == 2


def test_streamed_csv_is_the_neutralized_csv_of_report_export(tmp_path: Path) -> None:
    hostile = [
        "=cmd|' /C calc'!A0",
        "+1",
        "-2",
        "@SUM(1)",
        "\tx",
        "\rx",
        "\nx",
        "|x",
        "%x",
        "plain",
        "a\r\nb",
    ]
    n = len(hostile)
    ts = pd.Timestamp("2024-05-01 10:00:00.123456", tz="UTC")
    table = pa.Table.from_pydict(
        {
            "rule": hostile,
            "source": ["builtin"] * n,
            "title": hostile[::-1],
            "severity": ["high"] * n,
            "tactic": ["TA0003 Persistence"] * n,
            "technique": ["T1136"] * n,
            "time": [ts] * n,
            "last_time": [ts] * n,
            "actor": hostile,
            "origin": [None, *hostile[1:]],
            "count": list(range(n)),
            "event_ids": [["-id", h] for h in hostile],
            "summary": hostile,
        },
        schema=FINDINGS_SCHEMA,
    )

    class _Case:
        path = tmp_path

    paths = write_findings(_Case(), table)  # type: ignore[arg-type]
    flat = table.to_pandas()
    flat["event_ids"] = flat["event_ids"].map(" ".join)
    expected = write_csv(flat, tmp_path / "expected.csv")

    def read(p: Path) -> list[list[str]]:
        with open(p, encoding="utf-8-sig", newline="") as f:
            return list(csv.reader(f))

    assert read(paths["csv"]) == read(expected)
    assert paths["csv"].read_bytes().startswith(b"\xef\xbb\xbf")


def test_hunt_benchmark_runs_on_a_copy_of_the_sample_case(tmp_path: Path) -> None:
    import shutil

    from bench.hunt import run_hunt

    if not SIGMA_DIR.is_dir():
        pytest.skip("shared Sigma rules not present")
    case_dir = tmp_path / "case"
    shutil.copytree(samples_case().path, case_dir)
    out = run_hunt(case_dir, SIGMA_DIR, cold=True)
    assert out["events"] == len(samples_case()) and out["sessions"] == "built"
    assert out["findings"] == sum(out["findings_by_source"].values()) > 1000
    assert out["sigma_converted"] == out["sigma_rules"] == 57 and out["builtin_rules"] >= 60
    assert {"builtin", "sigma", "origin", "write"} <= set(out["stages"]) and out["peak_rss_mb"] > 0
    assert (case_dir / "findings.parquet").is_file() and (case_dir / "findings.csv").is_file()
