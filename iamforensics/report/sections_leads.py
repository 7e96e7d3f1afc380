"""The report's sections on leads and provenance: STS sessions, findings, evidence manifest.

Same contract as :mod:`.sections`: a function of the :class:`~.sections.Window` returning a
:class:`~.html.Section`, drawn under the house style held open by the caller.

Examples
--------
>>> findings(Window.of(open_case("out/case"), None, None)).tables["Findings"]  # doctest: +SKIP
"""

from __future__ import annotations

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.patches import Patch

from .html import Section
from .sections import Window, chart
from .style import PALETTE, plain

#: Origins that are people (or their identity provider), as opposed to services and unknowns.
HUMAN_ORIGINS = ("iam-user", "root", "identity-center-user", "idp-saml", "idp-web-identity")


def chart_sessions(s: pd.DataFrame, limit: int = 30) -> pd.DataFrame:
    """The sessions worth drawing: medium-or-worse flags first, then those people started.

    Service sessions are many and routine, and a vendor's scanner can hold dozens of
    low-flagged sessions; both would crowd out the few that matter.
    """
    if s.empty or "_rank" not in s.columns:
        return s.head(limit)
    serious = s["_rank"] <= RANK["medium"]
    human = s["origin_kind"].isin(HUMAN_ORIGINS) if "origin_kind" in s.columns else ~serious
    picked = pd.concat([s[serious], s[~serious & human]]).head(limit)
    return picked if not picked.empty else s.head(limit)


def sessions(w: Window) -> Section:
    from ..analysis import sessions as st
    from ..plots.sessions import session_timeline

    s = w.case.sessions()
    if not s.empty and (w.start is not None or w.end is not None):
        begin = s["issued_at"].fillna(s["first_use"])
        finish = s["last_use"].fillna(begin)
        keep = pd.Series(True, index=s.index)
        if w.start is not None:
            keep &= finish >= w.start
        if w.end is not None:
            keep &= begin < w.end
        s = s[keep]
    flags = st.flags(w.case, sessions=list(s["session_id"])) if not s.empty else pd.DataFrame()
    s = s.copy()
    s["flags"] = ""
    s["_rank"] = len(RANK)
    if not flags.empty:
        flags = flags.assign(_rank=flags["severity"].map(RANK).fillna(len(RANK)))
        flags = flags.sort_values(["_rank", "time"], kind="stable").reset_index(drop=True)
        per = flags.groupby("session_id").agg(
            names=("flag", lambda v: ", ".join(sorted(set(v)))), rank=("_rank", "min")
        )
        s["flags"] = s["session_id"].map(per["names"]).fillna("")
        s["_rank"] = s["session_id"].map(per["rank"]).fillna(len(RANK))
        flags = flags.drop(columns="_rank")
    # Flagged sessions first (worst flag first), then in issue order.
    s = s.sort_values(["_rank", "issued_at"], kind="stable").reset_index(drop=True)
    drawn = chart_sessions(s).drop(columns="_rank")
    s = s.drop(columns="_rank")
    ev = (
        st.attribute(
            w.case, **w.bounds, session_id=list(drawn["session_id"]), columns=["event_time", "error_code"]
        )
        if not drawn.empty
        else None
    )
    figs = {
        "Sessions with medium or worse flags, then sessions of people (up to 30)": chart(
            w,
            lambda ax: session_timeline(drawn, ev, ax=ax, max_sessions=30),
            (11, 1.6 + 0.34 * max(1, len(drawn))),
        )
    }
    return Section(
        "sessions",
        "STS sessions",
        text=f"{len(s):,} sessions active in the window, {len(flags):,} flags raised on them.",
        tables={"Session flags": flags, "Sessions": s},
        figures=figs,
        columns={
            "Session flags": ["severity", "flag", "time", "session_id", "principal", "detail"],
            "Sessions": [
                "session_id",
                "kind",
                "principal_arn",
                "origin",
                "chain_depth",
                "issued_at",
                "last_use",
                "events",
                "flags",
            ],
        },
    )


#: Severities, worst first (findings and session flags share them).
RANK = {k: i for i, k in enumerate(("critical", "high", "medium", "low", "informational"))}
SEVERITY_COLOURS = {"critical": PALETTE[3], "high": PALETTE[1], "medium": PALETTE[4], "low": PALETTE[5]}


def _findings_chart(f: pd.DataFrame, ax: Axes) -> Axes:
    ax.set_title("Findings per rule")
    if f.empty:
        ax.text(0.5, 0.5, "no findings", ha="center", va="center", transform=ax.transAxes, color="0.4")
        ax.set_xticks([])
        ax.set_yticks([])
        return ax
    per = f.groupby(["rule", "severity"], as_index=False).size()
    # Worst severity on top, then most findings: the reader starts at the top.
    per = per.assign(_r=per["severity"].map(RANK).fillna(len(RANK)))
    per = per.sort_values(["_r", "size"], ascending=[True, False], kind="stable").head(25).iloc[::-1]
    y = range(len(per))
    ax.barh(y, per["size"], color=[SEVERITY_COLOURS.get(s, PALETTE[7]) for s in per["severity"]])
    ax.set_yticks(list(y), [plain(r, 50) for r in per["rule"]])
    ax.set_xlabel("findings")
    handles = [
        Patch(color=c, label=sev) for sev, c in SEVERITY_COLOURS.items() if (per["severity"] == sev).any()
    ]
    ax.legend(handles=handles, loc="lower right")
    return ax


