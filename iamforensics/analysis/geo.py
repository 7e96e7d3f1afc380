"""Offline IP enrichment: country and ASN, from geoip2fast or from MaxMind .mmdb files.

No lookup ever touches the network. By default the database shipped inside the
``geoip2fast`` package is used: ``geoip2fast-asn-ipv6.dat.gz``, MaxMind GeoLite2 Country +
ASN for IPv4 and IPv6 (its date is in ``geo_source``; the package also ships country-only
and IPv4-only variants). geoip2fast gives the ASN's name, not its number. When the investigator has MaxMind
databases (GeoLite2/GeoIP2 City, Country or ASN ``.mmdb``), pass their paths and they
answer instead (read with ``maxminddb``); whatever they do not cover (e.g. ASN when only a
City database is given) still comes from geoip2fast, and ``geo_source`` says which.

Coordinates come from a City database when given (``geo_precision = "city"``); otherwise
from the country's geographic centre (:data:`COUNTRY_CENTRES`, the CIA World Factbook
"geographic coordinates" of each country, public domain), ``geo_precision = "country"``.

Only parsed addresses are looked up: a raw ``sourceIPAddress`` such as ``035.249.253.232``
(leading zeros, which ``inet_aton`` would silently read as octal) never reaches a database.

Examples
--------
>>> geo = GeoLookup()
>>> info = geo.lookup("5.188.10.77")
>>> info["country_code"], info["asn_name"]
('RU', 'Green Floid LLC')
"""

from __future__ import annotations

import ipaddress
import math
import os
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import IamForensicsError

GEO_COLUMNS: tuple[str, ...] = (
    "country_code",
    "country",
    "asn",
    "asn_name",
    "city",
    "latitude",
    "longitude",
    "geo_precision",
    "geo_source",
)

