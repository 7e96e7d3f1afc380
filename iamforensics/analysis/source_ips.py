"""Source-IP questions: where calls came from, who shared an address, what is new for a
principal, and travel that is not physically possible.

Classification (:func:`classify`, column ``ip_class``): ``public``, ``private``,
``aws-service`` (a service name such as ``ec2.amazonaws.com``), ``aws-internal``, ``ipv6``
(any IPv6 client) and ``invalid`` (anything that is not an address: anonymised literals with
leading-zero octets like ``035.249.253.232``, placeholders, ``0.0.0.0``). Only parsed
addresses are enriched with country and ASN (offline, see :mod:`.geo`).

Impossible travel: two consecutive calls of one actor from places ``d`` km apart, ``t``
hours apart, with ``d >= min_distance_km`` (default 500) and ``d / t > max_speed_kmh``
(default 1000 km/h, above an airliner's ~900 km/h cruise, so a real flight never triggers
it). Places are country centres unless a City .mmdb is given, so neighbouring countries and
large countries are coarse: ``min_distance_km`` keeps centre-to-centre noise out. VPNs,
proxies and cloud egress make legitimate "travel" too: treat a hit as a lead.

Examples
--------
>>> ip_summary(case).head()  # doctest: +SKIP
>>> new_for_actor(case, since="2024-05-08")  # doctest: +SKIP
>>> impossible_travel(case, mmdb="GeoLite2-City.mmdb")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..case import TimeLike
from ..errors import QueryError
from ..normalize import classify_ip
from . import geo as _geo
from ._base import Events, and_where, source, utc, utc_columns

GeoArg = _geo.GeoLookup | str | Path | Sequence[str | Path] | None

#: SQL: the classification with IPv6 clients as their own class.
IP_CLASS = "CASE WHEN ip_class IN ('public', 'private') AND contains(coalesce(source_ip, ''), ':') THEN 'ipv6' ELSE ip_class END"

#: SQL: the actor is an EC2 instance-profile session.
INSTANCE_SESSION = (
    "user_type = 'AssumedRole' AND (ec2_role_delivery IS NOT NULL "
    "OR regexp_matches(coalesce(session_name, ''), '^i-[0-9a-fA-F]{8,17}$'))"
)


def classify(value: str | None) -> str | None:
    """public, private, aws-service, aws-internal, ipv6 or invalid (None when empty).

    Examples
    --------
    >>> [classify(v) for v in ["5.188.10.77", "10.0.0.7", "035.249.253.232", "2600:1f18::1", "AWS Internal"]]
    ['public', 'private', 'invalid', 'ipv6', 'aws-internal']
    """
    ip, cls = classify_ip(value)
    if ip is not None and ":" in ip:
        return "ipv6"
    return cls


def _pairs(
    src: Any,
    start: TimeLike,
    end: TimeLike,
    actor: str | Sequence[str] | None,
    split: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Per (actor, raw source address): counts and times, optionally before/after ``split``."""
    where, params = src.where(start, end, actor=actor)
    split_cols = ""
    split_params: list[Any] = []
    if split is not None:
        split_cols = (
            ", count(*) FILTER (WHERE event_time < ?) AS baseline_events"
            ", min(event_time) FILTER (WHERE event_time >= ?) AS first_after"
            ", count(*) FILTER (WHERE event_time >= ?) AS events_after"
        )
        split_params = [split.to_pydatetime()] * 3
    df = src.sql(
        f"""
        SELECT coalesce(actor, '(unknown)') AS actor, source_ip_address, any_value(source_ip) AS ip,
               any_value({IP_CLASS}) AS ip_class, count(*) AS events,
               count(*) FILTER (WHERE coalesce(is_error, FALSE)) AS errors,
               min(event_time) AS first_seen, max(event_time) AS last_seen{split_cols}
        FROM events{where} GROUP BY 1, 2
        """,
        [*split_params, *params],
    )
    return utc_columns(df, "first_seen", "last_seen", "first_after")


