"""Exports a client can open without risk: figures, CSV/XLSX with neutralized cells, safe names.

Every string from CloudTrail is attacker-controlled. A cell starting with ``=``, ``+``,
``-``, ``@``, a tab or a carriage return is read as a formula by spreadsheet programs
(OWASP "CSV injection"); it is prefixed with ``'`` so it stays text. File names derived
from data are reduced to a safe character set.

Examples
--------
>>> neutralize("=HYPERLINK(\\"http://x\\")")
'\\'=HYPERLINK("http://x")'
>>> safe_filename("../../etc/passwd")
'etc_passwd'
"""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..errors import IamForensicsError

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "|", "%")
#: Excel's cell limit; longer strings are cut so the workbook stays valid.
XLSX_MAX = 32767


def neutralize(value: Any) -> Any:
    """Make one cell value safe for CSV/XLSX (strings only; numbers pass through)."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def neutralize_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` with every string cell (and column name) neutralized."""
    out = df.copy()
    out.columns = [neutralize(str(c)) for c in out.columns]
    for col in out.columns:
        s = out[col]
        if s.dtype == object or pd.api.types.is_string_dtype(s):
            out[col] = s.map(neutralize)
    return out


def safe_filename(name: str, max_len: int = 80) -> str:
    """A file name made from data: letters, digits, ``-``, ``_``, ``.`` only, no leading dots."""
    s = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")
    s = re.sub(r"_+", "_", s)[:max_len].strip("._")
    return s or "unnamed"


def save_figure(fig_or_ax: Figure | Axes, path: str | Path) -> Path:
    """Save a chart by extension: .png (300 dpi), .svg or .pdf.

    Examples
    --------
    >>> save_figure(ax, "out/figures/timeline.png")  # doctest: +SKIP
    """
    p = Path(path)
    fmt = p.suffix.lower().lstrip(".")
    if fmt not in ("png", "svg", "pdf"):
        raise IamForensicsError(f"{p}: figures are saved as .png, .svg or .pdf")
    fig = fig_or_ax.get_figure(root=True) if isinstance(fig_or_ax, Axes) else fig_or_ax
    if fig is None:
        raise IamForensicsError("the axes belong to no figure")
    p.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(
        p,
        format=fmt,
        dpi=300 if fmt == "png" else None,
        bbox_inches="tight",
        metadata={"Creator": "iamforensics"} if fmt != "png" else None,
    )
    return p


def write_csv(df: pd.DataFrame, path: str | Path) -> Path:
    """CSV with neutralized cells (UTF-8 with BOM so spreadsheet programs pick the encoding)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    # QUOTE_ALL: pandas leaves a lone carriage return unquoted under QUOTE_MINIMAL, which
    # splits the row and can start a new line with "=..." (formula injection).
    neutralize_frame(_plain_types(df)).to_csv(p, index=False, encoding="utf-8-sig", quoting=csv.QUOTE_ALL)
    return p


def _plain_types(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    for col in out.columns:
        s = out[col]
        if isinstance(s.dtype, pd.DatetimeTZDtype):
            out[col] = s.dt.tz_convert("UTC").dt.strftime("%Y-%m-%d %H:%M:%S UTC")
        elif s.dtype == object:
            out[col] = s.map(lambda v: ", ".join(map(str, v)) if isinstance(v, list | tuple) else v)
    return out


def write_xlsx(tables: Mapping[str, pd.DataFrame], path: str | Path) -> Path:
    """One workbook, one sheet per table, every string cell neutralized and written as text."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    used: set[str] = set()
    with pd.ExcelWriter(
        p,
        engine="xlsxwriter",
        engine_kwargs={"options": {"strings_to_formulas": False, "strings_to_urls": False}},
    ) as xw:
        for name, df in tables.items():
            sheet = safe_filename(name, 31) or "sheet"
            while sheet in used:
                sheet = (sheet[:28] + f"_{len(used)}")[:31]
            used.add(sheet)
            clean = neutralize_frame(_plain_types(df))
            for col in clean.columns:
                if clean[col].dtype == object:
                    clean[col] = clean[col].map(lambda v: v[:XLSX_MAX] if isinstance(v, str) else v)
            clean.to_excel(xw, sheet_name=sheet, index=False)
    return p
