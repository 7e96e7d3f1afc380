"""Property tests for the shared parsers: JSON containers, CSV by header, Lake's {k=v} text."""

from __future__ import annotations

import csv
import io
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from iamforensics.readers._common import Bad, iter_json
from iamforensics.readers._tabular import parse_kv, read_csv

scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**53), 2**53), st.text(max_size=30))
objects = st.dictionaries(
    st.text(min_size=1, max_size=10),
    st.recursive(
        scalars,
        lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
        max_leaves=8,
    ),
    max_size=6,
)


@settings(max_examples=60, deadline=None)
@given(st.lists(objects, min_size=1, max_size=6))
def test_iter_json_reads_every_container(values):
    for data in (
        "\n".join(json.dumps(v) for v in values),  # JSON lines
        "".join(json.dumps(v) for v in values),  # concatenated, no separator (Firehose)
        "\n".join(json.dumps(v, indent=2) for v in values),  # pretty-printed documents
    ):
        got = list(iter_json(data.encode()))
        assert not any(isinstance(g, Bad) for g in got)
        assert got == values
    assert list(iter_json(json.dumps(values).encode())) == [values]


@settings(max_examples=60, deadline=None)
@given(st.lists(objects, min_size=2, max_size=5), st.integers(min_value=0, max_value=4))
def test_one_bad_line_loses_only_itself(values, where):
    lines = [json.dumps(v) for v in values]
    where = where % len(lines)
    lines[where] = lines[where][:-1] + "!"
    got = list(iter_json("\n".join(lines).encode()))
    assert len(got) == len(values)
    assert isinstance(got[where], Bad)
    assert [g for i, g in enumerate(got) if i != where] == [v for i, v in enumerate(values) if i != where]


cells = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\r"), max_size=40)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(cells, cells), min_size=1, max_size=5), st.permutations([0, 1, 2, 3]))
def test_csv_cells_map_by_header_whatever_their_text(rows, order):
    header = ["Event name", "Event time", "Request User Agent", "Other"]
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow([header[i] for i in order])
    for name, ua in rows:
        cols = [name if name.strip() else "X", "2024-05-01T10:00:00Z", ua, "{'not': 'mapped'}"]
        w.writerow([cols[i] for i in order])
    got = [o for o in read_csv(out.getvalue().encode(), literal=True)]
    assert len(got) == len(rows)
    for (name, ua), item in zip(rows, got, strict=True):
        rec = item.record  # type: ignore[union-attr]
        assert rec.eventName == (name.strip() or "X")
        assert rec.userAgent == (ua.strip() or None)


plain = st.text(
    st.characters(whitelist_categories=("Lu", "Ll", "Nd"), whitelist_characters="-_:/."),
    min_size=1,
    max_size=12,
).filter(lambda t: t != "null")  # Lake renders None as null: the one ambiguous value
kv = st.recursive(plain, lambda c: st.dictionaries(plain, c, min_size=1, max_size=3), max_leaves=6)


@given(st.dictionaries(plain, kv, min_size=1, max_size=4))
def test_parse_kv_round_trip(obj):
    def render(v):
        if isinstance(v, dict):
            return "{" + ", ".join(f"{k}={render(x)}" for k, x in v.items()) + "}"
        return v

    assert parse_kv(render(obj)) == obj


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=200), objects)
def test_first_object_of_bytes_that_are_not_utf8_is_none_not_an_error(junk, obj):
    from iamforensics.readers._common import _LAST_FIRST, first_object

    latin1 = json.dumps(obj, ensure_ascii=False).encode("latin-1", errors="replace") + b'{"k": "caf\xe9"}'
    for head in (junk, b"{" + junk, b'[{"eventName": "\xff\xfe"}', latin1, b"\xef\xbb\xbf{\xc3"):
        _LAST_FIRST[:] = [None, None]
        got = first_object(head)
        assert got is None or isinstance(got, dict)
    assert first_object(b'{"eventName": "caf\xc3\xa9"}') == {"eventName": "café"}