def ip_summary(
    events: Events,
    start: TimeLike = None,
    end: TimeLike = None,
    *,
    actor: str | Sequence[str] | None = None,
    geo: GeoArg = None,
    enrich: bool = True,
    max_list: int = 10,
) -> pd.DataFrame:
    """One row per source address: first/last seen, events, errors, actors and user agents
    (counts and the first ``max_list`` names), classification and country / ASN.

    Returns
    -------
    DataFrame: source_ip_address (raw), ip (parsed or None), ip_class, first_seen, last_seen,
    events, errors, actors, actor_list, user_agents, user_agent_list, access_keys, plus
    :data:`~iamforensics.analysis.geo.GEO_COLUMNS`; most events first.
    """
    src = source(events)
    where, params = src.where(start, end, actor=actor)
    df = src.sql(
        f"""
        SELECT source_ip_address, any_value(source_ip) AS ip, any_value({IP_CLASS}) AS ip_class,
               min(event_time) AS first_seen, max(event_time) AS last_seen, count(*) AS events,
               count(*) FILTER (WHERE coalesce(is_error, FALSE)) AS errors,
               count(DISTINCT actor) AS actors,
               list_slice(list(DISTINCT actor ORDER BY actor), 1, ?) AS actor_list,
               count(DISTINCT user_agent) AS user_agents,
               list_slice(list(DISTINCT user_agent ORDER BY user_agent), 1, ?) AS user_agent_list,
               count(DISTINCT access_key_id) AS access_keys
        FROM events{where} GROUP BY 1
        ORDER BY events DESC, source_ip_address
        """,
        [int(max_list), int(max_list), *params],
    )
    for c in ("actor_list", "user_agent_list"):
        df[c] = df[c].map(lambda v: list(v) if v is not None else [])
    df = utc_columns(df, "first_seen", "last_seen")
    return _geo.enrich(df, "ip", geo=geo) if enrich else df


def actor_ips(
    events: Events,
    start: TimeLike = None,
    end: TimeLike = None,
    *,
    actor: str | Sequence[str] | None = None,
    geo: GeoArg = None,
) -> pd.DataFrame:
    """One row per actor: how many source addresses, countries and ASNs, and which.

    Returns
    -------
    DataFrame: actor, events, first_seen, last_seen, source_ips, ip_list, countries,
    country_list, asns, asn_list; most addresses first.
    """
    pairs = _geo.enrich(_pairs(source(events), start, end, actor), "ip", geo=geo)
    if pairs.empty:
        cols = ["actor", "events", "first_seen", "last_seen", "source_ips", "ip_list", "countries"]
        return pd.DataFrame(columns=[*cols, "country_list", "asns", "asn_list"])

    def uniq(s: pd.Series) -> list[str]:
        return sorted({str(v) for v in s.dropna()})

    g = pairs.groupby("actor", sort=False)
    out = g.agg(
        events=("events", "sum"),
        first_seen=("first_seen", "min"),
        last_seen=("last_seen", "max"),
        ip_list=("source_ip_address", uniq),
        country_list=("country_code", uniq),
        asn_list=("asn_name", uniq),
    ).reset_index()
    out.insert(4, "source_ips", out["ip_list"].map(len))
    out.insert(6, "countries", out["country_list"].map(len))
    out.insert(8, "asns", out["asn_list"].map(len))
    return out.sort_values(
        ["source_ips", "events", "actor"], ascending=[False, False, True], ignore_index=True
    )


def ip_actor_matrix(
    events: Events,
    start: TimeLike = None,
    end: TimeLike = None,
    *,
    top_ips: int = 15,
    top_actors: int = 15,
    public_only: bool = False,
) -> pd.DataFrame:
    """Events per (source address, actor) for the most active addresses and actors: a wide
    frame, addresses as the index and actors as columns (zeros where none).
    """
    pairs = _pairs(source(events), start, end, None)
    if public_only:
        pairs = pairs[pairs["ip_class"].isin(["public", "ipv6"])]
    pairs["source_ip_address"] = pairs["source_ip_address"].fillna("(none)")
    ips = pairs.groupby("source_ip_address")["events"].sum().sort_values(ascending=False).head(top_ips).index
    sub = pairs[pairs["source_ip_address"].isin(ips)]
    actors = sub.groupby("actor")["events"].sum().sort_values(ascending=False).head(top_actors).index
    sub = sub[sub["actor"].isin(actors)]
    wide = sub.pivot_table(
        index="source_ip_address", columns="actor", values="events", aggfunc="sum", fill_value=0
    )
    wide = (
        wide.reindex(index=[i for i in ips if i in wide.index], columns=list(actors))
        .fillna(0)
        .astype("int64")
    )
    wide.columns.name = "actor"
    return wide


