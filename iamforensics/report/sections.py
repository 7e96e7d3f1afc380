"""The report's sections: each runs the analyses for the window and draws its charts.

A section function takes the :class:`Window` (case, bounds, caption text) and returns an
:class:`~iamforensics.report.html.Section` whose tables are exported whole (CSV/XLSX) and
shown in part in the page. Charts are drawn by :mod:`iamforensics.plots` under the house
style (the caller holds :func:`~iamforensics.report.style.house_style` open while drawing
*and* saving, so tick labels created late still get mathtext off).

Examples
--------
>>> w = Window.of(open_case("out/case"), "2024-05-08", None)  # doctest: +SKIP
>>> overview(w).tables["Summary"]  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .html import Section
from .style import caption

if TYPE_CHECKING:
    from ..case import Case

#: Above this many events the swimlane (one marker per event) is left out of the report.
SWIMLANE_MAX_EVENTS = 200_000


@dataclass(frozen=True)
class Window:
    """The case and the UTC window every section works on."""

    case: Case
    start: pd.Timestamp | None
    end: pd.Timestamp | None
    first: pd.Timestamp | None  # first and last event inside the window
    last: pd.Timestamp | None
    events: int

    @property
    def label(self) -> str:
        """The window as the caption line gives it."""
        if self.start is None and self.end is None:
            return "whole case"
        s = self.start.strftime("%Y-%m-%d %H:%M") if self.start is not None else "start"
        e = self.end.strftime("%Y-%m-%d %H:%M") if self.end is not None else "end"
        return f"{s} to {e}"

    @property
    def bounds(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end}

    @classmethod
    def of(cls, case: Case, start: pd.Timestamp | None, end: pd.Timestamp | None) -> Window:
        where, params = case.where(start, end)
        row = case.sql(
            f"SELECT count(*) AS n, min(event_time) AS a, max(event_time) AS b FROM events{where}", params
        )
        n = int(row["n"].iloc[0])
        first = pd.Timestamp(row["a"].iloc[0]) if n else None
        last = pd.Timestamp(row["b"].iloc[0]) if n else None
        return cls(case, start, end, first, last, n)


def chart(w: Window, draw: Callable[[Axes], Any], size: tuple[float, float] = (10, 4.8)) -> Figure:
    """A figure in the current (house) style with the caption line naming case and window."""
    fig, ax = plt.subplots(figsize=size)
    draw(ax)
    caption(fig, w.case.name, w.label)
    return fig


def freq_for(w: Window) -> str:
    """A bucket size giving about 50-300 buckets over the window's events."""
    if w.first is None or w.last is None:
        return "1h"
    hours = max((w.last - w.first).total_seconds() / 3600, 1 / 60)
    for freq, h in (("1min", 1 / 60), ("5min", 5 / 60), ("15min", 0.25), ("1h", 1), ("6h", 6)):
        if hours / h <= 300:
            return freq
    return "1D"


def _count_table(w: Window, col: str, title: str) -> pd.DataFrame:
    where, params = w.case.where(**w.bounds)
    df = w.case.sql(
        f"SELECT coalesce(CAST({col} AS VARCHAR), '(none)') AS {title}, count(*) AS events "
        f"FROM events{where} GROUP BY 1 ORDER BY events DESC, 1",
        params,
    )
    return df


