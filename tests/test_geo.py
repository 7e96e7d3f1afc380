"""Offline IP enrichment: the bundled geoip2fast database, user-supplied MaxMind .mmdb files."""

from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path

import geoip2fast
import pandas as pd
import pytest

from iamforensics.analysis import geo, source_ips
from iamforensics.errors import IamForensicsError
from iamforensics.normalize import normalize_records
from tests.analysis_helpers import samples_answers

PKG = Path(geoip2fast.__file__).parent


@pytest.fixture
def fresh_geoip(monkeypatch):
    """Force the bundled database to be loaded again inside the test."""
    monkeypatch.setattr(geo._Geoip2Fast, "_instance", None)
    monkeypatch.setattr(geo._Geoip2Fast, "_tables", None)
    return geo.GeoLookup()


def _mmdb(path: Path, dbtype: str, networks: dict[str, dict]) -> Path:
    mmdb_writer = pytest.importorskip("mmdb_writer")
    from netaddr import IPSet

    w = mmdb_writer.MMDBWriter(ip_version=6, ipv4_compatible=True, database_type=dbtype)
    for net, rec in networks.items():
        w.insert_network(IPSet([net]), rec)
    w.to_db_file(str(path))
    return path


def test_the_package_ships_country_and_asn_databases_for_ipv4_and_ipv6():
    shipped = {p.name for p in PKG.glob("*.dat.gz")}
    assert {
        "geoip2fast.dat.gz",
        "geoip2fast-asn.dat.gz",
        "geoip2fast-ipv6.dat.gz",
        "geoip2fast-asn-ipv6.dat.gz",
    } <= shipped
    assert geo._Geoip2Fast.FILE in shipped


def test_lookups_need_no_network(monkeypatch, fresh_geoip):
    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    info = fresh_geoip.lookup("5.188.10.77")
    assert info["country_code"] == "RU" and info["asn_name"]
    assert "GeoLite2" in info["geo_source"]
    v6 = fresh_geoip.lookup("2a03:2880:f10c:83:face:b00c:0:25de")
    assert v6["country_code"] and v6["asn_name"]


def test_a_database_file_in_the_working_directory_is_never_loaded(tmp_path, monkeypatch, fresh_geoip):
    # geoip2fast looks in the working directory first, and its files are pickles.
    (tmp_path / geo._Geoip2Fast.FILE).write_bytes(b"not a database")
    monkeypatch.chdir(tmp_path)
    assert fresh_geoip.lookup("81.2.69.161")["country_code"] == "GB"


def test_the_scenario_answer_key_agrees_with_the_lookup():
    answers = samples_answers()
    lk = geo.GeoLookup()
    for a in answers["attacker_ips"] + [i for i in answers["legitimate_ips"] if "country_code" in i]:
        info = lk.lookup(a["ip"])
        assert (info["country_code"], info["country"], info["asn_name"]) == (
            a["country_code"],
            a["country"],
            a["asn_name"],
        )


def test_only_routable_parsed_addresses_are_looked_up():
    lk = geo.GeoLookup()
    for value in (
        "035.249.253.232",
        "10.0.0.1",
        "192.168.1.1",
        "0.0.0.0",
        "AWS Internal",
        "nonsense",
        "",
        None,
    ):
        assert all(v is None for v in lk.lookup(value).values()), value


def test_an_asn_whose_network_does_not_hold_the_address_is_dropped(fresh_geoip):
    from geoip2fast import GeoIP2Fast

    raw = GeoIP2Fast(geoip2fast_data_file=str(PKG / geo._Geoip2Fast.FILE))
    checked = 0
    for ip in ("1.2.3.4", "5.188.10.77", "8.8.8.8", "81.2.69.161", "193.32.162.80", "91.240.118.172"):
        r = raw.lookup(ip)
        ours = fresh_geoip.lookup(ip)["asn_name"]
        inside = bool(r.asn_cidr) and ipaddress.ip_address(ip) in ipaddress.ip_network(
            r.asn_cidr, strict=False
        )
        assert ours == (r.asn_name if inside and r.asn_name else None), ip
        checked += not inside and bool(r.asn_name)
    assert checked >= 1  # the database does answer out-of-network ASNs for IPv4 in the IPv6 file


def test_another_geoip2fast_database_loaded_meanwhile_is_tolerated():
    from geoip2fast import GeoIP2Fast

    lk = geo.GeoLookup()
    before = lk.lookup("2a03:2880:f10c:83:face:b00c:0:25de")
    GeoIP2Fast(
        geoip2fast_data_file=str(PKG / "geoip2fast.dat.gz")
    )  # country-only, IPv4: replaces the globals
    fresh = geo.GeoLookup()
    assert fresh.lookup("2a03:2880:f10c:83:face:b00c:0:25de") == before