#: Geographic centre (lat, lon) of each country by ISO 3166-1 alpha-2 code, from the CIA
#: World Factbook "geographic coordinates" (US government work, public domain). Good to a few
#: hundred km for most countries, worse for large ones: see impossible_travel's min distance.
COUNTRY_CENTRES: dict[str, tuple[float, float]] = {
    "AD": (42.5, 1.5), "AE": (24.0, 54.0), "AF": (33.0, 66.0), "AG": (17.05, -61.8),
    "AI": (18.22, -63.05), "AL": (41.0, 20.0), "AM": (40.0, 45.0), "AO": (-12.5, 18.5),
    "AR": (-34.0, -64.0), "AS": (-14.33, -170.0), "AT": (47.33, 13.33), "AU": (-25.0, 135.0),
    "AW": (12.5, -69.97), "AZ": (40.5, 47.5), "BA": (44.25, 17.83), "BB": (13.17, -59.53),
    "BD": (24.0, 90.0), "BE": (50.83, 4.0), "BF": (13.0, -2.0), "BG": (43.0, 25.0),
    "BH": (26.0, 50.5), "BI": (-3.5, 30.0), "BJ": (9.5, 2.25), "BL": (17.9, -62.83),
    "BM": (32.33, -64.75), "BN": (4.5, 114.67), "BO": (-17.0, -65.0), "BQ": (12.2, -68.25),
    "BR": (-10.0, -55.0), "BS": (24.0, -76.0), "BT": (27.5, 90.5), "BV": (-54.43, 3.4),
    "BW": (-22.0, 24.0), "BY": (53.0, 28.0), "BZ": (17.25, -88.75), "CA": (60.0, -96.0),
    "CC": (-12.0, 96.83), "CD": (0.0, 25.0), "CF": (7.0, 21.0), "CG": (-1.0, 15.0),
    "CH": (47.0, 8.0), "CI": (8.0, -5.0), "CK": (-16.08, -161.58), "CL": (-30.0, -71.0),
    "CM": (6.0, 12.0), "CN": (35.0, 105.0), "CO": (4.0, -72.0), "CR": (10.0, -84.0),
    "CU": (22.0, -79.5), "CV": (16.0, -24.0), "CW": (12.17, -69.0), "CX": (-10.5, 105.67),
    "CY": (35.0, 33.0), "CZ": (49.75, 15.0), "DE": (51.5, 10.5), "DJ": (11.5, 42.5),
    "DK": (56.0, 10.0), "DM": (15.5, -61.33), "DO": (19.0, -70.67), "DZ": (28.0, 3.0),
    "EC": (-2.0, -77.5), "EE": (59.0, 26.0), "EG": (27.0, 30.0), "EH": (25.0, -13.5),
    "ER": (15.0, 39.0), "ES": (40.0, -4.0), "ET": (8.0, 38.0), "FI": (64.0, 26.0),
    "FJ": (-18.0, 178.0), "FK": (-51.75, -59.17), "FM": (5.0, 152.0), "FO": (62.0, -7.0),
    "FR": (46.0, 2.0), "GA": (-1.0, 11.75), "GB": (54.0, -4.0), "GD": (12.12, -61.67),
    "GE": (42.0, 43.5), "GF": (4.0, -53.0), "GG": (49.58, -2.33), "GH": (8.0, -2.0),
    "GI": (36.13, -5.35), "GL": (72.0, -40.0), "GM": (13.5, -15.5), "GN": (11.0, -10.0),
    "GP": (16.25, -61.58), "GQ": (2.0, 10.0), "GR": (39.0, 22.0), "GS": (-56.0, -33.0),
    "GT": (15.5, -90.25), "GU": (13.44, 144.74), "GW": (12.0, -15.0), "GY": (5.0, -59.0),
    "HK": (22.25, 114.17), "HM": (-53.0, 73.0), "HN": (15.0, -86.5), "HR": (45.17, 15.5),
    "HT": (19.0, -72.42), "HU": (47.0, 20.0), "ID": (-5.0, 120.0), "IE": (53.0, -8.0),
    "IL": (31.5, 34.75), "IM": (54.25, -4.5), "IN": (20.0, 77.0), "IO": (-6.0, 72.0),
    "IQ": (33.0, 44.0), "IR": (32.0, 53.0), "IS": (65.0, -18.0), "IT": (42.83, 12.83),
    "JE": (49.22, -2.12), "JM": (18.25, -77.5), "JO": (31.0, 36.0), "JP": (36.0, 138.0),
    "KE": (1.0, 38.0), "KG": (41.0, 75.0), "KH": (13.0, 105.0), "KI": (-5.0, -170.0),
    "KM": (-12.17, 44.25), "KN": (17.33, -62.75), "KP": (40.0, 127.0), "KR": (37.0, 127.5),
    "KW": (29.5, 47.75), "KY": (19.5, -80.67), "KZ": (48.0, 68.0), "LA": (18.0, 105.0),
    "LB": (33.83, 35.83), "LC": (13.88, -60.97), "LI": (47.17, 9.53), "LK": (7.0, 81.0),
    "LR": (6.5, -9.5), "LS": (-29.5, 28.25), "LT": (56.0, 24.0), "LU": (49.75, 6.17),
    "LV": (57.0, 25.0), "LY": (25.0, 17.0), "MA": (32.0, -5.0), "MC": (43.73, 7.4),
    "MD": (47.0, 29.0), "ME": (42.5, 19.3), "MF": (18.08, -63.06), "MG": (-20.0, 47.0),
    "MH": (10.0, 167.0), "MK": (41.83, 22.0), "ML": (17.0, -4.0), "MM": (22.0, 98.0),
    "MN": (46.0, 105.0), "MO": (22.16, 113.56), "MP": (16.0, 146.0), "MQ": (14.67, -61.0),
    "MR": (20.0, -12.0), "MS": (16.75, -62.2), "MT": (35.92, 14.43), "MU": (-20.3, 57.58),
    "MV": (3.2, 73.0), "MW": (-13.5, 34.0), "MX": (23.0, -102.0), "MY": (2.5, 112.5),
    "MZ": (-18.25, 35.0), "NA": (-22.0, 17.0), "NC": (-21.5, 165.5), "NE": (16.0, 8.0),
    "NF": (-29.03, 167.95), "NG": (10.0, 8.0), "NI": (13.0, -85.0), "NL": (52.5, 5.75),
    "NO": (62.0, 10.0), "NP": (28.0, 84.0), "NR": (-0.53, 166.92), "NU": (-19.03, -169.87),
    "NZ": (-42.0, 174.0), "OM": (21.0, 57.0), "PA": (9.0, -80.0), "PE": (-10.0, -76.0),
    "PF": (-15.0, -140.0), "PG": (-6.0, 147.0), "PH": (13.0, 122.0), "PK": (30.0, 70.0),
    "PL": (52.0, 20.0), "PM": (46.83, -56.33), "PN": (-25.07, -130.1), "PR": (18.25, -66.5),
    "PS": (31.67, 35.25), "PT": (39.5, -8.0), "PW": (6.0, 134.0), "PY": (-22.99, -58.0),
    "QA": (25.5, 51.25), "RE": (-21.1, 55.6), "RO": (46.0, 25.0), "RS": (44.0, 21.0),
    "RU": (60.0, 100.0), "RW": (-2.0, 30.0), "SA": (25.0, 45.0), "SB": (-8.0, 159.0),
    "SC": (-4.58, 55.67), "SD": (16.0, 30.0), "SE": (62.0, 15.0), "SG": (1.37, 103.8),
    "SH": (-15.95, -5.7), "SI": (46.25, 15.17), "SJ": (78.0, 20.0), "SK": (48.67, 19.5),
    "SL": (8.5, -11.5), "SM": (43.93, 12.42), "SN": (14.0, -14.0), "SO": (6.0, 48.0),
    "SR": (4.0, -56.0), "SS": (8.0, 30.0), "ST": (1.0, 7.0), "SV": (13.83, -88.92),
    "SX": (18.04, -63.07), "SY": (35.0, 38.0), "SZ": (-26.5, 31.5), "TC": (21.73, -71.58),
    "TD": (15.0, 19.0), "TF": (-43.0, 67.0), "TG": (8.0, 1.17), "TH": (15.0, 100.0),
    "TJ": (39.0, 71.0), "TK": (-9.0, -171.75), "TL": (-8.83, 125.75), "TM": (40.0, 60.0),
    "TN": (34.0, 9.0), "TO": (-20.0, -175.0), "TR": (39.06, 34.91), "TT": (11.0, -61.0),
    "TV": (-8.0, 178.0), "TW": (24.0, 121.0), "TZ": (-6.0, 35.0), "UA": (49.0, 32.0),
    "UG": (2.0, 33.0), "UM": (5.88, -162.07), "US": (39.83, -98.58), "UY": (-33.0, -56.0),
    "UZ": (41.71, 63.85), "VA": (41.9, 12.45), "VC": (13.08, -61.2), "VE": (8.0, -66.0),
    "VG": (18.5, -64.5), "VI": (18.35, -64.98), "VN": (16.17, 107.83), "VU": (-16.0, 167.0),
    "WF": (-13.3, -176.2), "WS": (-13.8, -172.18), "XK": (42.58, 21.0), "YE": (15.5, 47.5),
    "YT": (-12.83, 45.17), "ZA": (-30.0, 26.0), "ZM": (-15.0, 30.0), "ZW": (-19.0, 29.0),
}  # fmt: skip

