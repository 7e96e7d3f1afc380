"""Charts on Agg, checked by what was drawn (bars, lanes, labels, counts), and labels from
hostile records that must not break a chart."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from matplotlib.collections import PathCollection  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from iamforensics.analysis import api_calls as ac  # noqa: E402
from iamforensics.analysis import mfa  # noqa: E402
from iamforensics.analysis import source_ips as si  # noqa: E402
from iamforensics.analysis import timeline as tl  # noqa: E402
from iamforensics.normalize import normalize_records  # noqa: E402
from iamforensics.plots import api_calls as pa  # noqa: E402
from iamforensics.plots import mfa as pm  # noqa: E402
from iamforensics.plots import safe_label  # noqa: E402
from iamforensics.plots import source_ips as ps  # noqa: E402
from iamforensics.plots import timeline as pt  # noqa: E402
from iamforensics.report import house_style  # noqa: E402
from tests.analysis_helpers import samples_case, stratus_case  # noqa: E402

HOSTILE = [
    "$\\frac{1}{0}$ $x^{",  # broken mathtext: raises while drawing when parsed
    "line one\nline two\r\x00\x1b[31m",
    "<script>alert(1)</script>&amp;",
    "Mozilla/5.0 " + "A" * 1024,
    "cost: $5 and $6",
]


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def _bars(ax) -> list[Rectangle]:
    return [p for p in ax.patches if isinstance(p, Rectangle) and p.get_width() > 0 and p.get_height() > 0]


def _ticks(ax, axis: str = "y") -> list[str]:
    labels = ax.get_yticklabels() if axis == "y" else ax.get_xticklabels()
    return [t.get_text() for t in labels]


def _draw(ax) -> None:
    ax.get_figure().canvas.draw()


def _hostile_frame() -> pd.DataFrame:
    recs = []
    for i, name in enumerate(HOSTILE):
        for j in range(i + 1):
            recs.append({
                "eventVersion": "1.08", "eventID": f"00000000-0000-0000-{i:04d}-{j:012d}",
                "eventTime": f"2024-01-0{1 + j % 3}T1{i}:00:0{j % 10}Z",
                "eventSource": "iam.amazonaws.com", "eventName": name if j % 2 else "CreateUser",
                "awsRegion": "us-east-1", "sourceIPAddress": ["5.188.10.77", "253.252.51.07", name][j % 3],
                "userAgent": name, "errorCode": name if j % 3 == 2 else None,
                "userIdentity": {"type": "IAMUser", "arn": f"arn:aws:iam::111111111111:user/{name}",
                                 "accountId": "111111111111", "userName": name},
            })  # fmt: skip
    table, rejects = normalize_records(recs)
    assert not rejects
    return table.to_pandas()


# --- safe_label -----------------------------------------------------------------------------


def test_safe_label_escapes_strips_and_truncates():
    assert safe_label("a$b") == "a\\$b"
    assert safe_label("x\ny\tz\x00") == "x y z"
    assert len(safe_label("u" * 1024)) == 60 and safe_label("u" * 1024).endswith("…")
    assert safe_label(None) == "(none)" and safe_label(float("nan")) == "(none)"
    with house_style():  # mathtext off: the dollar is drawn as is, no stray backslash
        assert safe_label("a$b") == "a$b"


@pytest.mark.filterwarnings("ignore:Glyph .* missing from font")
@settings(max_examples=60, deadline=None)
@given(st.text(max_size=300))
def test_safe_label_output_is_one_short_line_that_draws(text):
    label = safe_label(text, 40)
    assert len(label) <= 40 and "\n" not in label and "\r" not in label
    fig, ax = plt.subplots()
    ax.set_title(label)
    ax.set_yticks([0], [label])
    fig.canvas.draw()
    plt.close(fig)


# --- timeline --------------------------------------------------------------------------------


def test_swimlane_draws_one_lane_per_actor_and_a_marker_per_event():
    case = stratus_case("ec2-get-password-data")
    data = tl.timeline(case)
    ax = pt.swimlane(data)
    _draw(ax)
    assert sorted(_ticks(ax)) == sorted(safe_label(a, 50) for a in data["actor"].unique())
    points = {
        c.get_label().split(" ")[0]: len(c.get_offsets())
        for c in ax.collections
        if isinstance(c, PathCollection)
    }
    assert points == data["kind"].value_counts().to_dict()
    assert "UTC" in ax.get_xlabel()


def test_swimlane_keeps_the_most_active_lanes():
    data = tl.timeline(stratus_case())
    ax = pt.swimlane(data, max_lanes=3)
    assert len(_ticks(ax)) == 3
    assert "top 3 of" in ax.get_title()
    drawn = sum(len(c.get_offsets()) for c in ax.collections if isinstance(c, PathCollection))
    assert drawn == data["actor"].value_counts().head(3).sum()


def test_hourly_heatmap_cells_hold_the_counts():
    data = tl.hourly_activity(samples_case())
    ax = pt.hourly_heatmap(data)
    _draw(ax)
    (img,) = ax.get_images()
    arr = np.asarray(img.get_array())
    assert arr.shape == (7, 24) and arr.sum() == data["events"].sum()
    assert "UTC" in ax.get_xlabel() and "UTC" in ax.get_ylabel()


def test_event_rate_stacks_reads_writes_errors_and_marks_stop_logging():
    case = stratus_case()
    data = tl.event_rate(case, freq="1d")
    marks = tl.marked_events(case)
    ax = pt.event_rate(data, marks=marks)
    _draw(ax)
    heights = sum(b.get_height() for b in _bars(ax))
    assert heights == data["events"].sum()
    assert len(ax.get_lines()) == len(marks)
    assert {t.get_text() for t in ax.texts} >= {"StopLogging", "DeleteTrail"}


# --- api calls -------------------------------------------------------------------------------


def test_bars_stack_read_write_error_per_key():
    data = ac.histogram(stratus_case(), by="service", top=5)
    ax = pa.bars(data)
    _draw(ax)
    assert _ticks(ax) == [safe_label(k, 45) for k in data["key"]]
    widths = sum(b.get_width() for b in _bars(ax))
    assert widths == data["events"].sum()
    assert len(_bars(ax)) == int((data[["read", "write", "error"]] > 0).sum().sum())


def test_error_rate_line_matches_the_buckets():
    data = tl.event_rate(stratus_case("ec2-get-password-data"), freq="1min")
    ax = pa.error_rate(data)
    _draw(ax)
    (twin,) = [a for a in ax.get_figure().axes if a is not ax]
    (line,) = twin.get_lines()
    expected = (data["errors"] / data["events"].where(data["events"] > 0)).fillna(0) * 100
    assert np.allclose(line.get_ydata(), expected)


# --- mfa -------------------------------------------------------------------------------------


def test_sign_in_outcomes_bars():
    data = mfa.sign_in_outcomes(samples_case())
    ax = pm.sign_in_outcomes(data)
    _draw(ax)
    assert _ticks(ax) == sorted(data["principal_type"].unique())
    assert sum(b.get_width() for b in _bars(ax)) == data["sign_ins"].sum()
    legend = {t.get_text() for t in ax.get_legend().get_texts()}
    assert "Success / no mfa" in legend


def test_mfa_coverage_bars_are_shares():
    data = mfa.mfa_coverage(samples_case())
    ax = pm.coverage(data, max_actors=10)
    _draw(ax)
    assert len(_ticks(ax)) == 10
    per_row: dict[float, float] = {}
    for b in _bars(ax):
        per_row[round(b.get_y(), 3)] = per_row.get(round(b.get_y(), 3), 0) + b.get_width()
    assert all(abs(v - 100) < 1e-6 for v in per_row.values())
    assert any("sensitive" in t.get_text() for t in ax.texts)


# --- source ips ------------------------------------------------------------------------------


def test_top_ips_and_geo_bars():
    case = samples_case()
    summary = si.ip_summary(case)
    ax = ps.top_ips(summary, top=8)
    _draw(ax)
    assert len(_bars(ax)) == 8
    assert [b.get_width() for b in _bars(ax)] == summary["events"].head(8).tolist()
    assert any("AMAZON" in t for t in _ticks(ax))
    # Each legend entry carries its class's colour (the bars' colour), not the colour cycle's.
    from matplotlib.colors import to_hex

    from iamforensics.plots.source_ips import CLASS_COLORS

    legend = ax.get_legend()
    shown = {
        t.get_text(): to_hex(h.get_facecolor())
        for t, h in zip(legend.get_texts(), legend.legend_handles, strict=True)
    }
    assert shown and all(shown[c] == CLASS_COLORS[c].lower() for c in shown if c in CLASS_COLORS)
    assert set(shown) == set(summary["ip_class"].head(8).fillna("unknown"))
    countries = si.geo_summary(case)
    ax2 = ps.geo_bars(countries)
    assert len(_bars(ax2)) == len(countries)
    assert any(t.startswith("RU") for t in _ticks(ax2))


def test_ip_actor_matrix_cells():
    data = si.ip_actor_matrix(samples_case(), top_ips=6, top_actors=5)
    ax = ps.ip_actor_matrix(data)
    _draw(ax)
    (img,) = ax.get_images()
    assert np.asarray(img.get_array()).shape == (data.shape[1], data.shape[0])
    numbers = sorted(int(t.get_text()) for t in ax.texts)
    assert numbers == sorted(int(v) for v in data.to_numpy().ravel() if v)


# --- hostile labels and empty data ------------------------------------------------------------


def test_hostile_labels_do_not_break_any_chart():
    frame = _hostile_frame()
    charts = [
        pt.swimlane(tl.timeline(frame)),
        pt.hourly_heatmap(tl.hourly_activity(frame)),
        pt.event_rate(tl.event_rate(frame, freq="1h"), marks=tl.timeline(frame).head(5)),
        pa.bars(ac.histogram(frame, by="user_agent")),
        pa.bars(ac.histogram(frame, by="event_name")),
        pa.error_rate(tl.event_rate(frame, freq="1h")),
        ps.top_ips(si.ip_summary(frame)),
        ps.ip_actor_matrix(si.ip_actor_matrix(frame)),
        pm.coverage(mfa.mfa_coverage(frame)),
    ]
    for ax in charts:
        _draw(ax)
        texts = _ticks(ax, "y") + _ticks(ax, "x") + [t.get_text() for t in ax.texts] + [ax.get_title()]
        for text in texts:
            assert "\n" not in text and "\x00" not in text and len(text) <= 100, text
    with house_style():
        ax = pa.bars(ac.histogram(frame, by="actor"))
        _draw(ax)
        assert any("$" in t and "\\$" not in t for t in _ticks(ax))


def test_empty_data_gives_an_empty_chart():
    frame = _hostile_frame().iloc[0:0]
    for ax in (
        pt.swimlane(tl.timeline(frame)),
        pt.hourly_heatmap(tl.hourly_activity(frame)),
        pt.event_rate(tl.event_rate(frame)),
        pa.bars(ac.histogram(frame)),
        pm.sign_in_outcomes(mfa.sign_in_outcomes(frame)),
        ps.top_ips(si.ip_summary(frame)),
        ps.geo_bars(si.geo_summary(frame)),
    ):
        _draw(ax)
        assert [t.get_text() for t in ax.texts] == ["no data"]


def test_plots_draw_on_a_given_axes():
    fig, (a1, a2) = plt.subplots(1, 2)
    data = ac.histogram(stratus_case(), by="region", top=4)
    assert pa.bars(data, ax=a1) is a1
    assert pt.hourly_heatmap(tl.hourly_activity(stratus_case()), ax=a2) is a2
    fig.canvas.draw()
