"""A self-contained HTML report: figures inlined, no scripts, no fonts, no network.

Every string goes through :func:`html.escape` (tables via ``DataFrame.to_html(escape=True)``),
and a Content-Security-Policy forbids scripts and any fetch, so even a missed escape could
not run attacker code or leak the report's contents.

Examples
--------
>>> doc = render("Case x", {"events": "3"}, [Section("overview", "Overview", text="<b>")])
>>> "&lt;b&gt;" in doc and "<b>" not in doc
True
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"

# System fonts only: a web font would be a network request (or a large inlined blob).
CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;margin:2rem auto;
max-width:1100px;color:#222;padding:0 1.5rem;line-height:1.45}
h1{border-bottom:3px solid #0072B2;padding-bottom:.3rem;margin-bottom:.5rem}
h2{border-bottom:1px solid #ccc;margin-top:3rem;padding-bottom:.2rem;color:#0b3d62}
h3{margin:1.6rem 0 .3rem;font-size:1.02rem}
table{border-collapse:collapse;font-size:.8rem;margin:.4rem 0 .3rem;display:block;overflow-x:auto;max-width:100%}
th,td{border:1px solid #ddd;padding:.2rem .45rem;text-align:left;vertical-align:top;max-width:30rem;
overflow-wrap:break-word}th{background:#eef3f8;white-space:nowrap}tr:nth-child(even) td{background:#fafbfc}
td.n{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}td.t{white-space:nowrap}
.row{display:flex;flex-wrap:wrap;gap:0 2.5rem;align-items:flex-start}
figure{margin:1.2rem 0;text-align:center}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.85rem;color:#555;margin-top:.2rem}
.note{color:#555;font-size:.85rem;margin:.1rem 0 .8rem}.lead{font-size:1rem}
.meta{font-size:.9rem}.meta td:first-child{font-weight:600;background:#f6f8fa;white-space:nowrap}
nav{margin:1rem 0 1.5rem;padding:.5rem .8rem;background:#f6f8fa;border-radius:4px}
nav a{margin-right:1.1rem;color:#0b5394;text-decoration:none;white-space:nowrap}
footer{margin-top:3rem;border-top:1px solid #ccc;padding-top:.5rem;font-size:.8rem;color:#666}
"""

#: Rows of a table shown in the page; every row is in the CSV/XLSX exports.
MAX_ROWS = 15


@dataclass
class Section:
    """One report section: prose, tables and figures (already computed).

    ``columns`` names the columns shown in the page for a table (all of them are exported);
    ``files`` names the exported file of a table, quoted in the "first N of M rows" note.
    """

    id: str
    title: str
    text: str = ""
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    figures: dict[str, Figure] = field(default_factory=dict)
    note: str = ""
    columns: dict[str, list[str]] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    max_rows: int = MAX_ROWS
    #: Charts already rendered (title -> base64 PNG), so their figures can be closed early.
    images: dict[str, str] = field(default_factory=dict)


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def figure_png_b64(fig: Figure, dpi: int = 110) -> str:
    buf = io.BytesIO()
    # Constrained layout already fits the figure; no tight bbox means one draw, not two.
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches=None)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def cell_text(value: object, max_cell: int = 160) -> str:
    """A cell as page text: lists joined, UTC times without the offset noise, missing as empty."""
    if isinstance(value, list | tuple | np.ndarray):
        value = ", ".join(str(v) for v in value)
    elif value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and np.isnan(value)):
        return ""
    elif isinstance(value, pd.Timestamp | dt.datetime):
        value = value.strftime("%Y-%m-%d %H:%M:%S")
    elif isinstance(value, float):
        value = f"{value:,.3f}".rstrip("0").rstrip(".")
    elif isinstance(value, int | np.integer) and not isinstance(value, bool):
        value = f"{value:,}" if abs(int(value)) < 10**12 else str(value)
    text = str(value)
    return text if len(text) <= max_cell else text[: max_cell - 1] + "…"


# Break opportunities after separators, so long ARNs and paths wrap at a '/' or ':' rather
# than mid-word, while numbers and short words never wrap.
_BREAK_AFTER = re.compile(r"([/:_.,@=])")


