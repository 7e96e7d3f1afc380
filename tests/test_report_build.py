"""build_report and 'iamforensics report' on the sample scenario: every promised file, the
sections, the manifest, tables that read back, Timesketch lines, the window, the CLI."""

from __future__ import annotations

import csv
import json
from html.parser import HTMLParser
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

import iamforensics as ifx
from iamforensics import iam
from iamforensics.cli import main
from iamforensics.detections import hunt
from iamforensics.integrity import check_custody, record_in_manifest
from iamforensics.report import build_report
from iamforensics.report.build import parse_bound
from tests.analysis_helpers import SAMPLES, samples_answers, samples_case

SECTIONS = [
    "overview",
    "timeline",
    "api-calls",
    "mfa",
    "source-ips",
    "sessions",
    "findings",
    "iam-changes",
    "evidence",
]
WINDOW = ("2024-05-08T00:00:00Z", "2024-05-09T00:00:00Z")


class Page(HTMLParser):
    """What a reader gets: section ids, h2 titles, images, tables (as lists of rows)."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: list[str] = []
        self.images: list[dict[str, str | None]] = []
        self.tags: list[str] = []
        self.cells: list[str] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        a = dict(attrs)
        if tag == "section":
            self.sections.append(a.get("id") or "")
        if tag == "img":
            self.images.append(a)
        if tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.cells.append("".join(self._cell))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def parse(path: Path) -> Page:
    p = Page()
    p.feed(path.read_text(encoding="utf-8"))
    return p


def read_csv(path: Path) -> list[list[str]]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.reader(fh))


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def summary(out: Path) -> dict[str, str]:
    return {r[0]: r[1] for r in read_csv(out / "tables" / "summary.csv")[1:]}


@pytest.fixture(scope="module")
def case():
    return samples_case()


@pytest.fixture(scope="module")
def full(case, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report")
    assert build_report(case, out) == out / "report.html"
    return out


@pytest.fixture(scope="module")
def windowed(case, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("window")
    build_report(case.path, out, start=WINDOW[0], end=WINDOW[1], formats=())
    return out


def test_every_promised_file(full):
    assert (full / "report.html").stat().st_size > 100_000
    stems = {p.stem for p in (full / "figures").iterdir()}
    assert len(stems) >= 13
    for stem in stems:
        for ext in ("png", "svg", "pdf"):
            assert (full / "figures" / f"{stem}.{ext}").stat().st_size > 5_000, (stem, ext)
    assert (full / "figures" / next(iter(stems))).with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (full / "tables" / "tables.xlsx").is_file()
    assert len(list((full / "tables").glob("*.csv"))) >= 20
    assert (full / "timesketch.jsonl").is_file()


def test_html_is_self_contained_with_every_section(full, case):
    page = parse(full / "report.html")
    assert page.sections == SECTIONS
    assert "script" not in page.tags and "link" not in page.tags and "iframe" not in page.tags
    assert len(page.images) == len(list((full / "figures").glob("*.png")))
    assert all(str(i["src"]).startswith("data:image/png;base64,") for i in page.images)
    text = (full / "report.html").read_text()
    assert 'http-equiv="Content-Security-Policy"' in text and "default-src 'none'" in text
    assert "http://" not in text and "https://" not in text
    assert f"iamforensics {ifx.__version__}" in text
    n = len(pd.read_csv(full / "tables" / "findings.csv", encoding="utf-8-sig"))
    assert page.cells[:8] == [
        "case",
        "samples",
        "window (UTC)",
        "whole case",
        "events in window",
        f"{len(case):,}",
        "findings",
        page.cells[7],
    ]
    assert page.cells[7].startswith(f"{n} findings: ")


def test_overview_counts_match_the_case(full, case):
    s = summary(full)
    # every distinct event of the evidence is in the case and on the page
    assert int(s["events"]) == len(case) == samples_answers()["evidence"]["unique_events"]
    n = case.sql("SELECT count(DISTINCT actor) n, count(*) FILTER (WHERE is_error) e FROM events").iloc[0]
    assert int(s["actors"]) == n["n"] and int(s["failed calls"]) == n["e"]
    assert s["first event"] == "2024-05-06 00:00:01 UTC"
    accounts = read_csv(full / "tables" / "accounts.csv")[1:]
    assert {a for a, _ in accounts} == {"058264710392", "210987654321"}
    assert sum(int(n) for _, n in accounts) == len(case)


def test_manifest_sha256_match_case_json(full, case):
    recorded = {s["source"]: s["sha256"] for r in case.manifest["runs"] for s in r["sources"]}
    rows = pd.read_csv(full / "tables" / "evidence_files.csv", encoding="utf-8-sig", dtype=str)
    assert len(rows) == len(recorded) > 3000
    assert dict(zip(rows["source"], rows["sha256"], strict=True)) == recorded
    # The page shows the first ones, digests whole.
    cells = parse(full / "report.html").cells
    assert rows["sha256"].iloc[0] in cells and rows["sha256"].iloc[14] in cells


def test_tables_csv_and_xlsx_have_the_same_rows(full):
    wb = openpyxl.load_workbook(full / "tables" / "tables.xlsx", read_only=True)
    csvs = sorted((full / "tables").glob("*.csv"))
    assert sorted(wb.sheetnames) == sorted(p.stem for p in csvs)
    for p in csvs:
        rows = read_csv(p)
        ws = wb[p.stem]
        assert len(p.stem) <= 31
        assert ws.max_row == len(rows), p.stem
        assert [c.value for c in next(ws.iter_rows(max_row=1))] == rows[0]
    # Spot values: the sample's findings and sessions tables are not empty.
    assert len(read_csv(full / "tables" / "findings.csv")) > 20
    assert len(read_csv(full / "tables" / "sessions.csv")) > 100


def test_iam_changes_are_the_privilege_ledger(full, case):
    rows = pd.read_csv(full / "tables" / "privilege_changes.csv", encoding="utf-8-sig")
    ledger = iam.privilege_ledger(case)
    assert len(rows) == len(ledger) > 5
    assert list(rows["event_id"]) == list(ledger["event_id"])


def test_timesketch_every_line_valid(full, case):
    lines = jsonl(full / "timesketch.jsonl")
    assert len(lines) == len(case)
    for line in lines:
        assert isinstance(line["message"], str) and line["message"]
        assert isinstance(line["datetime"], str) and pd.Timestamp(line["datetime"]).tzinfo is not None
        assert isinstance(line["timestamp_desc"], str) and line["timestamp_desc"]
        assert isinstance(line["timestamp"], int)
        assert pd.Timestamp(line["datetime"]).value // 1000 == line["timestamp"]
    assert len({line["event_id"] for line in lines}) == len(lines)


def test_window_restricts_overview_and_timesketch(windowed, case, full):
    n = int(
        case.sql(
            "SELECT count(*) n FROM events WHERE event_time >= ? AND event_time < ?",
            [parse_bound(WINDOW[0], "s").to_pydatetime(), parse_bound(WINDOW[1], "e").to_pydatetime()],
        )["n"].iloc[0]
    )
    assert 0 < n < len(case)
    assert int(summary(windowed)["events"]) == n
    lines = jsonl(windowed / "timesketch.jsonl")
    assert len(lines) == n
    assert all(WINDOW[0][:10] == line["datetime"][:10] for line in lines)
    assert not list((windowed / "figures").iterdir())  # formats=()
    text = (windowed / "report.html").read_text()
    assert "2024-05-08 00:00 to 2024-05-09 00:00" in text
    # Findings outside the window are left out.
    f = pd.read_csv(windowed / "tables" / "findings.csv", encoding="utf-8-sig")
    assert 0 < len(f) < len(pd.read_csv(full / "tables" / "findings.csv", encoding="utf-8-sig"))
    assert (pd.to_datetime(f["time"].str.replace(" UTC", ""), utc=True) < parse_bound(WINDOW[1], "e")).all()


def test_empty_window_still_reports(case, tmp_path):
    html = build_report(case, tmp_path, start="2030-01-01", end="2030-01-02", formats=())
    assert "No events in this window." in html.read_text()
    assert (tmp_path / "timesketch.jsonl").read_text() == ""
    assert int(summary(tmp_path)["events"]) == 0


@pytest.fixture(scope="module")
def small_case(tmp_path_factory):
    """One day of one account's sample logs, hunted (findings.parquet) and verified."""
    d = tmp_path_factory.mktemp("small")
    day = SAMPLES / "AWSLogs" / "058264710392" / "CloudTrail" / "eu-west-1" / "2024" / "05" / "08"
    ifx.ingest([str(day)], d / "case", jobs=1)
    c = ifx.open_case(d / "case")
    hunt(c)  # writes findings.parquet into the case, as 'iamforensics hunt' does
    record_in_manifest(c.path, None, check_custody(c.path))
    return c


