"""Benchmark: built-in detections + Sigma rules over a large case (``python -m bench.hunt``).

The case is made from the sample scenario (data/samples, ingested once): its events are
copied N times with new event ids, each copy shifted by 4 hours, straight into the case
layout with DuckDB (events/event_date=YYYY-MM-DD/*.parquet, zstd) so building 10M events
does not take an ingest run. Every column is kept (raw included), so the files are the size
a real case of that many events has. Then ``hunt`` runs the whole built-in pack and the
Sigma folder, and the per-stage seconds and peak RSS are printed as JSON.

Examples
--------
    python -m bench.hunt --events 2000000 --sigma ../shared/sigma/rules-cloud-aws-cloudtrail
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import tempfile
import time
from pathlib import Path

import duckdb

from iamforensics.case import open_case
from iamforensics.detections import hunt
from iamforensics.ingest import ingest
from iamforensics.store import init_case

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "data" / "samples" / "AWSLogs"


def build_case(target: Path, events: int, threads: int = 2) -> dict[str, float]:
    """A case of about ``events`` events made of week-shifted copies of the sample scenario."""
    t0 = time.perf_counter()
    seed_dir = Path(tempfile.mkdtemp(prefix="hunt-seed-"))
    ingest([str(SAMPLES)], seed_dir / "case", jobs=1)
    seed = open_case(seed_dir / "case")
    n_seed = len(seed)
    copies = max(1, -(-events // n_seed))
    if target.exists():
        shutil.rmtree(target)
    init_case(target)
    con = duckdb.connect()
    con.execute(f"SET threads={int(threads)}")
    pattern = str(seed.path / "events" / "event_date=*" / "*.parquet")
    # Our own temp path, not evidence: quoted for SQL (views cannot take parameters).
    quoted = pattern.replace("'", "''")
    con.execute(
        f"CREATE TABLE seed AS SELECT * EXCLUDE (event_date) FROM read_parquet('{quoted}', hive_partitioning=true)"
    )
    out = str(target / "events").replace("'", "''")
    # All copies in one statement (one file per date partition); copy k is shifted by k*4 hours,
    # so a day holds several copies, like a busy account's day.
    con.execute(
        "COPY (SELECT * REPLACE (event_id || '-c' || CAST(k AS VARCHAR) AS event_id, "
        "event_time + to_hours(4 * k) AS event_time), CAST(event_time + to_hours(4 * k) AS DATE) AS event_date "
        f"FROM seed, range(CAST(? AS BIGINT)) r(k)) TO '{out}' (FORMAT parquet, COMPRESSION zstd, "
        "PARTITION_BY (event_date))",
        [copies],
    )
    shutil.rmtree(seed_dir)
    return {"seed_events": float(n_seed), "copies": float(copies), "build_seconds": time.perf_counter() - t0}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=2_000_000)
    p.add_argument("--case", default=str(ROOT / "bench" / "out" / "hunt-case"))
    p.add_argument("--sigma", default=str(ROOT.parent / "shared" / "sigma" / "rules-cloud-aws-cloudtrail"))
    p.add_argument("--reuse", action="store_true", help="reuse an existing case of the same size")
    args = p.parse_args()
    target = Path(args.case)
    info: dict[str, float] = {}
    if not (args.reuse and (target / "events").exists()):
        info = build_case(target, args.events)
    case = open_case(target)
    n = len(case)
    size = sum(f.stat().st_size for f in (target / "events").rglob("*.parquet"))
    t0 = time.perf_counter()
    result = hunt(case, sigma=args.sigma if Path(args.sigma).exists() else None)
    total = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "events": n,
                "parquet_mb": round(size / 2**20, 1),
                **{k: round(v, 1) for k, v in info.items()},
                "hunt_seconds": round(total, 1),
                "stages": {k: round(v, 1) for k, v in result.seconds.items()},
                "findings": len(result.findings),
                "builtin_rules": result.builtin_rules,
                "sigma_rules": 0 if result.sigma_report is None else len(result.sigma_report),
                "peak_rss_mb": round(rss),
                "events_per_second": round(n / total),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
