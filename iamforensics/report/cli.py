"""``iamforensics report --case DIR --out DIR [--from ISO --to ISO]``.

Progress goes to stderr, the report's path to stdout; a folder that is not a case or a
time that does not parse exits 2 with one line (the top-level CLI catches the
:class:`~iamforensics.errors.IamForensicsError`).

Examples
--------
>>> from iamforensics.cli import main
>>> main(["report", "--case", "out/case", "--out", "out/report"])  # doctest: +SKIP
0
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from .build import FORMATS


def register_cli(sub: Any) -> None:
    s = sub.add_parser(
        "report",
        help="write the case report: report.html, figures/, tables/ (CSV, XLSX), timesketch.jsonl",
        description="Write a self-contained HTML report of the case (or of a window of it), every "
        "chart as PNG/SVG/PDF, every table as CSV and XLSX (cells neutralized), and the window's "
        "events as Timesketch JSONL.",
    )
    s.add_argument("--case", required=True, help="case folder")
    s.add_argument(
        "--out", required=True, help="report folder (created; earlier report files are overwritten)"
    )
    s.add_argument(
        "--from",
        dest="start",
        metavar="ISO",
        default=None,
        help="window start, ISO 8601 (UTC unless an offset is given)",
    )
    s.add_argument("--to", dest="end", metavar="ISO", default=None, help="window end, exclusive, ISO 8601")
    s.add_argument(
        "--figures",
        default=",".join(FORMATS),
        help="figure formats to write, comma-separated (default: png,svg,pdf; 'none' for none)",
    )
    s.add_argument("--quiet", action="store_true", help="no progress lines")
    s.set_defaults(func=_cli)


def _cli(args: argparse.Namespace) -> int:
    from .build import build_report, parse_bound

    formats = (
        ()
        if args.figures.strip() == "none"
        else tuple(f.strip() for f in args.figures.split(",") if f.strip())
    )
    t0 = time.perf_counter()

    def say(msg: str) -> None:
        if not args.quiet:
            print(f"[{time.perf_counter() - t0:6.1f}s] {msg}", file=sys.stderr, flush=True)

    start, end = parse_bound(args.start, "--from"), parse_bound(args.end, "--to")
    path = build_report(args.case, args.out, start=start, end=end, formats=formats, progress=say)
    print(path)
    return 0