def findings(w: Window) -> Section:
    from ..detections.findings import PARQUET_NAME
    from ..detections.findings import findings as run_findings

    stored = w.case.path / PARQUET_NAME
    finished = max((r.get("finished") or "" for r in w.case.manifest.get("runs", [])), default="")
    fresh = stored.is_file() and pd.Timestamp(stored.stat().st_mtime, unit="s", tz="UTC") >= pd.Timestamp(
        finished or 0, tz="UTC"
    )
    if fresh:
        f = pd.read_parquet(stored)
        how = "Findings written by 'iamforensics hunt' (built-in rules and any Sigma rules it ran)."
    else:
        f = run_findings(w.case)
        how = "Findings of the built-in rules, run over the whole case for this report."
    if not f.empty:
        t = pd.to_datetime(f["time"], utc=True)
        last = pd.to_datetime(f["last_time"], utc=True).fillna(t)
        keep = pd.Series(True, index=f.index)
        if w.start is not None:
            keep &= last >= w.start
        if w.end is not None:
            keep &= t < w.end
        f = f[keep].reset_index(drop=True)
    if not f.empty:
        order = f["severity"].map(RANK).fillna(len(RANK))
        f = f.assign(_rank=order).sort_values(["_rank", "time"], kind="stable").drop(columns="_rank")
        f = f.reset_index(drop=True)
    counts = f["severity"].value_counts().to_dict() if not f.empty else {}
    text = (
        f"{len(f):,} findings: "
        + ", ".join(f"{counts[s]} {s}" for s in SEVERITY_COLOURS if s in counts)
        + "."
        if len(f)
        else "No findings in this window."
    )
    return Section(
        "findings",
        "Findings",
        text=text,
        note=how + " Findings are leads to check, not verdicts.",
        tables={"Findings": f},
        figures={
            "Findings per rule, coloured by severity": chart(
                w,
                lambda ax: _findings_chart(f, ax),
                (10, 1.6 + 0.3 * min(25, max(1, f["rule"].nunique() if len(f) else 1))),
            )
        },
        columns={"Findings": ["time", "severity", "title", "actor", "origin", "count", "summary"]},
    )


def iam_changes(w: Window) -> Section:
    from ..iam import privilege_ledger

    ledger = privilege_ledger(w.case, **w.bounds)
    n_ok = int((ledger["outcome"] == "succeeded").sum()) if not ledger.empty else 0
    return Section(
        "iam-changes",
        "IAM changes",
        text=f"{len(ledger):,} changes to identities, credentials, MFA, permissions and trust "
        f"({n_ok:,} succeeded), from CloudTrail alone.",
        note="admin_level is read from the policy document or managed policy granted; the "
        "subject's own level needs an IAM snapshot: iamforensics.iam.privilege_ledger(case, details=...).",
        tables={"Privilege changes": ledger},
        columns={
            "Privilege changes": [
                "event_time",
                "event_name",
                "effect",
                "subject",
                "granted",
                "admin_level",
                "actor",
                "origin",
                "outcome",
            ]
        },
    )


def evidence(w: Window) -> Section:
    m = w.case.manifest
    runs = m.get("runs", [])
    sources = pd.DataFrame(
        [
            {
                "run_id": r.get("run_id"),
                "source": s.get("source"),
                "size": s.get("size"),
                "sha256": s.get("sha256"),
                "format": s.get("format"),
                "records": s.get("records"),
                "problem": s.get("error") or s.get("note") or "",
            }
            for r in runs
            for s in r.get("sources", [])
        ],
        columns=["run_id", "source", "size", "sha256", "format", "records", "problem"],
    )
    ingests = pd.DataFrame(
        [
            {
                "run_id": r.get("run_id"),
                "started": r.get("started"),
                "finished": r.get("finished"),
                "evidence": ", ".join(map(str, r.get("evidence", []))),
                **{
                    k: r.get("counts", {}).get(k)
                    for k in ("files", "read", "written", "duplicates", "quarantined")
                },
                "identity_holds": r.get("identity_holds"),
            }
            for r in runs
        ]
    )
    tables = {"Ingest runs": ingests, "Evidence files": sources}
    ver = m.get("verifications", [])
    if ver:
        tables["Integrity verifications"] = pd.DataFrame(
            [
                {
                    "at": v.get("at"),
                    "digest_counts": ", ".join(f"{k}: {n}" for k, n in (v.get("counts") or {}).items()),
                    "signatures_checked": v.get("signatures_checked"),
                    "problems": len(v.get("problems") or []),
                    "custody": ", ".join(f"{k}: {n}" for k, n in (v.get("custody") or {}).items()),
                    "custody_problems": len(v.get("custody_problems") or []),
                }
                for v in ver
            ]
        )
        vnote = f"{len(ver)} integrity verification(s) recorded by 'iamforensics verify'."
    else:
        vnote = "No integrity verification is recorded in the case; run 'iamforensics verify --case DIR'."
    return Section(
        "evidence",
        "Evidence manifest",
        text=f"{len(sources):,} evidence files in {len(runs)} ingest run(s), each with the SHA-256 of its "
        "bytes as collected (from case.json).",
        note=vnote,
        tables=tables,
        columns={"Evidence files": ["source", "size", "sha256", "records", "problem"]},
    )