def geo_summary(
    events: Events,
    start: TimeLike = None,
    end: TimeLike = None,
    *,
    by: str = "country",
    geo: GeoArg = None,
) -> pd.DataFrame:
    """Events, addresses and actors per country (``by="country"``) or ASN (``by="asn"``).

    Calls without a routable address (service names, private, invalid) are left out.

    Returns
    -------
    DataFrame: key (country code or ASN name), name (country name or ASN number), events,
    ips, actors, first_seen, last_seen; most events first.
    """
    if by not in ("country", "asn"):
        raise QueryError("by must be 'country' or 'asn'")
    pairs = _geo.enrich(_pairs(source(events), start, end, None), "ip", geo=geo)
    key, name = ("country_code", "country") if by == "country" else ("asn_name", "asn")
    pairs = pairs[pairs[key].notna()]
    cols = ["key", "name", "events", "ips", "actors", "first_seen", "last_seen"]
    if pairs.empty:
        return pd.DataFrame(columns=cols)
    out = (
        pairs.groupby(key, dropna=True)
        .agg(
            name=(name, "first"),
            events=("events", "sum"),
            ips=("source_ip_address", "nunique"),
            actors=("actor", "nunique"),
            first_seen=("first_seen", "min"),
            last_seen=("last_seen", "max"),
        )
        .reset_index()
        .rename(columns={key: "key"})
    )
    return out.sort_values(["events", "key"], ascending=[False, True], ignore_index=True)[cols]


def new_for_actor(
    events: Events,
    *,
    since: TimeLike,
    baseline_start: TimeLike = None,
    end: TimeLike = None,
    actor: str | Sequence[str] | None = None,
    kinds: Sequence[str] = ("ip", "country", "asn"),
    geo: GeoArg = None,
    include_new_principals: bool = False,
) -> pd.DataFrame:
    """Source addresses, countries and ASNs an actor used from ``since`` on but never in the
    baseline ``[baseline_start, since)``.

    Actors with no baseline activity are skipped unless ``include_new_principals`` (then
    every value of theirs is new, flagged ``new_principal``). Only parsed addresses count for
    ``ip`` (service names and invalid literals are not places).

    Returns
    -------
    DataFrame: actor, kind (ip / country / asn), value, name (country name, or the addresses
    behind a new country / ASN), first_seen, events, new_principal; in order of first use.
    """
    split = utc(since)
    if split is None:
        raise QueryError("new_for_actor needs since= (the start of the investigation window)")
    bad = [k for k in kinds if k not in ("ip", "country", "asn")]
    if bad:
        raise QueryError(f"unknown kinds {bad}: use ip, country, asn")
    pairs = _pairs(source(events), baseline_start, end, actor, split)
    pairs = _geo.enrich(pairs, "ip", geo=geo)
    cols = ["actor", "kind", "value", "name", "first_seen", "events", "new_principal"]
    if pairs.empty:
        return pd.DataFrame(columns=cols)
    had_baseline = set(pairs.loc[pairs["baseline_events"] > 0, "actor"])
    rows: list[dict[str, Any]] = []
    field = {"ip": "ip", "country": "country_code", "asn": "asn_name"}
    for act, grp in pairs.groupby("actor", sort=False):
        newp = act not in had_baseline
        if newp and not include_new_principals:
            continue
        base = grp[grp["baseline_events"] > 0]
        after = grp[grp["events_after"] > 0]
        for kind in kinds:
            col = field[kind]
            seen = set(base[col].dropna())
            for value, g in after[after[col].notna()].groupby(col):
                if value in seen:
                    continue
                if kind == "country":
                    label = str(g["country"].iloc[0] or "")
                elif kind == "asn":
                    label = ", ".join(sorted(g["ip"].dropna().unique()))
                else:
                    label = " ".join(str(v) for v in (g["country_code"].iloc[0], g["asn_name"].iloc[0]) if v)
                rows.append(
                    {
                        "actor": act,
                        "kind": kind,
                        "value": value,
                        "name": label,
                        "first_seen": g["first_after"].min(),
                        "events": int(g["events_after"].sum()),
                        "new_principal": newp,
                    }
                )
    out = pd.DataFrame(rows, columns=cols)
    out = utc_columns(out, "first_seen")
    return out.sort_values(["first_seen", "actor", "kind", "value"], ignore_index=True)


