"""The report with attacker-controlled strings in every field a caller can write: HTML
escaped (no element or attribute from data), CSV/XLSX cells neutralized, charts drawn with
the text as written (no mathtext), file names from data sanitized."""

from __future__ import annotations

import contextlib
import csv
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import matplotlib.pyplot as plt
import openpyxl
import pytest
from matplotlib.text import Text

import iamforensics as ifx
from iamforensics.report import build_report
from iamforensics.report.build import SECTIONS
from iamforensics.report.html import Section, render
from iamforensics.report.sections import Window
from iamforensics.report.style import caption, house_style, plain

ACCT = "012345678901"
KB = "K" * 1024
EVIL = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    '=HYPERLINK("http://x","y")',
    "+cmd|' /C calc'!A0",
    "@SUM(1+1)",
    "-2+3",
    "\tTAB=1+1",
    "\rCR=1+1",
    "$x^2$",
    KB,
]
FORMULA = tuple("=+-@\t\r")
# The elements and attributes the report itself writes; anything else came from data.
TAGS = {
    "html", "head", "meta", "title", "style", "body", "header", "h1", "h2", "h3", "table", "thead",
    "tbody", "tr", "th", "td", "nav", "a", "section", "p", "figure", "img", "figcaption", "div",
    "footer", "wbr",
}  # fmt: skip
ATTRS = {"lang", "charset", "http-equiv", "content", "name", "href", "id", "class", "alt", "src"}
CASE_NAME = "case $x^2$ <b>=1"


def _ident(s: str, i: int) -> dict:
    return {
        "type": "IAMUser",
        "principalId": f"AIDAEVIL{i:012d}",
        "arn": f"arn:aws:iam::{ACCT}:user/{s}",
        "accountId": ACCT,
        "accessKeyId": f"AKIAEVIL{i:012d}",
        "userName": s,
    }


def evil_records() -> list[dict]:
    """Per string: an AssumeRole whose session carries it, the session's call under that name,
    a console sign-in, a CreateUser and a StopLogging (findings quote their fields)."""
    out = []
    for i, s in enumerate(EVIL):
        t = f"2024-05-06T10:{i:02d}"
        key = f"ASIAEVIL{i:012d}"
        role = f"arn:aws:iam::{ACCT}:role/evil-role"
        base = {"eventVersion": "1.08", "awsRegion": "us-east-1", "recipientAccountId": ACCT, "userAgent": s}
        out.append(
            {
                **base,
                "eventTime": f"{t}:00Z",
                "eventID": f"11111111-2222-4333-8444-{i:012d}",
                "eventSource": "sts.amazonaws.com",
                "eventName": "AssumeRole",
                "eventType": "AwsApiCall",
                "sourceIPAddress": "198.51.100.9",
                "userIdentity": _ident(s, i),
                "requestParameters": {"roleArn": role, "roleSessionName": s, "note": s},
                "responseElements": {
                    "credentials": {
                        "accessKeyId": key,
                        "expiration": "May 6, 2024, 11:59:00 PM",
                        "sessionToken": "x",
                    },
                    "assumedRoleUser": {
                        "arn": f"arn:aws:sts::{ACCT}:assumed-role/evil-role/{s}",
                        "assumedRoleId": f"AROAEVIL:{s}",
                    },
                },
            }
        )
        out.append(
            {
                **base,
                "eventTime": f"{t}:10Z",
                "eventID": f"21111111-2222-4333-8444-{i:012d}",
                "eventSource": "ec2.amazonaws.com",
                "eventName": "Describe" + re.sub(r"\s", "", s)[:40] if i % 2 else s,
                "eventType": "AwsApiCall",
                # Not an address: what services write there, made hostile.
                "sourceIPAddress": s if i % 2 == 0 else f"{s}.amazonaws.com",
                "errorCode": "AccessDenied",
                "errorMessage": s,
                "userIdentity": {
                    "type": "AssumedRole",
                    "principalId": f"AROAEVIL:{s}",
                    "arn": f"arn:aws:sts::{ACCT}:assumed-role/evil-role/{s}",
                    "accountId": ACCT,
                    "accessKeyId": key,
                    "sessionContext": {
                        "sessionIssuer": {
                            "type": "Role",
                            "principalId": "AROAEVIL",
                            "arn": role,
                            "accountId": ACCT,
                            "userName": "evil-role",
                        },
                        "attributes": {"creationDate": f"{t}:00Z", "mfaAuthenticated": "false"},
                    },
                },
                "requestParameters": {"filter": s},
            }
        )
        out.append(
            {
                **base,
                "eventTime": f"{t}:20Z",
                "eventID": f"31111111-2222-4333-8444-{i:012d}",
                "eventSource": "signin.amazonaws.com",
                "eventName": "ConsoleLogin",
                "eventType": "AwsConsoleSignIn",
                "sourceIPAddress": "203.0.113.7",
                "userIdentity": _ident(s, i),
                "responseElements": {"ConsoleLogin": "Success"},
                "additionalEventData": {"MFAUsed": "No", "LoginTo": s},
            }
        )
        out.append(
            {
                **base,
                "eventTime": f"{t}:30Z",
                "eventID": f"41111111-2222-4333-8444-{i:012d}",
                "eventSource": "iam.amazonaws.com" if i % 2 else "cloudtrail.amazonaws.com",
                "eventName": "CreateUser" if i % 2 else "StopLogging",
                "eventType": "AwsApiCall",
                "sourceIPAddress": "203.0.113.7",
                "userIdentity": _ident(s, i),
                "requestParameters": {"userName": s} if i % 2 else {"name": s},
            }
        )
    return out


