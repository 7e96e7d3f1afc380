"""Session charts, checked by what they draw (boxes, links, bars, markers, labels), not pixels."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from matplotlib.collections import PathCollection
from matplotlib.colors import to_hex
from matplotlib.patches import Rectangle

import iamforensics as ifx
from iamforensics.analysis import sessions as st
from iamforensics.plots.sessions import FLAG_EDGE, session_timeline, session_tree
from tests.sessions_helpers import (
    A,
    assume_role,
    ingest_records,
    rec,
    role_arn,
    role_session,
    story_records,
    user,
)


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> Any:
    s = story_records()
    path = ingest_records(s["chain"] + s["switch"] + s["expiry"], tmp_path_factory.mktemp("plots"))
    return ifx.open_case(path)


def nodes(ax: Any) -> dict[str, Any]:
    return {
        t.get_gid().split(":", 1)[1]: t for t in ax.texts if (t.get_gid() or "").startswith("session-node:")
    }


def test_tree_draws_a_box_per_node_and_a_link_per_edge(case):
    tree = st.trace(case, access_key_id="AKIAALICE00000000001")
    ax = session_tree(tree)
    boxes = nodes(ax)
    assert list(boxes) == ["AKIAALICE00000000001", "ASIADEPLOY0000000001", "ASIACHAIN00000000001"]
    assert len(ax.lines) == 2 and all(line.get_linestyle() == "-" for line in ax.lines)  # exact-key links
    chain = boxes["ASIACHAIN00000000001"]
    assert "1 events" in chain.get_text() and "new-network" in chain.get_text()
    assert to_hex(chain.get_bbox_patch().get_edgecolor()) == FLAG_EDGE.lower()
    assert to_hex(boxes["ASIADEPLOY0000000001"].get_bbox_patch().get_edgecolor()) != FLAG_EDGE.lower()
    assert "4 events (1 errors)" in boxes["ASIADEPLOY0000000001"].get_text()
    ax.figure.canvas.draw()
    plt.close(ax.figure)


def test_tree_shows_fallback_links_and_accounts(case):
    tree = st.trace(case, actor=f"arn:aws:iam::{A}:user/carol")
    ax = session_tree(tree)
    assert len(nodes(ax)) == 3
    assert [line.get_linestyle() for line in ax.lines] == ["-", "--"]  # console -> switch-role by fallback
    switch = nodes(ax)["ASIASWITCHISSUED0001"].get_text()
    assert "111111111111 → 222222222222" in switch and "switch-role" in switch
    plt.close(ax.figure)


def test_timeline_bars_markers_and_expiry(case):
    sess = st.sessions(case)
    events = st.attribute(case)
    ax = session_timeline(sess, events)
    bars = [p for p in ax.patches if isinstance(p, Rectangle)]
    assert len(bars) == len(sess)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert len(labels) == len(sess) and labels[0].startswith("ASIADEPLOY0000000001")
    scatters = {c.get_label(): c for c in ax.collections if isinstance(c, PathCollection)}
    in_sessions = events[events["session_id"].notna()]
    assert len(scatters["event"].get_offsets()) + len(scatters["error"].get_offsets()) == len(in_sessions)
    assert len(scatters["error"].get_offsets()) == in_sessions["error_code"].notna().sum()
    expiring = sess["expiration_source"].isin(["response", "duration"]).sum()
    assert 0 < expiring < len(sess)  # the console session's default lifetime is not drawn
    assert len(scatters["expiration"].get_offsets()) == expiring
    assert ax.get_xlabel() == "time (UTC)"
    ax.figure.canvas.draw()
    plt.close(ax.figure)


def test_timeline_of_a_trace_skips_the_identity_row(case):
    tree = st.trace(case, access_key_id="AKIAALICE00000000001", with_flags=False)
    ax = session_timeline(tree)
    assert len([p for p in ax.patches if isinstance(p, Rectangle)]) == 2
    plt.close(ax.figure)


def test_hostile_text_cannot_break_the_charts(tmp_path: Path):
    evil = "$\\frac{a}{b}$ x\nforged line\x1b[2J" + "A" * 200
    eve = user("eve", "AKIAEVE0000000000001")
    recs = [
        assume_role("2024-03-03T09:00:00Z", eve, role_arn("R", A), evil, "ASIAEVIL000000000001"),
        rec("2024-03-03T09:01:00Z", "ListBuckets", "s3.amazonaws.com",
            role_session("R", A, evil, "ASIAEVIL000000000001", "2024-03-03T09:00:00Z")),
    ]  # fmt: skip
    case = ifx.open_case(ingest_records(recs, tmp_path))
    tree = st.trace(case, access_key_id="AKIAEVE0000000000001")
    ax = session_tree(tree)
    text = nodes(ax)["ASIAEVIL000000000001"].get_text()
    assert "forged line" in text.splitlines()[1] and "\x1b" not in text and "\\$" in text
    assert max(len(line) for line in text.splitlines()) <= 80
    ax.figure.canvas.draw()  # mathtext would raise or render; escaped it is plain text
    plt.close(ax.figure)
    ax = session_timeline(st.sessions(case), st.attribute(case))
    ax.figure.canvas.draw()
    plt.close(ax.figure)


def test_empty_inputs_draw_no_data():
    empty = pd.DataFrame(
        columns=["depth", "node", "parent", "link", "kind", "issued_at", "first_use", "last_use"]
    )
    for fn in (session_tree, session_timeline):
        ax = fn(empty)
        assert any(t.get_text() == "no data" for t in ax.texts)
        plt.close(ax.figure)
