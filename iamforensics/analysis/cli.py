"""``iamforensics analyze QUESTION --case DIR``: the analyses from the command line.

A thin layer over the same functions the notebooks call. The table printed to the terminal has
every cell cleaned (record text is attacker-controlled: control characters, including ANSI
escapes, become spaces; cells are cut at 80 characters); ``--csv`` writes the full result with
neutralized cells (no spreadsheet formulas).

Examples
--------
    iamforensics analyze timeline --case out/case --access-key AKIA... --start 2024-05-08
    iamforensics analyze denied --case out/case
    iamforensics analyze new --case out/case --since 2024-05-08 --csv new.csv
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from typing import Any

import pandas as pd

from ..errors import IamForensicsError

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def _questions() -> dict[str, tuple[str, Callable[[Any, argparse.Namespace], pd.DataFrame]]]:
    from . import api_calls as ac
    from . import mfa
    from . import source_ips as si
    from . import timeline as tl

    def f(a: argparse.Namespace) -> dict[str, Any]:
        return {"actor": a.actor, "access_key_id": a.access_key, "source_ip": a.source_ip}

    def since(a: argparse.Namespace) -> str:
        if not a.since:
            raise IamForensicsError("this question needs --since (start of the investigation window)")
        return str(a.since)

    return {
        "timeline": ("events in time order", lambda c, a: tl.timeline(c, a.start, a.end, errors_only=a.errors_only, **f(a))),
        "actors": ("per-actor summary", lambda c, a: tl.actor_summary(c, a.start, a.end, **f(a))),
        "changed": ("write events grouped by resource", lambda c, a: tl.what_changed(c, a.start, a.end, **f(a))),
        "marks": ("logging, credential and MFA changes", lambda c, a: tl.marked_events(c, a.start, a.end)),
        "apis": ("calls per --by key", lambda c, a: ac.histogram(c, a.by, top=a.top, start=a.start, end=a.end, **f(a))),
        "denied": ("AccessDenied / Unauthorized bursts", lambda c, a: ac.denied_bursts(c, a.start, a.end)),
        "first-seen": ("APIs new per actor since --since",
                       lambda c, a: ac.first_seen_apis(c, since=since(a), baseline_start=a.start, end=a.end)),
        "rare": ("rarely called APIs", lambda c, a: ac.rare_apis(c, a.start, a.end)),
        "sign-ins": ("console sign-ins with MFA status", lambda c, a: mfa.sign_ins(c, a.start, a.end)),
        "no-mfa": ("sensitive calls without MFA", lambda c, a: mfa.actions_without_mfa(c, a.start, a.end)),
        "mfa-devices": ("MFA device lifecycle", lambda c, a: mfa.mfa_device_changes(c, a.start, a.end)),
        "root": ("everything root did", lambda c, a: mfa.root_activity(c, a.start, a.end)),
        "ips": ("per source address, with country/ASN",
                lambda c, a: si.ip_summary(c, a.start, a.end, actor=a.actor, geo=a.mmdb)),
        "new": ("new IP / country / ASN per actor since --since",
                lambda c, a: si.new_for_actor(c, since=since(a), baseline_start=a.start, end=a.end, geo=a.mmdb)),
        "travel": ("impossible travel", lambda c, a: si.impossible_travel(c, a.start, a.end, actor=a.actor, geo=a.mmdb)),
        "instance-creds": ("where EC2 instance credentials were used",
                           lambda c, a: si.instance_credential_use(c, a.start, a.end)),
    }  # fmt: skip


def _cell(value: Any, width: int = 80) -> str:
    if isinstance(value, list | tuple):
        value = ", ".join(map(str, value))
    if value is None or (isinstance(value, float) and value != value):
        return ""
    s = _CONTROL.sub(" ", str(value))
    return s if len(s) <= width else s[: width - 1] + "…"


def _limit(text: str) -> int:
    """--limit: a row count, 0 meaning all rows (a negative count would cut from the end)."""
    try:
        n = int(text)
    except ValueError:
        n = -1
    if n < 0:
        raise argparse.ArgumentTypeError(f"not a row count: {text!r} (0 prints every row)")
    return n


def terminal_table(df: pd.DataFrame, limit: int = 50) -> str:
    """``df`` as plain text for a terminal, every cell cleaned and cut (first ``limit`` rows)."""
    limit = len(df) if limit == 0 else limit
    shown = df.head(limit).astype(object).map(_cell) if len(df) else df
    shown.columns = [_cell(c) for c in shown.columns]
    text = shown.to_string(index=False) if len(df) else "(no rows)"
    more = f"\n... {len(df) - limit} more rows (use --limit or --csv)" if len(df) > limit else ""
    return text + more


def _run(args: argparse.Namespace) -> int:
    from ..case import open_case
    from ..report.export import write_csv

    label, fn = _questions()[args.question]
    case = open_case(args.case)
    df = fn(case, args)
    if args.csv:
        path = write_csv(df, args.csv)
        print(f"{args.question}: {len(df)} rows written to {path}")
    else:
        print(f"{args.question} ({label}): {len(df)} rows")
        print(terminal_table(df, args.limit))
    return 0


def register_cli(sub: Any) -> None:
    """``iamforensics analyze QUESTION --case DIR [filters] [--csv FILE]``."""
    questions = _questions()
    s = sub.add_parser(
        "analyze",
        help="answer an investigation question (timeline, actors, changed, denied, sign-ins, ips, ...)",
        description="Questions: " + "; ".join(f"{k}: {v[0]}" for k, v in questions.items()),
    )
    s.add_argument("question", choices=sorted(questions))
    s.add_argument("--case", required=True, help="case folder")
    s.add_argument("--start", help="window start, UTC (inclusive)")
    s.add_argument("--end", help="window end, UTC (exclusive)")
    s.add_argument("--since", help="start of the investigation window (first-seen, new)")
    s.add_argument("--actor", action="append", help="actor ARN (repeatable)")
    s.add_argument("--access-key", action="append", help="access key id (repeatable)")
    s.add_argument("--source-ip", action="append", help="sourceIPAddress as written (repeatable)")
    s.add_argument("--errors-only", action="store_true", help="timeline: failed calls only")
    s.add_argument("--by", default="event_name", help="apis: group key (event_name, service, actor, ...)")
    s.add_argument("--top", type=int, default=20, help="apis: keys shown before 'other'")
    s.add_argument("--mmdb", action="append", help="MaxMind City/Country/ASN .mmdb to use (repeatable)")
    s.add_argument("--limit", type=_limit, default=50, help="rows printed (default 50; 0 for all)")
    s.add_argument("--csv", help="write the whole result to this CSV file instead of printing")
    s.set_defaults(func=_run)