@pytest.fixture(scope="module")
def evil_case(tmp_path_factory) -> ifx.Case:
    d = tmp_path_factory.mktemp("evil")
    (d / "ev.json").write_text(json.dumps({"Records": evil_records()}))
    ifx.ingest([str(d / "ev.json")], d / CASE_NAME, jobs=1)
    case = ifx.open_case(d / CASE_NAME)
    assert len(case) == 4 * len(EVIL)
    return case


@pytest.fixture(scope="module")
def report(evil_case) -> Path:
    out = evil_case.path.parent / "out"
    build_report(evil_case, out, formats=("png", "svg"))
    return out


class Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.cells: list[str] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.cells.append("".join(self._cell))
            self._cell = None

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)


def test_html_has_no_element_or_attribute_from_data(report):
    raw = (report / "report.html").read_text(encoding="utf-8")
    assert "<script" not in raw.lower()
    p = Collect()
    p.feed(raw)
    assert {t for t, _ in p.tags} <= TAGS
    assert {a for _, attrs in p.tags for a in attrs} <= ATTRS
    for tag, attrs in p.tags:
        if tag == "img":
            assert set(attrs) == {"alt", "src"} and str(attrs["src"]).startswith("data:image/png;base64,")
        if tag == "a":
            assert str(attrs["href"]).startswith("#")


def test_html_shows_the_hostile_strings_as_text(report):
    p = Collect()
    p.feed((report / "report.html").read_text(encoding="utf-8"))
    cells = "\n".join(p.cells)
    for s in (
        "<script>alert(1)</script>",
        '"><img src=x onerror=alert(1)>',
        '=HYPERLINK("http://x","y")',
        "$x^2$",
    ):
        assert s in cells, s
    # Long values are cut in the page (whole in the tables), 160 characters at most.
    assert max(len(c) for c in p.cells) <= 160
    assert any(c.startswith("K" * 100) and c.endswith("…") for c in p.cells)
    assert CASE_NAME in "".join(p.text)


def _is_number(s: str) -> bool:
    try:
        float(s.replace(",", ""))
    except ValueError:
        return False
    return True


def test_csv_cells_neutralized(report):
    seen = ""
    for path in sorted((report / "tables").glob("*.csv")):
        with open(path, encoding="utf-8-sig", newline="") as fh:
            for row in csv.reader(fh):
                for cell in row:
                    assert not (cell.startswith(FORMULA) and not _is_number(cell)), (path.name, cell[:40])
                    seen += cell + "\n"
    for s in EVIL[2:8]:
        assert "'" + s in seen, s
    assert KB in seen  # whole in the CSV


