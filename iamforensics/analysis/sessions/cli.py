"""``iamforensics trace``: the session tree below a key, a session or an identity, as text.

Every string printed comes from records (attacker-controlled): control and format characters
(newlines, escapes, bidi overrides) are replaced so a crafted session name cannot rewrite the
terminal or hide part of a line.
"""

from __future__ import annotations

import argparse
import unicodedata
from typing import Any

import pandas as pd

from .build import records

_BAD = {"Cc", "Cf", "Zl", "Zp", "Cs", "Co"}


def clean(value: Any, max_len: int = 200) -> str:
    """Text safe for a terminal: control/format characters become ``?``, long text is cut.

    Examples
    --------
    >>> clean("evil\\x1b[2Jname\\u202e")
    'evil?[2Jname?'
    """
    if value is None or (isinstance(value, float) and value != value) or value is pd.NA:
        return ""
    s = "".join("?" if unicodedata.category(ch) in _BAD else ch for ch in str(value))
    return s if len(s) <= max_len else s[: max_len - 1] + "…"


def _t(v: Any) -> str:
    if v is None or pd.isna(v):
        return "?"
    return pd.Timestamp(v).strftime("%Y-%m-%d %H:%M:%S")


def _line(r: dict[str, Any]) -> str:
    parts = [clean(r["node"]), clean(r["kind"])]
    who = r["principal"]
    if who and who != r["node"]:
        parts.append(clean(who))
    accts = list(r["chain_accounts"] or [])
    if len(accts) > 1:
        parts.append("[" + " -> ".join(clean(a) for a in accts) + "]")
    elif r["account_id"]:
        parts.append(f"[{clean(r['account_id'])}]")
    parts.append(f"{r['events']} events" + (f", {r['errors']} errors" if r["errors"] else ""))
    if r["issued_at"] is not None and not pd.isna(r["issued_at"]):
        parts.append(f"issued {_t(r['issued_at'])}")
    if r["events"]:
        parts.append(f"used {_t(r['first_use'])} .. {_t(r['last_use'])}")
    if r["ip_count"]:
        ips = ", ".join(clean(i, 45) for i in list(r["ips"])[:3])
        more = f" +{r['ip_count'] - 3}" if r["ip_count"] > 3 else ""
        parts.append(f"from {ips}{more}")
    if r["failed_issues"]:
        parts.append(f"{r['failed_issues']} failed issue calls")
    if isinstance(r["link"], str) and r["link"] not in ("exact-key", "self", "origin"):
        parts.append(f"({clean(r['link'])})")
    if r["flags"]:
        parts.append("FLAGS: " + ", ".join(clean(f) for f in r["flags"]))
    return "  ".join(parts)


def format_tree(tree: pd.DataFrame) -> str:
    """Plain-text drawing of a :func:`~iamforensics.analysis.sessions.trace` result.

    Examples
    --------
    >>> print(format_tree(trace(case, access_key_id="AKIAEXAMPLE")))  # doctest: +SKIP
    """
    recs = records(tree)
    if not recs:
        return "(nothing to trace)"
    lines: list[str] = []
    top = recs[0]
    if top["depth"] == 0 and top["kind"] not in ("identity", "long-term-key", "temporary-key"):
        lines.append(f"origin: {clean(top['origin'])} ({clean(top['origin_kind'])})")
    # a node is the last child when no later sibling at its depth follows before a shallower node
    last = []
    for i, r in enumerate(recs):
        d = r["depth"]
        nxt = next((x["depth"] for x in recs[i + 1 :] if x["depth"] <= d), None)
        last.append(nxt is None or nxt < d)
    for i, r in enumerate(recs):
        d = r["depth"]
        prefix = ""
        for level in range(1, d):
            # is the ancestor at this level the last child? then no vertical bar
            anc = next(j for j in range(i, -1, -1) if recs[j]["depth"] == level)
            prefix += "   " if last[anc] else "│  "
        if d >= 1:
            prefix += "└─ " if last[i] else "├─ "
        lines.append(prefix + _line(r))
    return "\n".join(lines)


def _handler(args: argparse.Namespace) -> int:
    from ...case import open_case
    from .trace import trace, trace_events

    case = open_case(args.case)
    sel = {"access_key_id": args.key, "session_id": args.session, "actor": args.actor}
    tree = trace(case, **sel, with_flags=not args.no_flags)
    print(format_tree(tree))
    if args.events:
        ev = trace_events(
            case,
            **sel,
            columns=[
                "event_time",
                "event_name",
                "session_id",
                "attribution",
                "source_ip_address",
                "error_code",
            ],
        )
        print()
        for r in ev.head(args.limit).to_dict("records"):
            print(
                "  ".join(
                    [
                        _t(r["event_time"]),
                        clean(r["event_name"], 60),
                        clean(r["session_id"] or "-", 60),
                        clean(r["attribution"]),
                        clean(r["source_ip_address"], 60),
                        clean(r["error_code"], 60),
                    ]
                ).rstrip()
            )
        if len(ev) > args.limit:
            print(f"... {len(ev) - args.limit} more events (--limit)")
    return 0


def register_cli(sub: Any) -> None:
    """Add ``iamforensics trace`` to the command line."""
    s = sub.add_parser(
        "trace",
        help="the session tree below an access key, a session or an identity",
        description="Sessions descending from a key (AKIA.../ASIA...), a session id or an identity "
        "ARN, with event counts, accounts crossed and flags. Builds (and caches) the case's "
        "sessions on first use.",
    )
    s.add_argument("--case", required=True)
    g = s.add_mutually_exclusive_group(required=True)
    g.add_argument("--key", help="access key id (AKIA... or ASIA...)")
    g.add_argument("--session", help="session id (see case.sessions())")
    g.add_argument("--actor", help="identity ARN (user, role, assumed-role, root) or origin")
    s.add_argument("--events", action="store_true", help="also list the events")
    s.add_argument("--limit", type=int, default=200, help="events to print with --events (default 200)")
    s.add_argument("--no-flags", action="store_true", help="skip the flags (faster)")
    s.set_defaults(func=_handler)