def impossible_travel(
    events: Events,
    start: TimeLike = None,
    end: TimeLike = None,
    *,
    actor: str | Sequence[str] | None = None,
    max_speed_kmh: float = 1000.0,
    min_distance_km: float = 500.0,
    geo: GeoArg = None,
    all_moves: bool = False,
) -> pd.DataFrame:
    """Consecutive calls of one actor from two places too far apart for the time between them.

    Each move is the pair (last call from the previous place, first call from the new one).
    ``all_moves`` returns every change of place with its speed; otherwise only impossible ones.

    Returns
    -------
    DataFrame: actor, from_time, from_ip, from_country, to_time, to_ip, to_country,
    distance_km, hours, speed_kmh, impossible, precision (country / city); in time order.
    """
    src = source(events)
    lookup = _geo.resolve(geo)
    where, params = src.where(start, end, actor=actor)
    ips = src.sql(
        f"SELECT DISTINCT source_ip AS ip FROM events{and_where(where, 'source_ip IS NOT NULL')}", params
    )
    table = lookup.frame(ips["ip"])
    table = table[table["latitude"].notna()].copy()
    cols = [
        "actor", "from_time", "from_ip", "from_country", "to_time", "to_ip", "to_country",
        "distance_km", "hours", "speed_kmh", "impossible", "precision",
    ]  # fmt: skip
    if table.empty:
        return pd.DataFrame(columns=cols)
    # A place is the city point when a City database answered, else the country.
    table["loc"] = [
        f"{la:.2f},{lo:.2f}" if prec == "city" else str(cc)
        for la, lo, prec, cc in zip(
            table["latitude"], table["longitude"], table["geo_precision"], table["country_code"], strict=True
        )
    ]
    table = table.reset_index(drop=True)
    table["ip_id"] = range(len(table))
    table["loc_id"] = table["loc"].astype("category").cat.codes.astype("int32")
    name = "_iamforensics_geo"
    src.register(name, table[["ip", "ip_id", "loc_id"]])
    # Only actors seen in more than one place can move; the window sorts their located calls
    # carrying only integers (actor hash, time, event-id hash, ip and place ids), so even 10M
    # calls sort in a few hundred MB.
    try:
        moves = src.sql(
            f"""
            WITH e AS (
                SELECT hash(coalesce(ev.actor, '(unknown)')) AS a, ev.event_time AS t, hash(ev.event_id) AS h,
                       g.ip_id, g.loc_id
                FROM (SELECT actor, event_time, event_id, source_ip FROM events{where}) ev
                JOIN {name} g ON ev.source_ip = g.ip
            ),
            multi AS (SELECT a FROM e GROUP BY a HAVING count(DISTINCT loc_id) > 1),
            l AS (
                SELECT a, t, ip_id, loc_id, lag(loc_id) OVER w AS prev_loc, lag(t) OVER w AS prev_t,
                       lag(ip_id) OVER w AS prev_ip
                FROM e WHERE a IN (SELECT a FROM multi)
                WINDOW w AS (PARTITION BY a ORDER BY t, h)
            )
            SELECT a, prev_t AS from_time, prev_ip, t AS to_time, ip_id
            FROM l WHERE prev_loc IS NOT NULL AND prev_loc <> loc_id
            """,
            params,
        )
        actors = src.sql(
            f"SELECT DISTINCT hash(coalesce(actor, '(unknown)')) AS a, coalesce(actor, '(unknown)') AS actor "
            f"FROM events{and_where(where, 'source_ip IS NOT NULL')}",
            params,
        )
    finally:
        src.unregister(name)
    if moves.empty:
        return pd.DataFrame(columns=cols)
    moves = utc_columns(moves, "from_time", "to_time")
    moves = moves.merge(actors, on="a", how="left")
    frm = table.iloc[moves["prev_ip"].to_numpy()].reset_index(drop=True)
    to = table.iloc[moves["ip_id"].to_numpy()].reset_index(drop=True)
    moves["from_ip"], moves["from_country"] = frm["ip"].to_numpy(), frm["country_code"].to_numpy()
    moves["to_ip"], moves["to_country"] = to["ip"].to_numpy(), to["country_code"].to_numpy()
    moves["precision"] = np.where(
        (frm["geo_precision"] == "city").to_numpy() & (to["geo_precision"] == "city").to_numpy(),
        "city",
        "country",
    )
    moves["distance_km"] = _geo.distance_km_array(
        frm["latitude"].to_numpy(),
        frm["longitude"].to_numpy(),
        to["latitude"].to_numpy(),
        to["longitude"].to_numpy(),
    )
    moves["hours"] = (moves["to_time"] - moves["from_time"]).dt.total_seconds() / 3600.0
    # Same-second moves get an infinite speed: CloudTrail times have one-second resolution.
    with np.errstate(divide="ignore"):
        moves["speed_kmh"] = moves["distance_km"] / moves["hours"].where(moves["hours"] > 0, 0.0)
    moves["impossible"] = (moves["distance_km"] >= min_distance_km) & (moves["speed_kmh"] > max_speed_kmh)
    out = moves.sort_values(["to_time", "actor"], kind="stable")[cols]
    if not all_moves:
        out = out[out["impossible"]]
    return out.reset_index(drop=True)


