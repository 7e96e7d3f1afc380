"""``build_report``: the whole report of a case (or a window of it) in one folder.

Writes ``report.html`` (self-contained: figures inlined, a CSP that forbids scripts and any
fetch), ``figures/`` (PNG 300 dpi, SVG, PDF of every chart), ``tables/`` (one CSV per
table and ``tables.xlsx`` with one sheet per table, cells neutralized) and
``timesketch.jsonl`` (every event of the window).

Examples
--------
>>> build_report("out/case", "out/report", start="2024-05-08")  # doctest: +SKIP
PosixPath('out/report/report.html')
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .. import __version__
from ..case import Case, TimeLike, to_utc
from ..errors import QueryError
from . import sections as sec_activity
from . import sections_leads as sec_leads
from .export import safe_filename, save_figure, write_csv, write_xlsx
from .html import Section, figure_png_b64, render
from .sections import Window
from .style import house_style
from .timesketch import write_timesketch

FORMATS = ("png", "svg", "pdf")
#: Rows of a table kept in the workbook (the CSV has them all): the XLSX writer holds a
#: workbook in memory, and a 10M-event case's sessions table alone has 500k rows.
XLSX_ROWS = 100_000
Progress = Callable[[str], None]
#: The report's sections in page order: (progress label, function of the window).
SECTIONS: tuple[tuple[str, Callable[[Window], Section]], ...] = (
    ("overview", sec_activity.overview),
    ("timeline", sec_activity.timeline),
    ("API calls", sec_activity.api_calls),
    ("MFA", sec_activity.mfa),
    ("source IPs", sec_activity.source_ips),
    ("sessions", sec_leads.sessions),
    ("findings", sec_leads.findings),
    ("IAM changes", sec_leads.iam_changes),
    ("evidence manifest", sec_leads.evidence),
)


def parse_bound(value: TimeLike, what: str) -> pd.Timestamp | None:
    """A window bound as UTC, or :class:`QueryError` naming the option (see :func:`~iamforensics.case.to_utc`).

    Examples
    --------
    >>> parse_bound("2024-05-08", "--from")
    Timestamp('2024-05-08 00:00:00+0000', tz='UTC')
    """
    return to_utc(value, what)


def flat(df: pd.DataFrame) -> pd.DataFrame:
    """Lists (DuckDB LIST columns) as ``a, b`` text, so CSV and XLSX cells are plain values."""
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == object:
            out[col] = out[col].map(
                lambda v: ", ".join(map(str, v)) if isinstance(v, list | tuple | np.ndarray) else v
            )
    return out


def _name(title: str, used: set[str], max_len: int) -> str:
    base = safe_filename(title.lower(), max_len)
    name, i = base, 2
    while name in used:
        name = f"{base[: max_len - 3]}_{i}"
        i += 1
    used.add(name)
    return name


def build_report(
    case: Case | str | Path,
    out: str | Path,
    *,
    start: TimeLike = None,
    end: TimeLike = None,
    formats: Sequence[str] = FORMATS,
    progress: Progress | None = None,
) -> Path:
    """Write the report of ``case`` (a window of it with ``start``/``end``, UTC, end exclusive)
    into the folder ``out``; returns the path of ``out/report.html``.

    Parameters
    ----------
    case : a :class:`~iamforensics.case.Case` or its folder.
    out : the report folder (created; files of an earlier report are overwritten).
    start, end : the window; ISO 8601 strings, dates or timestamps.
    formats : figure formats written to ``figures/`` (png, svg, pdf).
    progress : called with one line per step (the CLI prints them to stderr).

    Examples
    --------
    >>> html = build_report(open_case("out/case"), "out/report")  # doctest: +SKIP
    """
    c = case if isinstance(case, Case) else Case(case)
    s, e = parse_bound(start, "start"), parse_bound(end, "end")
    if s is not None and e is not None and s >= e:
        raise QueryError(f"the window is empty: start {s} is not before end {e}")
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise QueryError(f"unknown figure format {bad[0]!r}; formats are {', '.join(FORMATS)}")
    say = progress or (lambda _msg: None)
    root = Path(out)
    (root / "figures").mkdir(parents=True, exist_ok=True)
    (root / "tables").mkdir(parents=True, exist_ok=True)

    w = Window.of(c, s, e)
    sections: list[Section] = []
    fig_names: set[str] = set()
    table_names: set[str] = set()
    workbook: dict[str, pd.DataFrame] = {}
    # The house style stays on while drawing AND saving: tick labels are created at draw
    # time and take mathtext on/off from the style in force then.
    with house_style():
        for label, make in SECTIONS:
            say(f"{label}: analysing")
            sec = make(w)
            try:
                for title, fig in sec.figures.items():
                    stem = _name(f"{sec.id}-{title}", fig_names, 80)
                    for fmt in formats:
                        save_figure(fig, root / "figures" / f"{stem}.{fmt}")
                    sec.images[title] = figure_png_b64(fig)
            finally:
                # Drawn and saved: close now, so a report holds one section's figures at a time.
                for fig in sec.figures.values():
                    plt.close(fig)
                sec.figures = {}
            for title in list(sec.tables):
                table = flat(sec.tables[title])
                sec.tables[title] = table
                stem = _name(title, table_names, 31)
                write_csv(table, root / "tables" / f"{stem}.csv")
                sec.files[title] = f"{stem}.csv"
                workbook[stem] = table.head(XLSX_ROWS)
            sections.append(sec)
    say("writing report.html")
    meta = {
        "case": c.name,
        "window (UTC)": w.label,
        "events in window": f"{w.events:,}",
        # The findings line up front: what a reader of the first screen most needs.
        "findings": next((sec.text for sec in sections if sec.id == "findings"), ""),
        "generated": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "tool": f"iamforensics {__version__} (case ingested with {c.manifest.get('tool_version', '?')})",
    }
    doc = render(
        f"CloudTrail investigation report: {c.name}",
        meta,
        sections,
        footer=f"Generated by iamforensics {__version__}. Times are UTC. Full tables: tables/ (CSV, XLSX); "
        "figures: figures/ (PNG, SVG, PDF); events: timesketch.jsonl.",
    )
    html_path = root / "report.html"
    html_path.write_text(doc, encoding="utf-8")
    say("writing tables/tables.xlsx")
    write_xlsx(workbook, root / "tables" / "tables.xlsx")
    say("writing timesketch.jsonl")
    n = write_timesketch(c, root / "timesketch.jsonl", s, e)
    say(f"done: {n:,} events, {len(fig_names)} charts, {len(table_names)} tables in {root}")
    return html_path