def overview(w: Window) -> Section:
    from ..analysis import timeline as tl
    from ..plots import timeline as pt
    from ..schema import COLUMN_NAMES

    where, params = w.case.where(**w.bounds)
    extra = (
        "count(DISTINCT recipient_account_id) AS accounts, " if "recipient_account_id" in COLUMN_NAMES else ""
    )
    row = w.case.sql(
        f"SELECT count(DISTINCT actor) AS actors, {extra}count(DISTINCT aws_region) AS regions, "
        "count(DISTINCT source_ip_address) AS ips, count(*) FILTER (WHERE is_error) AS errors, "
        "count(*) FILTER (WHERE read_only) AS reads "
        f"FROM events{where}",
        params,
    ).iloc[0]
    fmt = "%Y-%m-%d %H:%M:%S UTC"
    summary = pd.DataFrame(
        [
            ("events", w.events),
            ("first event", w.first.strftime(fmt) if w.first is not None else "none"),
            ("last event", w.last.strftime(fmt) if w.last is not None else "none"),
            ("actors", int(row["actors"])),
            ("accounts", int(row.get("accounts", 0))),
            ("regions", int(row["regions"])),
            ("source addresses", int(row["ips"])),
            ("failed calls", int(row["errors"])),
            ("read-only calls", int(row["reads"])),
        ],
        columns=["measure", "value"],
    )
    rate = tl.event_rate(w.case, **w.bounds, freq=freq_for(w))
    marks = tl.marked_events(w.case, **w.bounds)
    figs = {
        "Events over time, with notable events marked": chart(
            w, lambda ax: pt.event_rate(rate, marks=marks, ax=ax, title=f"Event rate ({freq_for(w)} buckets)")
        )
    }
    text = (
        f"{w.events:,} events from {summary['value'][1]} to {summary['value'][2]}, "
        f"{int(row['actors']):,} actors, {int(row['errors']):,} failed calls."
        if w.events
        else "No events in this window."
    )
    return Section(
        "overview",
        "Case overview",
        text=text,
        tables={
            "Summary": summary,
            "Accounts": _count_table(w, "recipient_account_id", "account"),
            "Regions": _count_table(w, "aws_region", "region"),
            "Identity types": _count_table(w, "user_type", "identity_type"),
            "Notable events": marks,
        },
        figures=figs,
    )


def timeline(w: Window) -> Section:
    from ..analysis import timeline as tl
    from ..plots import timeline as pt

    figs = {
        "Events per hour of day and day": chart(
            w, lambda ax: pt.hourly_heatmap(tl.hourly_activity(w.case, **w.bounds), ax=ax), (10, 4.5)
        )
    }
    note = ""
    if w.events <= SWIMLANE_MAX_EVENTS:
        events = tl.timeline(w.case, **w.bounds)
        lanes = max(1, min(20, events["actor"].nunique() if not events.empty else 1))
        figs["Activity of the 20 most active actors"] = chart(
            w, lambda ax: pt.swimlane(events, ax=ax, max_lanes=20), (11, 1.4 + 0.32 * lanes)
        )
    else:
        note = (
            f"The per-actor swimlane is left out above {SWIMLANE_MAX_EVENTS:,} events; see timesketch.jsonl."
        )
    actors = tl.actor_summary(w.case, **w.bounds)
    changed = tl.what_changed(w.case, **w.bounds)
    return Section(
        "timeline",
        "Timeline",
        text="Who was active when, and what was changed.",
        note=note,
        tables={"Actors": actors, "What changed": changed},
        figures=figs,
        columns={
            "Actors": ["actor", "user_type", "first_seen", "last_seen", "events", "errors", "writes", "apis"],
            "What changed": [
                "resource_type",
                "resource",
                "events",
                "failed",
                "first_time",
                "last_time",
                "event_names",
            ],
        },
    )


def api_calls(w: Window) -> Section:
    from ..analysis import api_calls as ac
    from ..analysis import timeline as tl
    from ..plots import api_calls as pa

    names = ac.histogram(w.case, by="event_name", top=50, **w.bounds)
    services = ac.histogram(w.case, by="service", top=15, **w.bounds)
    rate = tl.event_rate(w.case, **w.bounds, freq=freq_for(w))
    figs = {
        "Most frequent API calls": chart(
            w,
            lambda ax: pa.bars(names.head(20), ax=ax, title="Top 20 API calls (read / write / error)"),
            (10, 6),
        ),
        "Calls per service": chart(
            w, lambda ax: pa.bars(services, ax=ax, title="Calls per service (read / write / error)"), (10, 5)
        ),
        "Failed calls over time": chart(
            w, lambda ax: pa.error_rate(rate, ax=ax, title="Error rate"), (10, 4)
        ),
    }
    return Section(
        "api-calls",
        "API calls",
        text="Which APIs were called, how many failed, and which were rare or denied in bursts.",
        tables={
            "API calls": names,
            "Calls per service": services,
            "Access-denied bursts": ac.denied_bursts(w.case, **w.bounds),
            "Rare APIs": ac.rare_apis(w.case, **w.bounds),
        },
        figures=figs,
        columns={
            "Access-denied bursts": ["key", "start", "end", "events", "apis", "event_names", "error_codes"],
            "Rare APIs": ["event_source", "event_name", "events", "errors", "actor_list", "first_time"],
        },
    )