def test_xlsx_cells_are_neutralized_text(report):
    wb = openpyxl.load_workbook(report / "tables" / "tables.xlsx")
    seen = set()
    for ws in wb.worksheets:
        assert len(ws.title) <= 31 and re.fullmatch(r"[a-z0-9._-]+", ws.title)
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f"
                if isinstance(cell.value, str):
                    assert not cell.value.startswith(FORMULA), (ws.title, cell.value[:40])
                    seen.add(cell.value)
    assert "'" + EVIL[2] in seen and "'" + EVIL[6] in seen


def test_charts_rendered_with_text_as_written(report):
    pngs = sorted((report / "figures").glob("*.png"))
    svgs = sorted((report / "figures").glob("*.svg"))
    assert len(pngs) == len(svgs) >= 13
    assert all(p.stat().st_size > 1_000 for p in pngs + svgs)  # "no data" charts are small
    svg = "".join(p.read_text(encoding="utf-8") for p in svgs)
    # svg.fonttype none keeps text as text: the actor's '$x^2$' is drawn as written, and
    # no '\$' escape shows (mathtext is off under the house style, so nothing is escaped).
    assert "$x^2$" in svg
    assert "\\$" not in svg
    assert "<script" not in svg and "&lt;script&gt;" in svg


def test_file_names_are_safe(report):
    files = [p for p in report.rglob("*") if p.is_file()]
    assert {p.parent.name for p in files} == {"out", "figures", "tables"}
    for p in files:
        assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", p.name), p.name


def test_timesketch_lines_hold_the_strings_as_data(report):
    lines = [json.loads(x) for x in (report / "timesketch.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 4 * len(EVIL)
    for line in lines:
        assert isinstance(line["message"], str) and isinstance(line["datetime"], str)
        assert isinstance(line["timestamp_desc"], str) and isinstance(line["timestamp"], int)
    assert any(line.get("user_agent") == EVIL[0] for line in lines)


@pytest.mark.parametrize("house", [True, False])
def test_plain_labels_draw_dollar_text_as_written(house):
    """Under the house style (mathtext off) and without it (mathtext on), a label from data
    is drawn as written: not parsed as math, no visible backslash."""
    with house_style() if house else contextlib.nullcontext():
        fig, ax = plt.subplots()
        ax.set_title(plain("$x^2$"))
        ax.set_yticks([0], [plain("$x^2$")])
        ax.set_xlabel(plain("cost $5 and $6"))
        caption(fig, "$x^2$", "$y$")
        fig.canvas.draw()
        texts = [ax.title, *ax.get_yticklabels(), ax.xaxis.label, *fig.texts]
        drawn = [t._preprocess_math(t.get_text()) for t in texts]
    plt.close(fig)
    assert drawn[0] == ("$x^2$", False)
    assert drawn[1] == ("$x^2$", False)
    assert drawn[2] == ("cost $5 and $6", False)
    assert drawn[3] == ("case: $x^2$  |  window: $y$ (UTC)", False)


def test_render_escapes_titles_notes_and_names():
    doc = render(
        "<script>x</script>",
        {"<k>": '"><img src=x onerror=alert(1)>'},
        [
            Section(
                'a"b',
                "<h2>",
                text="<b>",
                note="<i>",
                tables={"<t>": __import__("pandas").DataFrame({"<c>": ["<v>"]})},
            )
        ],
        footer="<f>",
    )
    p = Collect()
    p.feed(doc)
    assert {t for t, _ in p.tags} <= TAGS
    assert {a for _, attrs in p.tags for a in attrs} <= ATTRS
    assert "<script>x</script>" in "".join(p.text)


def test_no_chart_text_is_mathtext_or_escaped(evil_case):
    """Every text of every report chart, drawn: not mathtext, no visible backslash escape."""
    drawn: list[str] = []
    w = Window.of(evil_case, None, None)
    with house_style():
        for _, make in SECTIONS:
            for fig in make(w).figures.values():
                fig.canvas.draw()
                for t in fig.findobj(Text):
                    text, ismath = t._preprocess_math(t.get_text())
                    assert ismath is False and "\\$" not in text, text
                    drawn.append(text)
                plt.close(fig)
    assert any("$x^2$" in t for t in drawn)
    assert any("<script>" in t for t in drawn)