def instance_credential_use(
    events: Events,
    start: TimeLike = None,
    end: TimeLike = None,
) -> pd.DataFrame:
    """Where EC2 instance-profile sessions (``ec2RoleDelivery`` or an ``i-...`` session name)
    made calls from, and who else used those addresses.

    An instance's own calls come from the instance (its public address, a NAT, or a VPC
    endpoint). The same session seen from an address that IAM users or other non-instance
    principals also use is the classic sign of stolen instance credentials:
    ``shared_with_principals`` is then True.

    Returns
    -------
    DataFrame: actor, source_ip_address, ip_class, user_agents, events, first_seen,
    last_seen, event_names, other_principals (list), shared_with_principals.
    """
    src = source(events)
    where, params = src.where(start, end)
    inst = f"SELECT DISTINCT actor FROM events WHERE {INSTANCE_SESSION}"
    df = src.sql(
        f"""
        WITH u AS (
            SELECT actor, source_ip_address, any_value({IP_CLASS}) AS ip_class,
                   string_agg(DISTINCT user_agent, ' | ' ORDER BY user_agent) AS user_agents,
                   count(*) AS events, min(event_time) AS first_seen, max(event_time) AS last_seen,
                   string_agg(DISTINCT event_name, ', ' ORDER BY event_name) AS event_names
            FROM events{and_where(where, f"actor IN ({inst})")}
            GROUP BY 1, 2
        ),
        o AS (
            SELECT source_ip_address, list(DISTINCT actor ORDER BY actor) AS other_principals
            FROM events
            WHERE source_ip_address IN (SELECT source_ip_address FROM u)
              AND actor IS NOT NULL AND actor NOT IN ({inst})
              AND coalesce(user_type, '') NOT IN ('AWSService', '') AND ip_class IN ('public', 'private')
            GROUP BY 1
        )
        SELECT u.*, coalesce(o.other_principals, []) AS other_principals
        FROM u LEFT JOIN o USING (source_ip_address)
        ORDER BY first_seen, actor
        """,
        params,
    )
    df["other_principals"] = df["other_principals"].map(list)
    df["shared_with_principals"] = df["other_principals"].map(bool)
    return utc_columns(df, "first_seen", "last_seen")