def test_enrich_adds_geo_columns():
    df = pd.DataFrame({"source_ip": ["5.188.10.77", None, "10.0.0.1", "5.188.10.77"], "n": [1, 2, 3, 4]})
    out = geo.enrich(df)
    assert out["n"].tolist() == [1, 2, 3, 4]
    assert out["country_code"].tolist() == ["RU", None, None, "RU"]
    assert set(geo.GEO_COLUMNS) <= set(out.columns)


def test_user_mmdb_city_and_asn_answer_first(tmp_path):
    city = _mmdb(tmp_path / "City.mmdb", "GeoLite2-City", {
        "81.2.69.0/24": {"country": {"iso_code": "GB", "names": {"en": "United Kingdom"}},
                         "city": {"names": {"en": "London"}}, "location": {"latitude": 51.5, "longitude": -0.12}},
        "193.252.0.0/16": {"country": {"iso_code": "FR", "names": {"en": "France"}},
                           "city": {"names": {"en": "Paris"}}, "location": {"latitude": 48.86, "longitude": 2.35}},
    })  # fmt: skip
    asn = _mmdb(tmp_path / "ASN.mmdb", "GeoLite2-ASN", {
        "81.2.69.0/24": {"autonomous_system_number": 20712, "autonomous_system_organization": "Andrews & Arnold Ltd"},
    })  # fmt: skip
    lk = geo.GeoLookup(mmdb=[city, asn])
    london = lk.lookup("81.2.69.161")
    assert (london["city"], london["asn"], london["geo_precision"]) == ("London", 20712, "city")
    assert london["geo_source"] == "GeoLite2-City + GeoLite2-ASN"
    paris = lk.lookup("193.252.0.1")  # in the City database only: the ASN comes from geoip2fast
    assert paris["city"] == "Paris" and paris["asn"] is None and paris["asn_name"]
    assert "GeoLite2-City" in paris["geo_source"] and "geoip2fast" in paris["geo_source"]
    elsewhere = lk.lookup("5.188.10.77")  # in neither: geoip2fast and a country centre
    assert elsewhere["country_code"] == "RU" and elsewhere["geo_precision"] == "country"
    assert "geoip2fast" in lk.source and "GeoLite2-City" in lk.source

    # With city coordinates, London -> Paris (343 km) in 20 minutes is below the distance floor.
    def rec(n: int, t: str, ip: str) -> dict:
        return {
            "eventVersion": "1.08", "eventID": f"00000000-0000-0000-0000-{n:012d}", "eventTime": t,
            "eventSource": "s3.amazonaws.com", "eventName": "ListBuckets", "awsRegion": "eu-west-2",
            "sourceIPAddress": ip,
            "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111111111111:user/u", "accountId": "111111111111"},
        }  # fmt: skip

    table, _ = normalize_records(
        [rec(1, "2024-01-01T10:00:00Z", "81.2.69.161"), rec(2, "2024-01-01T10:20:00Z", "193.252.0.1")]
    )
    moves = source_ips.impossible_travel(table.to_pandas(), geo=[str(city), str(asn)], all_moves=True)
    (move,) = moves.to_dict("records")
    assert move["precision"] == "city" and 330 < move["distance_km"] < 360 and not move["impossible"]
    tight = source_ips.impossible_travel(table.to_pandas(), geo=lk, min_distance_km=100)
    assert len(tight) == 1  # 343 km in 20 minutes is ~1,000 km/h


def test_bad_mmdb_paths_are_clear_errors(tmp_path):
    with pytest.raises(IamForensicsError, match="not found"):
        geo.GeoLookup(mmdb=tmp_path / "missing.mmdb")
    junk = tmp_path / "junk.mmdb"
    junk.write_bytes(os.urandom(256))
    with pytest.raises(IamForensicsError, match="not a MaxMind"):
        geo.GeoLookup(mmdb=junk)


def test_country_centres_are_sane():
    assert len(geo.COUNTRY_CENTRES) > 200
    for cc, (lat, lon) in geo.COUNTRY_CENTRES.items():
        assert len(cc) == 2 and cc.isupper() and -90 <= lat <= 90 and -180 <= lon <= 180
    assert 300 < geo.distance_km(geo.COUNTRY_CENTRES["GB"], geo.COUNTRY_CENTRES["FR"]) < 1200