def cell_html(value: object, max_cell: int = 160) -> str:
    """One cell, escaped first; only ``<wbr>`` (our own markup) is added afterwards."""
    return _BREAK_AFTER.sub(r"\1<wbr>", esc(cell_text(value, max_cell)))


def table_html(
    df: pd.DataFrame,
    max_rows: int = MAX_ROWS,
    max_cell: int = 160,
    columns: list[str] | None = None,
    file: str = "",
) -> str:
    """The first ``max_rows`` rows of ``df`` (``columns`` only), with a note of the total."""
    if df.empty:
        return '<p class="note">None.</p>'
    cols = [c for c in (columns or list(df.columns)) if c in df.columns]
    shown = df.head(max_rows)
    numeric = {
        c
        for c in cols
        if pd.api.types.is_numeric_dtype(shown[c]) and not pd.api.types.is_bool_dtype(shown[c])
    }
    times = {c for c in cols if pd.api.types.is_datetime64_any_dtype(shown[c])}
    head = "".join(f"<th>{esc(c)}</th>" for c in cols)
    rows = []
    for rec in shown[cols].itertuples(index=False, name=None):
        cells = (
            f'<td class="n">{esc(cell_text(v, max_cell))}</td>'
            if c in numeric
            else f'<td class="t">{esc(cell_text(v, max_cell))}</td>'
            if c in times
            else f"<td>{cell_html(v, max_cell)}</td>"
            for c, v in zip(cols, rec, strict=True)
        )
        rows.append("<tr>" + "".join(cells) + "</tr>")
    out = f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    hidden = len(df.columns) - len(cols)
    where = f"tables/{file}" if file else "tables/"
    more = f"; {hidden} more columns" if hidden else ""
    if len(df) > max_rows:
        out += (
            f'<p class="note">First {max_rows} of {len(df):,} rows{more}; all of it is in {esc(where)}.</p>'
        )
    else:
        out += (
            f'<p class="note">{len(df):,} row{"s" if len(df) != 1 else ""}{more}; also in {esc(where)}.</p>'
        )
    return out


def _is_small(df: pd.DataFrame, columns: list[str] | None) -> bool:
    return len(columns or df.columns) <= 3 and len(df) <= MAX_ROWS


def render(title: str, meta: dict[str, str], sections: list[Section], footer: str = "") -> str:
    """The whole document as one string."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="referrer" content="no-referrer">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>",
        f"<header><h1>{esc(title)}</h1>",
        '<table class="meta">'
        + "".join(f"<tr><td>{esc(k)}</td><td>{esc(v)}</td></tr>" for k, v in meta.items())
        + "</table></header>",
        "<nav>" + "".join(f'<a href="#{esc(s.id)}">{esc(s.title)}</a>' for s in sections) + "</nav>",
    ]
    for s in sections:
        parts.append(f'<section id="{esc(s.id)}"><h2>{esc(s.title)}</h2>')
        if s.text:
            parts.append(f'<p class="lead">{esc(s.text)}</p>')
        if s.note:
            parts.append(f'<p class="note">{esc(s.note)}</p>')
        images = {**{name: figure_png_b64(fig) for name, fig in s.figures.items()}, **s.images}
        for name, b64 in images.items():
            parts.append(
                f'<figure><img alt="{esc(name)}" src="data:image/png;base64,{b64}">'
                f"<figcaption>{esc(name)}</figcaption></figure>"
            )
        row: list[str] = []  # small tables (a few columns) sit side by side
        for name, df in s.tables.items():
            block = f"<h3>{esc(name)}</h3>" + table_html(
                df, s.max_rows, columns=s.columns.get(name), file=s.files.get(name, "")
            )
            if _is_small(df, s.columns.get(name)):
                row.append(f"<div>{block}</div>")
                continue
            if row:
                parts.append('<div class="row">' + "".join(row) + "</div>")
                row = []
            parts.append(block)
        if row:
            parts.append('<div class="row">' + "".join(row) + "</div>")
        parts.append("</section>")
    if footer:
        parts.append(f"<footer>{esc(footer)}</footer>")
    parts.append("</body></html>")
    return "\n".join(parts)
