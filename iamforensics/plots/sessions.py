"""Session charts: the tree below a key or identity, and a timeline bar per session.

Examples
--------
>>> from iamforensics.analysis import sessions as st
>>> session_tree(st.trace(case, access_key_id="AKIAEXAMPLE"))  # doctest: +SKIP
>>> tree = st.trace(case, actor="arn:aws:iam::111122223333:user/dave")  # doctest: +SKIP
>>> session_timeline(tree, st.trace_events(case, actor="arn:aws:iam::111122223333:user/dave"))  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

import matplotlib.dates as mdates
import pandas as pd
from matplotlib.axes import Axes

from ._axes import axes, no_data, utc_time_axis
from ._text import safe_label

#: Box colours by who is behind a node (Okabe-Ito, colour-blind safe); flagged nodes get a red edge.
FILL: dict[str, str] = {
    "identity": "#E8E8E8",
    "long-term-key": "#E8E8E8",
    "temporary-key": "#E8E8E8",
    "service": "#CFE7F5",
    "federated": "#F3E3C3",
    "session": "#FFFFFF",
    "observed": "#F0F0F0",
}
FLAG_EDGE = "#D55E00"
BAR: dict[str, str] = {
    "service": "#56B4E9",
    "federated": "#E69F00",
    "session": "#0072B2",
    "observed": "#999999",
}
_SERVICE = {"instance-profile", "service-delivered"}
_FEDERATED = {"saml", "identity-center", "web-identity", "federation-token"}


def _group(kind: Any) -> str:
    k = str(kind)
    if k in ("identity", "long-term-key", "temporary-key"):
        return k
    if k in _SERVICE:
        return "service"
    if k in _FEDERATED:
        return "federated"
    if k == "observed":
        return "observed"
    return "session"


def _accounts(r: dict[str, Any]) -> str:
    accts = [a for a in (r.get("chain_accounts") or []) if a]
    if len(accts) > 1:
        return " → ".join(safe_label(a, 14) for a in accts)
    return safe_label(r.get("account_id"), 14) if r.get("account_id") else ""


def _node_label(r: dict[str, Any]) -> str:
    who = r.get("principal") or ""
    short = str(who).rsplit("/", 2)[-2:] if ":assumed-role/" in str(who) else [str(who).rsplit(":", 1)[-1]]
    lines = [safe_label(r["node"], 32), f"{safe_label(r['kind'], 20)} · {safe_label('/'.join(short), 40)}"]
    tail = f"{int(r.get('events') or 0)} events"
    if r.get("errors"):
        tail += f" ({int(r['errors'])} errors)"
    acc = _accounts(r)
    if acc:
        tail += f" · {acc}"
    lines.append(tail)
    if r.get("flags"):
        lines.append("⚑ " + safe_label(", ".join(r["flags"]), 50))
    return "\n".join(lines)


def _rows(data: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows with None for missing values and lists as lists (pandas gives NaN, NaT, arrays)."""
    out = []
    for r in data.to_dict("records"):
        clean: dict[str, Any] = {}
        for k, v in r.items():
            if isinstance(v, list | tuple):
                clean[str(k)] = list(v)
            elif getattr(v, "ndim", None):
                clean[str(k)] = v.tolist()
            else:
                clean[str(k)] = None if v is None or v is pd.NA or v is pd.NaT or v != v else v
        out.append(clean)
    return out


def session_tree(data: pd.DataFrame, *, ax: Axes | None = None, title: str = "Session tree") -> Axes:
    """Identity → sessions → child sessions, one box per node with its kind, event count and
    accounts crossed; links drawn as elbows, dashed when fallback, dotted when ambiguous;
    flagged sessions edged in red.

    ``data``: :func:`iamforensics.analysis.sessions.trace` output (depth, node, parent, link,
    kind, principal, events, errors, chain_accounts, account_id, flags).
    """
    n = len(data)
    ax = axes(ax, (12, 1.0 + 0.75 * max(1, min(n, 40))))
    if data.empty:
        return no_data(ax, title)
    rows = _rows(data)
    pos: dict[str, tuple[float, float]] = {}
    for i, r in enumerate(rows):
        pos.setdefault(str(r["node"]), (float(r["depth"]), -float(i)))
    styles = {"fallback": "--", "ambiguous": ":"}
    for r in rows:
        parent = r.get("parent")
        if parent is None or str(parent) not in pos:
            continue
        (px, py), (cx, cy) = pos[str(parent)], pos[str(r["node"])]
        ls = styles.get(str(r.get("link")), "-")
        ax.plot([px + 0.05, px + 0.05, cx - 0.02], [py - 0.25, cy, cy], color="0.45", lw=1.0, ls=ls, zorder=1)
    for r in rows:
        x, y = pos[str(r["node"])]
        flagged = bool(r.get("flags"))
        ax.text(
            x,
            y,
            _node_label(r),
            ha="left",
            va="center",
            fontsize=8,
            zorder=2,
            gid=f"session-node:{safe_label(r['node'], 128)}",
            bbox={
                "boxstyle": "round,pad=0.35",
                "facecolor": FILL[_group(r["kind"])],
                "edgecolor": FLAG_EDGE if flagged else "0.4",
                "linewidth": 1.8 if flagged else 0.8,
            },
        )
    depth = max(p[0] for p in pos.values())
    ax.set_xlim(-0.15, depth + 2.6)
    ax.set_ylim(-(n - 1) - 0.7, 0.7)
    ax.set_axis_off()
    ax.set_title(title)
    return ax