_EARTH_KM = 6371.0088


def distance_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle (haversine) distance between two (lat, lon) points in km.

    Examples
    --------
    >>> round(distance_km((51.5, -0.12), (48.86, 2.35)))
    342
    """
    la1, lo1, la2, lo2 = map(math.radians, (a[0], a[1], b[0], b[1]))
    h = math.sin((la2 - la1) / 2) ** 2 + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2
    return 2 * _EARTH_KM * math.asin(min(1.0, math.sqrt(h)))


def distance_km_array(lat1: Any, lon1: Any, lat2: Any, lon2: Any) -> Any:
    """:func:`distance_km` over numpy arrays of degrees (vectorised)."""
    import numpy as np

    la1, lo1, la2, lo2 = (np.radians(np.asarray(v, dtype=float)) for v in (lat1, lon1, lat2, lon2))
    h = np.sin((la2 - la1) / 2) ** 2 + np.cos(la1) * np.cos(la2) * np.sin((lo2 - lo1) / 2) ** 2
    return 2 * _EARTH_KM * np.arcsin(np.minimum(1.0, np.sqrt(h)))


def _empty() -> dict[str, Any]:
    return {c: None for c in GEO_COLUMNS}


class _Geoip2Fast:
    """The geoip2fast database shipped in the package (IPv4 + IPv6, with ASN), loaded once.

    geoip2fast keeps its tables in module globals, so a process holds one database at a
    time: if other code loads another file, the tables are reloaded before the next lookup.
    The file is always opened by its path in the package, never from the working directory
    (geoip2fast looks there first, and its files are pickles).
    """

    FILE = "geoip2fast-asn-ipv6.dat.gz"
    _lock = threading.Lock()
    _instance: Any = None
    _tables: Any = None

    @classmethod
    def lookup(cls, ip: str) -> dict[str, Any]:
        import geoip2fast
        from geoip2fast import geoip2fast as g2f

        with cls._lock:
            if cls._instance is None or getattr(g2f, "mainIndex", None) is not cls._tables:
                path = os.path.join(os.path.dirname(geoip2fast.__file__), cls.FILE)
                inst = g2f.GeoIP2Fast(geoip2fast_data_file=path)
                cls._instance, cls._tables = inst, getattr(g2f, "mainIndex", None)
            r = cls._instance.lookup(ip)
            source = "geoip2fast:" + str(getattr(cls._instance, "source_info", cls.FILE))
        out = _empty()
        cc = r.country_code if r.country_code and len(r.country_code) == 2 else None
        if cc and not r.is_private:
            out["country_code"], out["country"] = cc, r.country_name or None
        asn_name, asn_cidr = r.asn_name or "", r.asn_cidr or ""
        # geoip2fast's IPv4+IPv6 database checks an IPv4 hit against the IPv6 prefix size,
        # so it can answer an ASN whose network does not contain the address: verify it.
        if asn_name and asn_cidr and not r.is_private:
            try:
                if ipaddress.ip_address(ip) in ipaddress.ip_network(asn_cidr, strict=False):
                    out["asn_name"] = asn_name
            except ValueError:
                pass
        out["geo_source"] = source
        return out


class GeoLookup:
    """Country / ASN / location of an IP address, offline.

    Parameters
    ----------
    mmdb : path or paths of MaxMind databases (City, Country and/or ASN ``.mmdb``); their
        answers take precedence, geoip2fast fills what they do not cover. None: geoip2fast only.

    Examples
    --------
    >>> GeoLookup().lookup("10.0.0.1")["country_code"] is None
    True
    >>> GeoLookup(mmdb=["GeoLite2-City.mmdb", "GeoLite2-ASN.mmdb"])  # doctest: +SKIP
    """

    def __init__(self, mmdb: str | Path | Sequence[str | Path] | None = None):
        self._readers: list[tuple[str, Any]] = []
        paths = [mmdb] if isinstance(mmdb, str | Path) else list(mmdb or [])
        for p in paths:
            self._readers.append(self._open(Path(p)))
        self._cache: dict[str, dict[str, Any]] = {}

    @staticmethod
    def _open(path: Path) -> tuple[str, Any]:
        import maxminddb

        if not path.is_file():
            raise IamForensicsError(f"MaxMind database not found: {path}")
        try:
            reader = maxminddb.open_database(str(path))
        except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
            raise IamForensicsError(f"{path} is not a MaxMind .mmdb database: {exc}") from None
        return str(reader.metadata().database_type), reader

    @property
    def source(self) -> str:
        """Which databases answer (for a report's methods section)."""
        names = [t for t, _ in self._readers]
        return " + ".join(names + ["geoip2fast (GeoLite2 Country+ASN, bundled)"])

    def lookup(self, ip: str | None) -> dict[str, Any]:
        """Geo fields of one address (all None for private, invalid or unknown addresses)."""
        if not ip:
            return _empty()
        hit = self._cache.get(ip)
        if hit is not None:
            return hit
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            out = _empty()
        else:
            out = self._lookup(str(addr)) if addr.is_global else _empty()
        self._cache[ip] = out
        return out

    def _lookup(self, ip: str) -> dict[str, Any]:
        out = _empty()
        sources: list[str] = []
        for dbtype, reader in self._readers:
            try:
                rec = reader.get(ip)
            except ValueError:
                rec = None
            if not isinstance(rec, dict):
                continue
            used = False
            country = rec.get("country") or rec.get("registered_country") or {}
            if country.get("iso_code") and out["country_code"] is None:
                out["country_code"] = country["iso_code"]
                out["country"] = (country.get("names") or {}).get("en")
                used = True
            loc = rec.get("location") or {}
            if loc.get("latitude") is not None and out["latitude"] is None:
                out["latitude"], out["longitude"] = float(loc["latitude"]), float(loc["longitude"])
                out["city"] = ((rec.get("city") or {}).get("names") or {}).get("en")
                out["geo_precision"] = "city" if out["city"] else "mmdb"
                used = True
            if rec.get("autonomous_system_number") is not None and out["asn"] is None:
                out["asn"] = int(rec["autonomous_system_number"])
                out["asn_name"] = rec.get("autonomous_system_organization")
                used = True
            if used:
                sources.append(dbtype)
        if out["country_code"] is None or out["asn_name"] is None:
            fb = _Geoip2Fast.lookup(ip)
            took = False
            if out["country_code"] is None and fb["country_code"]:
                out["country_code"], out["country"] = fb["country_code"], fb["country"]
                took = True
            if out["asn_name"] is None and fb["asn_name"]:
                out["asn_name"] = fb["asn_name"]
                took = True
            if took:
                sources.append(fb["geo_source"])
        if out["latitude"] is None and out["country_code"] in COUNTRY_CENTRES:
            out["latitude"], out["longitude"] = COUNTRY_CENTRES[out["country_code"]]
            out["geo_precision"] = "country"
        out["geo_source"] = " + ".join(sources) or None
        return out

    def frame(self, ips: Iterable[str | None]) -> pd.DataFrame:
        """One row per distinct address: ``ip`` plus :data:`GEO_COLUMNS`."""
        uniq = sorted({i for i in ips if isinstance(i, str) and i})
        rows = [{"ip": ip, **self.lookup(ip)} for ip in uniq]
        df = pd.DataFrame(rows, columns=["ip", *GEO_COLUMNS])
        df["asn"] = df["asn"].astype("Int64")
        df["latitude"] = df["latitude"].astype("float64")
        df["longitude"] = df["longitude"].astype("float64")
        return df


_DEFAULT: GeoLookup | None = None


def default_lookup() -> GeoLookup:
    """The process-wide geoip2fast-only lookup (its cache is shared)."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = GeoLookup()
    return _DEFAULT


def resolve(geo: GeoLookup | str | Path | Sequence[str | Path] | None) -> GeoLookup:
    """A GeoLookup from what an analysis was given (None: the bundled database)."""
    if geo is None:
        return default_lookup()
    if isinstance(geo, GeoLookup):
        return geo
    return GeoLookup(mmdb=geo)


def enrich(
    df: pd.DataFrame,
    column: str = "source_ip",
    *,
    geo: GeoLookup | str | Path | Sequence[str | Path] | None = None,
) -> pd.DataFrame:
    """A copy of ``df`` with :data:`GEO_COLUMNS` added for the addresses in ``column``.

    Examples
    --------
    >>> enrich(pd.DataFrame({"source_ip": ["5.188.10.77", None]}))["country_code"].tolist()
    ['RU', None]
    """
    lk = resolve(geo)
    table = lk.frame(df[column]) if column in df.columns else lk.frame([])
    out = df.drop(columns=[c for c in GEO_COLUMNS if c in df.columns]).merge(
        table.rename(columns={"ip": column}), on=column, how="left"
    )
    out["country_code"] = out["country_code"].astype(object).where(out["country_code"].notna(), None)
    return out
