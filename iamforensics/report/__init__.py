"""Reports and exports for report authors: house style, figures, CSV/XLSX, HTML, Timesketch.

Examples
--------
>>> from iamforensics.report import save_figure, house_style
>>> build_report("out/case", "out/report")  # doctest: +SKIP
"""

from __future__ import annotations

from .build import build_report
from .export import neutralize, safe_filename, save_figure, write_csv, write_xlsx
from .style import caption, house_style, use_house_style

__all__ = [
    "build_report",
    "caption",
    "house_style",
    "neutralize",
    "safe_filename",
    "save_figure",
    "use_house_style",
    "write_csv",
    "write_xlsx",
]