def session_timeline(
    data: pd.DataFrame,
    events: pd.DataFrame | None = None,
    *,
    ax: Axes | None = None,
    max_sessions: int = 30,
    title: str = "Sessions over time",
) -> Axes:
    """A bar per session from its issue (or first use) to its last use, a tick at its
    expiration (when the issuing call returned or asked for one), and a marker per event
    (crosses for errors) when ``events`` is given.

    ``data``: :func:`~iamforensics.analysis.sessions.sessions` or
    :func:`~iamforensics.analysis.sessions.trace` output; ``events``:
    :func:`~iamforensics.analysis.sessions.attribute` or ``trace_events`` output (event_time,
    session_id, and error_code when errors are to be marked). The first ``max_sessions``
    sessions in issue order are drawn.
    """
    ax = axes(ax, (11, 1.2 + 0.38 * max(1, min(len(data), max_sessions))))
    df = data.copy()
    key = "node" if "node" in df.columns else "session_id"
    if "kind" in df.columns:
        df = df[~df["kind"].isin(["identity", "long-term-key", "temporary-key"])]
    for c in ("issued_at", "first_use", "last_use", "expiration"):
        df[c] = pd.to_datetime(df[c], utc=True) if c in df.columns else pd.NaT
    df["start"] = df["issued_at"].fillna(df["first_use"])
    df = df[df["start"].notna()].sort_values(["start", key], kind="stable").head(max_sessions)
    if df.empty:
        return no_data(ax, title)
    df["end"] = df["last_use"].fillna(df["start"])
    y = {str(s): i for i, s in enumerate(df[key])}
    start = mdates.date2num(df["start"].dt.tz_convert(None).to_numpy())
    end = mdates.date2num(df["end"].dt.tz_convert(None).to_numpy())
    width = [max(e - s, 1 / 1440) for s, e in zip(start, end, strict=True)]  # at least a minute
    colors = [BAR.get(_group(k), BAR["session"]) for k in df.get("kind", pd.Series(["session"] * len(df)))]
    ax.barh(list(range(len(df))), width, left=start, height=0.5, color=colors, alpha=0.55, zorder=2)
    exp = df["expiration"].notna()
    if "expiration_source" in df.columns:  # a default lifetime is a guess, not a fact to draw
        exp &= df["expiration_source"].isin(["response", "duration"])
    if exp.any():
        ax.scatter(
            mdates.date2num(df.loc[exp, "expiration"].dt.tz_convert(None).to_numpy()),
            [y[str(s)] for s in df.loc[exp, key]],
            marker="|",
            s=160,
            color="0.2",
            zorder=3,
            label="expiration",
        )
    if events is not None and not events.empty and "session_id" in events.columns:
        ev = events[events["session_id"].astype("string").isin(list(y))].copy()
        if not ev.empty:
            ev["y"] = [y[str(s)] for s in ev["session_id"]]
            t = mdates.date2num(pd.to_datetime(ev["event_time"], utc=True).dt.tz_convert(None).to_numpy())
            err = ev["error_code"].notna().to_numpy() if "error_code" in ev.columns else None
            ok = ~err if err is not None else slice(None)
            ax.scatter(t[ok], ev["y"].to_numpy()[ok], s=12, color="#0072B2", zorder=4, label="event")
            if err is not None and err.any():
                ax.scatter(
                    t[err],
                    ev["y"].to_numpy()[err],
                    s=30,
                    marker="x",
                    color=FLAG_EDGE,
                    zorder=4,
                    label="error",
                )
    labels = [
        f"{safe_label(s, 24)} ({safe_label(k, 16)})"
        for s, k in zip(df[key], df.get("kind", pd.Series([""] * len(df))), strict=True)
    ]
    ax.set_yticks(range(len(df)), labels)
    ax.set_ylim(-0.7, len(df) - 0.3)
    ax.invert_yaxis()
    utc_time_axis(ax)
    ax.set_title(title)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper right", fontsize=8)
    return ax


__all__ = ["session_timeline", "session_tree"]
