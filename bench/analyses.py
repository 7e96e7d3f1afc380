"""Benchmark: seconds and peak RSS of every analysis on a large case (``python -m bench.analyses``).

The case is the sample scenario (data/samples, ingested once, every column kept) copied N
times with new event ids, each copy shifted by 4 hours (as ``bench/hunt.py`` does), written
straight into the case layout with DuckDB in chunks of copies, so building 10M events stays
within a few GB (one COPY of all copies at once grew past 19 GB here). Each analysis then runs in a fresh Python process (so its
peak RSS is its own, not the builder's or another analysis's) and prints its seconds, rows
returned and peak RSS; the table is printed as JSON lines and Markdown.

Examples
--------
    python -m bench.analyses --events 10000000            # build bench/out/analyses-10000000 and run all
    python -m bench.analyses --events 10000000 --reuse    # reuse the case built before
    python -m bench.analyses --only ip_summary --reuse
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent

#: The scenario's leaked key and its owner: present in every copy.
KEY = "AKIALXRK7KTX2MSKAWTN"
OWNER = "arn:aws:iam::058264710392:user/developers/dave"


def _analyses() -> dict[str, Callable[[Any], pd.DataFrame]]:
    from iamforensics.analysis import api_calls as ac
    from iamforensics.analysis import mfa
    from iamforensics.analysis import source_ips as si
    from iamforensics.analysis import timeline as tl

    def mid(case: Any) -> pd.Timestamp:
        r = case.sql("SELECT min(event_time) AS a, max(event_time) AS b FROM events")
        return (
            pd.Timestamp(r["a"].iloc[0]) + (pd.Timestamp(r["b"].iloc[0]) - pd.Timestamp(r["a"].iloc[0])) / 2
        )

    def first_week(case: Any) -> tuple[pd.Timestamp, pd.Timestamp]:
        a = pd.Timestamp(case.sql("SELECT min(event_time) AS a FROM events")["a"].iloc[0]).floor("D")
        return a, a + pd.Timedelta(days=7)

    return {
        "timeline (one access key, all time)": lambda c: tl.timeline(c, access_key_id=KEY),
        "timeline (one actor, one week)": lambda c: tl.timeline(c, *first_week(c), actor=OWNER),
        "actor_summary": lambda c: tl.actor_summary(c),
        "what_changed": lambda c: tl.what_changed(c),
        "hourly_activity": lambda c: tl.hourly_activity(c),
        "event_rate (1h)": lambda c: tl.event_rate(c, freq="1h"),
        "marked_events": lambda c: tl.marked_events(c),
        "histogram (event_name)": lambda c: ac.histogram(c, by="event_name"),
        "histogram (actor)": lambda c: ac.histogram(c, by="actor"),
        "denied_bursts": lambda c: ac.denied_bursts(c),
        "first_seen_apis": lambda c: ac.first_seen_apis(c, since=mid(c)),
        "rare_apis": lambda c: ac.rare_apis(c),
        "sign_ins": lambda c: mfa.sign_ins(c),
        "actions_without_mfa": lambda c: mfa.actions_without_mfa(c),
        "mfa_coverage": lambda c: mfa.mfa_coverage(c),
        "mfa_device_changes": lambda c: mfa.mfa_device_changes(c),
        "root_activity": lambda c: mfa.root_activity(c),
        "ip_summary": lambda c: si.ip_summary(c),
        "actor_ips": lambda c: si.actor_ips(c),
        "ip_actor_matrix": lambda c: si.ip_actor_matrix(c),
        "geo_summary (country)": lambda c: si.geo_summary(c),
        "new_for_actor": lambda c: si.new_for_actor(c, since=mid(c)),
        "impossible_travel": lambda c: si.impossible_travel(c),
        "instance_credential_use": lambda c: si.instance_credential_use(c),
    }


def build_case(target: Path, events: int, chunk_events: int = 400_000) -> dict[str, float]:
    """A case of about ``events`` events made of 4-hour-shifted copies of the sample scenario."""
    import shutil
    import tempfile

    import duckdb

    from iamforensics.case import open_case
    from iamforensics.ingest import ingest
    from iamforensics.store import init_case

    t0 = time.perf_counter()
    seed_dir = Path(tempfile.mkdtemp(prefix="analyses-seed-"))
    ingest([str(ROOT / "data" / "samples" / "AWSLogs")], seed_dir / "case", jobs=1)
    n_seed = len(open_case(seed_dir / "case"))
    copies = max(1, -(-events // n_seed))
    if target.exists():
        shutil.rmtree(target)
    init_case(target)
    con = duckdb.connect()
    con.execute("SET threads=2")
    con.execute("SET memory_limit='3GB'")
    con.execute("SET preserve_insertion_order=false")
    # Our own temp and output paths, not evidence: quoted for SQL (COPY takes no parameters).
    seed = str(seed_dir / "case" / "events" / "event_date=*" / "*.parquet").replace("'", "''")
    con.execute(
        f"CREATE TABLE seed AS SELECT * EXCLUDE (event_date) FROM read_parquet('{seed}', hive_partitioning=true)"
    )
    out = str(target / "events").replace("'", "''")
    step = max(1, chunk_events // n_seed)
    for first in range(0, copies, step):
        con.execute(
            "COPY (SELECT * REPLACE (event_id || '-c' || CAST(k AS VARCHAR) AS event_id, "
            "event_time + to_hours(4 * k) AS event_time), CAST(event_time + to_hours(4 * k) AS DATE) AS event_date "
            f"FROM seed, range(CAST(? AS BIGINT), CAST(? AS BIGINT)) r(k)) TO '{out}' "
            "(FORMAT parquet, COMPRESSION zstd, PARTITION_BY (event_date), APPEND true, "
            "FILENAME_PATTERN 'part_{uuid}')",
            [first, min(copies, first + step)],
        )
    con.close()
    shutil.rmtree(seed_dir)
    return {"seed_events": float(n_seed), "copies": float(copies), "build_seconds": time.perf_counter() - t0}


def peak_rss_mb() -> float:
    """This process's peak RSS in MB: VmHWM, which (unlike ru_maxrss on Linux) does not carry
    the high-water mark of the process that spawned us across exec."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_one(name: str, case_dir: Path) -> dict[str, Any]:
    """Run one analysis in this process; seconds exclude imports and opening the case."""
    from iamforensics.case import open_case

    fn = _analyses()[name]
    case = open_case(case_dir)
    rss0 = peak_rss_mb()
    t0 = time.perf_counter()
    out = fn(case)
    seconds = time.perf_counter() - t0
    rss = peak_rss_mb()
    return {"analysis": name, "seconds": round(seconds, 2), "rows": len(out), "peak_rss_mb": round(rss),
            "rss_before_mb": round(rss0)}  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=10_000_000)
    p.add_argument("--case", default=None, help="case folder (default bench/out/analyses-<events>)")
    p.add_argument("--reuse", action="store_true", help="reuse an existing case")
    p.add_argument("--only", action="append", help="run only these analyses (repeatable)")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args()
    target = Path(args.case or ROOT / "bench" / "out" / f"analyses-{args.events}")
    if args.child:
        print("RESULT " + json.dumps(run_one(args.child, target)), flush=True)
        return
    build: dict[str, float] = {}
    if not (args.reuse and (target / "events").exists()):
        build = build_case(target, args.events)
    from iamforensics.case import open_case

    case = open_case(target)
    n = len(case)
    size = sum(f.stat().st_size for f in (target / "events").rglob("*.parquet"))
    case.close()
    head = {"events": n, "parquet_mb": round(size / 2**20), **{k: round(v, 1) for k, v in build.items()}}
    print(json.dumps(head), flush=True)
    rows = []
    for name in args.only or list(_analyses()):
        cmd = [sys.executable, "-m", "bench.analyses", "--case", str(target), "--child", name]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
        if line is None:
            res = {"analysis": name, "error": (proc.stderr.strip().splitlines() or ["?"])[-1]}
        else:
            res = json.loads(line[len("RESULT ") :])
        rows.append(res)
        print(json.dumps(res), flush=True)
    print(f"\n{n:,} events, {head['parquet_mb']} MB Parquet\n")
    print("| analysis | seconds | peak RSS (MB) | rows |")
    print("|---|---:|---:|---:|")
    for r in rows:
        if "error" in r:
            print(f"| {r['analysis']} | error: {r['error'][:60]} | | |")
        else:
            print(f"| {r['analysis']} | {r['seconds']} | {r['peak_rss_mb']} | {r['rows']:,} |")


if __name__ == "__main__":
    main()
