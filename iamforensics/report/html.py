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
import html
import io
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
th,td{border:1px solid #ddd;padding:.2rem .45rem;text-align:left;vertical-align:top;max-width:28rem;
overflow-wrap:anywhere}th{background:#eef3f8;white-space:nowrap}tr:nth-child(even) td{background:#fafbfc}
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


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def figure_png_b64(fig: Figure, dpi: int = 110) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def cell_text(value: object) -> object:
    """A cell as page text: lists joined, UTC times without the offset noise."""
    if isinstance(value, list | tuple | np.ndarray):
        return ", ".join(str(v) for v in value)
    if isinstance(value, pd.Timestamp):
        return "" if pd.isna(value) else value.strftime("%Y-%m-%d %H:%M:%S")
    return value


def table_html(
    df: pd.DataFrame,
    max_rows: int = MAX_ROWS,
    max_cell: int = 160,
    columns: list[str] | None = None,
    file: str = "",
) -> str:
    cols = [c for c in (columns or list(df.columns)) if c in df.columns]
    shown = df.head(max_rows)[cols].copy()
    for col in shown.columns:
        s = shown[col]
        if isinstance(s.dtype, pd.DatetimeTZDtype):
            shown[col] = s.dt.tz_convert("UTC").dt.strftime("%Y-%m-%d %H:%M:%S").fillna("")
        elif s.dtype == object:
            shown[col] = s.map(cell_text).map(
                lambda v: v if not isinstance(v, str) or len(v) <= max_cell else v[: max_cell - 1] + "…"
            )
    if df.empty:
        return '<p class="note">none</p>'
    out = shown.to_html(index=False, escape=True, border=0, na_rep="")
    hidden = len(df.columns) - len(cols)
    where = f"tables/{file}" if file else "tables/"
    if len(df) > max_rows:
        out += f'<p class="note">First {max_rows} of {len(df):,} rows; all rows are in {esc(where)}.</p>'
    elif hidden:
        out += f'<p class="note">{len(df):,} rows; {hidden} more columns in {esc(where)}.</p>'
    return out


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
        for name, fig in s.figures.items():
            parts.append(
                f'<figure><img alt="{esc(name)}" src="data:image/png;base64,{figure_png_b64(fig)}">'
                f"<figcaption>{esc(name)}</figcaption></figure>"
            )
        for name, df in s.tables.items():
            parts.append(
                f"<h3>{esc(name)}</h3>"
                + table_html(df, s.max_rows, columns=s.columns.get(name), file=s.files.get(name, ""))
            )
        parts.append("</section>")
    if footer:
        parts.append(f"<footer>{esc(footer)}</footer>")
    parts.append("</body></html>")
    return "\n".join(parts)
