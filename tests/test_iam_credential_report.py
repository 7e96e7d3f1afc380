"""The credential report: every column typed, every sentinel kept, every container form."""

from __future__ import annotations

import base64
import csv
import io
import json

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iamforensics.errors import EvidenceError
from iamforensics.iam import credential_report
from iamforensics.iam.credential_report import BOOL_COLUMNS, COLUMNS, DATE_COLUMNS
from tests.iam_fixtures import CR_HEADER, CREDENTIAL_REPORT, A


@pytest.fixture()
def report():
    return credential_report(CREDENTIAL_REPORT.encode())


def test_every_documented_column_is_typed(report):
    for col in DATE_COLUMNS:
        assert str(report[col].dtype) == "datetime64[us, UTC]", col
    for col in BOOL_COLUMNS:
        assert str(report[col].dtype) == "boolean", col
    assert set(COLUMNS) <= set(report.columns)
    assert report["user"].tolist() == ["<root_account>", "s3test", "dana", "erin", "a,b"]


def test_booleans_are_case_insensitive_and_sentinels_are_na(report):
    r = report.set_index("user")
    assert bool(r.loc["<root_account>", "mfa_active"])
    assert bool(r.loc["s3test", "access_key_1_active"]) and bool(r.loc["s3test", "access_key_2_active"])
    assert bool(r.loc["dana", "password_enabled"]) and bool(r.loc["dana", "mfa_active"])
    assert r.loc["<root_account>", "password_enabled"] is pd.NA  # not_supported


def test_dates_with_offsets_become_utc_and_sentinels_are_kept_in_notes(report):
    r = report.set_index("user")
    assert r.loc["s3test", "password_last_used"] == pd.Timestamp("2024-05-10T07:00:00Z")
    assert r.loc["erin", "user_creation_time"] == pd.Timestamp("2024-05-01T05:00:00Z")
    assert pd.isna(r.loc["dana", "password_last_used"])
    assert r.loc["dana", "password_last_used_note"] == "no_information"
    assert r.loc["<root_account>", "password_last_changed_note"] == "not_supported"
    assert r.loc["erin", "access_key_1_last_used_date_note"] == "N/A"
    assert pd.isna(r.loc["s3test", "password_last_used_note"])  # a real date has no note
    assert pd.isna(r.loc["s3test", "access_key_2_last_used_region"])  # N/A region (S3 is global)
    assert r.loc["s3test", "access_key_2_last_used_service"] == "s3"


def test_derived_columns(report):
    assert report["is_root"].tolist() == [True, False, False, False, False]
    assert set(report["account_id"]) == {A}
    assert report["line"].tolist() == [2, 3, 4, 5, 6]
    assert report["generated_time"].isna().all()


def test_cli_json_with_base64_content_and_bare_base64(tmp_path):
    b64 = base64.b64encode(CREDENTIAL_REPORT.encode()).decode()
    j = tmp_path / "cr.json"
    j.write_text(
        json.dumps({"Content": b64, "ReportFormat": "text/csv", "GeneratedTime": "2024-05-12T06:00:00Z"})
    )
    t = tmp_path / "cr.b64"
    t.write_text("\n".join(b64[i : i + 76] for i in range(0, len(b64), 76)) + "\n")
    both = credential_report([j, t])
    assert len(both) == 10
    assert (both["generated_time"].iloc[:5] == pd.Timestamp("2024-05-12T06:00:00Z")).all()
    assert both["source"].iloc[0] == str(j) and both["source"].iloc[-1] == str(t)
    plain = credential_report(CREDENTIAL_REPORT.encode())
    pd.testing.assert_series_equal(
        both["password_last_used"].iloc[:5].reset_index(drop=True), plain["password_last_used"]
    )


def test_bom_extra_columns_and_missing_columns():
    data = (f"\ufeffuser,arn,mfa_active,future_col\nbob,arn:aws:iam::{A}:user/bob,FALSE,x\n").encode()
    r = credential_report(data)
    assert r.loc[0, "future_col"] == "x"
    assert not bool(r.loc[0, "mfa_active"])
    assert r["password_enabled"].isna().all() and str(r["password_enabled"].dtype) == "boolean"
    assert r["password_last_used"].isna().all()


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "not a credential report"),
        (b'{"Content": 3}', "Content"),
        (b"eventVersion,eventTime\n1,2\n", "not a credential report"),
        (CR_HEADER.encode() + b"\nx,y\n", "line 2"),
        (b"user,arn,mfa_active\nbob,arn:aws:iam::1:user/bob,maybe\n", "mfa_active"),
    ],
)
def test_bad_input_is_an_error_saying_where(data, message):
    with pytest.raises(EvidenceError, match=message):
        credential_report(data)


# --- property: whatever the (legal) values, the typed frame says the same as the text ------------

_SENTINEL = st.sampled_from(["N/A", "no_information", "not_supported"])
_DATE = st.datetimes(
    min_value=pd.Timestamp("2010-01-01").to_pydatetime(), max_value=pd.Timestamp("2030-01-01").to_pydatetime()
)
_OFFSET = st.sampled_from(["+00:00", "-05:00", "+02:00", "+05:30", "Z"])
_BOOL = st.sampled_from(["true", "false", "TRUE", "FALSE", "True", "False"])


@st.composite
def _cell(draw, col):
    if col in BOOL_COLUMNS:
        return draw(st.one_of(_BOOL, _SENTINEL))
    if col in DATE_COLUMNS:
        if draw(st.booleans()):
            return draw(_SENTINEL)
        d, off = draw(_DATE), draw(_OFFSET)
        return d.replace(microsecond=0).isoformat() + off
    if col == "user":
        return draw(st.from_regex(r"[A-Za-z0-9+=,.@_-]{1,20}", fullmatch=True))
    if col == "arn":
        return f"arn:aws:iam::{A}:user/x"
    return draw(st.one_of(st.just("N/A"), st.sampled_from(["s3", "iam", "eu-west-1", "us-east-1"])))


@st.composite
def _rows(draw):
    return [[draw(_cell(c)) for c in COLUMNS] for _ in range(draw(st.integers(1, 4)))]


@settings(max_examples=60, deadline=None)
@given(_rows())
def test_typed_values_match_the_text(rows):
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(COLUMNS)
    w.writerows(rows)
    df = credential_report(buf.getvalue().encode())
    assert len(df) == len(rows)
    for i, row in enumerate(rows):
        for col, text in zip(COLUMNS, row, strict=True):
            got = df.loc[i, col]
            if col in BOOL_COLUMNS:
                if text.lower() in ("true", "false"):
                    assert bool(got) == (text.lower() == "true")
                else:
                    assert got is pd.NA
            elif col in DATE_COLUMNS:
                if text in ("N/A", "no_information", "not_supported"):
                    assert pd.isna(got) and df.loc[i, f"{col}_note"] == text
                else:
                    assert got == pd.Timestamp(text).tz_convert("UTC")
                    assert pd.isna(df.loc[i, f"{col}_note"])
            elif text == "N/A":
                assert pd.isna(got)
            else:
                assert got == text