def mfa(w: Window) -> Section:
    from ..analysis import mfa as am
    from ..plots import mfa as pm

    coverage = am.mfa_coverage(w.case, **w.bounds)
    outcomes = am.sign_in_outcomes(w.case, **w.bounds)
    # The chart shows who made sensitive calls (IAM, STS, trail, MFA changes): dozens of
    # identical 'no MFA' bars of CI roles would hide them.
    sensitive = coverage[coverage["sensitive"] > 0] if "sensitive" in coverage.columns else coverage
    drawn_cov = sensitive if not sensitive.empty else coverage
    figs = {
        "Console sign-ins by outcome and MFA": chart(
            w, lambda ax: pm.sign_in_outcomes(outcomes, ax=ax), (10, 3.8)
        ),
        "MFA coverage of the actors who made sensitive calls": chart(
            w,
            lambda ax: pm.coverage(drawn_cov, ax=ax, max_actors=20),
            (10, 1.5 + 0.3 * min(20, max(1, len(drawn_cov)))),
        ),
    }
    return Section(
        "mfa",
        "MFA",
        text="Sign-ins and sensitive actions with and without MFA; MFA device changes; root activity.",
        note="Federated principals (SAML, Identity Center, web identity) are 'mfa at IdP': AWS cannot see "
        "the identity provider's MFA.",
        tables={
            "Console sign-ins": am.sign_ins(w.case, **w.bounds),
            "Sensitive actions without MFA": am.actions_without_mfa(w.case, **w.bounds),
            "MFA device changes": am.mfa_device_changes(w.case, **w.bounds),
            "Root activity": am.root_activity(w.case, **w.bounds),
            "MFA coverage": coverage,
        },
        figures=figs,
        columns={
            "Console sign-ins": [
                "event_time",
                "actor",
                "principal_type",
                "result",
                "mfa_status",
                "source_ip_address",
            ],
            "Sensitive actions without MFA": [
                "event_time",
                "category",
                "event_name",
                "actor",
                "mfa_status",
                "key_type",
                "source_ip_address",
            ],
            "MFA device changes": [
                "event_time",
                "event_name",
                "actor",
                "target_user",
                "serial_number",
                "error_code",
            ],
            "Root activity": ["event_time", "event_name", "result", "mfa", "key_type", "source_ip_address"],
        },
    )


def source_ips(w: Window) -> Section:
    from ..analysis import source_ips as si
    from ..plots import source_ips as ps

    ips = si.ip_summary(w.case, **w.bounds)
    matrix = si.ip_actor_matrix(w.case, **w.bounds)
    geo = si.geo_summary(w.case, **w.bounds)
    travel = si.impossible_travel(w.case, **w.bounds)
    figs = {
        "Top source addresses": chart(
            w, lambda ax: ps.top_ips(ips, ax=ax, top=20), (10, 1.5 + 0.3 * min(20, max(1, len(ips))))
        ),
        "Events per address and actor": chart(w, lambda ax: ps.ip_actor_matrix(matrix, ax=ax), (11, 7)),
        "Events per country": chart(w, lambda ax: ps.geo_bars(geo, ax=ax), (10, 4)),
    }
    return Section(
        "source-ips",
        "Source IP addresses",
        text="Where calls came from: addresses, their class, country and network (offline lookup).",
        tables={"Source addresses": ips, "Countries": geo, "Travel between calls": travel},
        figures=figs,
        columns={
            "Source addresses": [
                "source_ip_address",
                "ip_class",
                "first_seen",
                "last_seen",
                "events",
                "errors",
                "actors",
                "country",
                "asn_name",
            ],
        },
    )
