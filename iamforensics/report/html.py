"""A self-contained HTML report: figures inlined, no scripts, no fonts, no network.

Every string goes through :func:`html.escape` (tables via ``DataFrame.to_html(escape=True)``),
and a Content-Security-Policy forbids scripts and any fetch, so even a missed escape could
not run attacker code or leak the report's contents.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field

import pandas as pd
from matplotlib.figure import Figure

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"

CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:2rem auto;max-width:1200px;
color:#222;padding:0 1rem}
h1{border-bottom:3px solid #0072B2}h2{border-bottom:1px solid #ccc;margin-top:2.5rem}
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0 1rem;display:block;overflow-x:auto}
th,td{border:1px solid #ddd;padding:.25rem .5rem;text-align:left;vertical-align:top;max-width:40rem;
overflow-wrap:anywhere}th{background:#f3f6f9}img{max-width:100%;height:auto}
.note{color:#555;font-size:.9rem}.meta td:first-child{font-weight:bold}nav a{margin-right:1rem}
"""


@dataclass
class Section:
    """One report section: prose, tables and figures (already computed)."""

    id: str
    title: str
    text: str = ""
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    figures: dict[str, Figure] = field(default_factory=dict)
    note: str = ""


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def figure_png_b64(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def table_html(df: pd.DataFrame, max_rows: int = 200, max_cell: int = 300) -> str:
    shown = df.head(max_rows).copy()
    for col in shown.columns:
        if shown[col].dtype == object:
            shown[col] = shown[col].map(
                lambda v: v if not isinstance(v, str) or len(v) <= max_cell else v[: max_cell - 1] + "…"
            )
    out = shown.to_html(index=False, escape=True, border=0, na_rep="")
    if len(df) > max_rows:
        out += f'<p class="note">first {max_rows} of {len(df):,} rows; all rows are in tables/.</p>'
    return out


def render(title: str, meta: dict[str, str], sections: list[Section]) -> str:
    """The whole document as one string."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="referrer" content="no-referrer">',
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
        '<table class="meta">'
        + "".join(f"<tr><td>{esc(k)}</td><td>{esc(v)}</td></tr>" for k, v in meta.items())
        + "</table>",
        "<nav>" + "".join(f'<a href="#{esc(s.id)}">{esc(s.title)}</a>' for s in sections) + "</nav>",
    ]
    for s in sections:
        parts.append(f'<section id="{esc(s.id)}"><h2>{esc(s.title)}</h2>')
        if s.text:
            parts.append(f"<p>{esc(s.text)}</p>")
        if s.note:
            parts.append(f'<p class="note">{esc(s.note)}</p>')
        for name, fig in s.figures.items():
            parts.append(
                f'<figure><img alt="{esc(name)}" src="data:image/png;base64,{figure_png_b64(fig)}">'
                f'<figcaption class="note">{esc(name)}</figcaption></figure>'
            )
        for name, df in s.tables.items():
            parts.append(f"<h3>{esc(name)}</h3>{table_html(df)}")
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts)