def test_stored_findings_and_verifications_are_reported(small_case, tmp_path):
    build_report(small_case, tmp_path, formats=())
    stored = pd.read_parquet(small_case.path / "findings.parquet")
    got = pd.read_csv(tmp_path / "tables" / "findings.csv", encoding="utf-8-sig")
    assert len(got) == len(stored) > 0
    assert sorted(got["rule"]) == sorted(stored["rule"])
    text = (tmp_path / "report.html").read_text()
    assert "written by &#x27;iamforensics hunt&#x27;" in text
    ver = read_csv(tmp_path / "tables" / "integrity_verifications.csv")
    assert len(ver) == 2 and "unchanged: " in ver[1][ver[0].index("custody")]


def test_cli_writes_the_report(small_case, tmp_path, capsys):
    out = tmp_path / "r"
    rc = main(
        [
            "report",
            "--case",
            str(small_case.path),
            "--out",
            str(out),
            "--figures",
            "svg",
            "--from",
            "2024-05-08T02:00:00Z",
            "--to",
            "2024-05-08T03:00:00Z",
        ]
    )
    cap = capsys.readouterr()
    assert rc == 0
    assert cap.out.strip() == str(out / "report.html")
    assert "done:" in cap.err and "analysing" in cap.err  # progress on stderr only
    assert list((out / "figures").glob("*.svg")) and not list((out / "figures").glob("*.png"))
    n = small_case.sql(
        "SELECT count(*) n FROM events WHERE event_time >= TIMESTAMPTZ '2024-05-08 02:00:00+00' "
        "AND event_time < TIMESTAMPTZ '2024-05-08 03:00:00+00'"
    )["n"].iloc[0]
    assert len(jsonl(out / "timesketch.jsonl")) == n > 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--case", "{tmp}/nope"], "no such case folder"),
        (["--case", "{tmp}"], "not a case folder"),
        (["--case", "{case}", "--from", "yesterday-ish"], "--from: 'yesterday-ish' is not a time"),
        (["--case", "{case}", "--from", "2024-05-09", "--to", "2024-05-08"], "the window is empty"),
        (["--case", "{case}", "--figures", "gif"], "unknown figure format 'gif'"),
    ],
)
def test_cli_expected_problems_exit_2_with_one_line(small_case, tmp_path, capsys, args, message):
    argv = [a.format(tmp=tmp_path, case=small_case.path) for a in args]
    rc = main(["report", *argv, "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.count("\n") == 1 and message in err and "Traceback" not in err
