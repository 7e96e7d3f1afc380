"""Ingest benchmark: this kit against the parse floor, DuckDB and pandas, on the same files.

Generates (once, cached under bench/corpus/) a deterministic synthetic CloudTrail corpus in
the S3 layout (see bench/corpus.py), then runs each contender in a fresh Python process and
prints one table: records/s, MB/s of decompressed JSON and of gzip, and peak RSS.

Contenders
----------
gzip          zlib decompression of every file, nothing else
floor         gzip + orjson.loads of every file (the parse floor of the goals)
msgspec       gzip + msgspec decoding of every file into the kit's typed Record structs
kit-1, kit-N  iamforensics.ingest into a fresh case with 1 and N worker processes
duckdb-1/-N   DuckDB read_json_objects + json_transform of Records into a typed struct list,
              unnest, the same flattened columns, COPY to Parquet (zstd); 1 and N threads
pandas        json.load + pandas.json_normalize on a subset of files, extrapolated

Usage::

    .venv/bin/python bench/ingest.py                  # 1,000,000 records, all contenders
    .venv/bin/python bench/ingest.py --records 3000000 --skip-duckdb --skip-pandas
    .venv/bin/python bench/ingest.py --only kit-1 --records 200000   # one contender

Cases and Parquet files go to a folder of this run only (``--out``/run-<time>-<pid>),
removed at the end unless ``--keep``: two runs, or another tool's cases next to them,
never touch each other's files. On a shared machine wrap the run in
``flock /tmp/iamf-bench.lock ...`` so benchmarks do not overlap.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import corpus as corpus_mod  # noqa: E402

ALL = ("gzip", "floor", "msgspec", "kit-1", "kit-N", "duckdb-1", "duckdb-N", "pandas")
MB = 1e6


# --- contenders (each runs in its own process, see _child) ---------------------------------


def _gunzip(data: bytes) -> bytes:
    import zlib

    return zlib.decompress(data, 47)


def run_gzip(files: list[str], out: Path, jobs: int) -> dict[str, Any]:
    n = 0
    for f in files:
        with open(f, "rb") as fh:
            n += len(_gunzip(fh.read()))
    return {"json_bytes": n}


def run_floor(files: list[str], out: Path, jobs: int) -> dict[str, Any]:
    import orjson

    n = 0
    for f in files:
        with open(f, "rb") as fh:
            n += len(orjson.loads(_gunzip(fh.read()))["Records"])
    return {"records": n}


def run_msgspec(files: list[str], out: Path, jobs: int) -> dict[str, Any]:
    import msgspec

    from iamforensics.normalize import Record

    env = msgspec.defstruct("Env", [("Records", list[Record])])
    dec = msgspec.json.Decoder(env)
    n = 0
    for f in files:
        with open(f, "rb") as fh:
            n += len(dec.decode(_gunzip(fh.read())).Records)
    return {"records": n}


def run_kit(files: list[str], out: Path, jobs: int) -> dict[str, Any]:
    from iamforensics.ingest import ingest

    evidence = str(Path(files[0]).parents[6]) if files else str(out)  # .../AWSLogs
    case = out / f"case-{jobs}"
    report = ingest([evidence], case, jobs=jobs)
    c = report.counts
    if not report.identity_holds or c["quarantined"]:
        raise SystemExit(f"kit ingest is wrong: {c}")
    return {"records": c["read"], "written": c["written"], "duplicates": c["duplicates"]}


def _duckdb_struct() -> tuple[str, list[str]]:
    """The typed struct of one record and the SELECT list of the flattened columns.

    Built from the kit's schema so DuckDB produces the same path columns; payloads stay
    JSON text. Derived columns (actor, ip_class, ...) and the raw column are not computed:
    DuckDB does strictly less work than the kit here.
    """
    from iamforensics.schema import COLUMNS, PAYLOAD_COLUMNS, STR, TS

    tree: dict[str, Any] = {}
    select: list[str] = []
    for col in COLUMNS:
        if not col.path or col.path.startswith("userIdentity.onBehalfOf."):
            continue
        parts = col.path.split(".")
        node = tree
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        payload = col.name in PAYLOAD_COLUMNS or col.path in (
            "userIdentity.onBehalfOf",
            "userIdentity.inScopeOf",
        )
        if payload:
            node[parts[-1]] = "JSON"
        elif col.type == STR or col.type == TS or col.name == "mfa_authenticated":
            node[parts[-1]] = "VARCHAR"
        else:
            node[parts[-1]] = "BOOLEAN"
        expr = "r." + ".".join(f'"{p}"' for p in parts)
        if col.type == TS:
            expr = f"try_cast({expr} AS TIMESTAMPTZ)"
        elif col.name == "mfa_authenticated":
            expr = f"try_cast({expr} AS BOOLEAN)"
        elif payload:
            expr = f"{expr}::VARCHAR"
        select.append(f"{expr} AS {col.name}")
    return json.dumps(tree), select


def run_duckdb(files: list[str], out: Path, jobs: int) -> dict[str, Any]:
    import duckdb

    con = duckdb.connect()
    con.execute(f"SET threads = {jobs}")
    con.execute("SET preserve_insertion_order = false")
    struct, select = _duckdb_struct()
    glob = str(Path(files[0]).parents[6] / "**" / "*.json.gz")
    target = out / f"duckdb-{jobs}.parquet"
    sql = f"""
        COPY (
          SELECT {", ".join(select)}
          FROM (
            SELECT unnest(json_transform(json, '{{"Records": [{struct}]}}').Records) AS r
            FROM read_json_objects('{glob}', format = 'auto', compression = 'gzip',
                                   maximum_object_size = 1073741824)
          )
        ) TO '{target}' (FORMAT parquet, COMPRESSION zstd)
    """
    con.execute(sql)
    n = con.execute(f"SELECT count(*) FROM read_parquet('{target}')").fetchone()[0]  # type: ignore[index]
    return {"records": n}


def run_pandas(files: list[str], out: Path, jobs: int, limit: int = 20_000) -> dict[str, Any]:
    import gzip

    import pandas as pd

    n = json_bytes = 0
    for f in files:
        with gzip.open(f, "rb") as fh:
            data = fh.read()
        recs = json.loads(data)["Records"]
        pd.json_normalize(recs)
        n += len(recs)
        json_bytes += len(data)
        if n >= limit:
            break
    return {"records": n, "json_bytes": json_bytes, "subset": True}


RUNNERS = {
    "gzip": (run_gzip, 1),
    "floor": (run_floor, 1),
    "msgspec": (run_msgspec, 1),
    "kit-1": (run_kit, 1),
    "kit-N": (run_kit, 0),
    "duckdb-1": (run_duckdb, 1),
    "duckdb-N": (run_duckdb, 0),
    "pandas": (run_pandas, 1),
}


def _hwm() -> float:
    """Peak RSS of this process in MB: VmHWM, which starts afresh at exec.

    ``getrusage(RUSAGE_SELF).ru_maxrss`` would not do: Linux carries the high-water mark
    of the forking parent across exec, so a tiny child reports its parent's peak.
    """
    try:
        for ln in Path("/proc/self/status").read_text().splitlines():
            if ln.startswith("VmHWM:"):
                return int(ln.split()[1]) * 1024 / MB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / MB


def _cpu() -> float:
    """CPU seconds (user + system) of this process, its threads and its reaped children.

    Less sensitive than wall time to other work on a shared machine: a contender that
    waits for a core is not charged for the wait.
    """
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _child(name: str, root: str, out: str, jobs: int, pandas_records: int) -> None:
    files = corpus_mod.files(root)
    fn, _ = RUNNERS[name]
    kwargs = {"limit": pandas_records} if name == "pandas" else {}
    c0 = _cpu()
    t0 = time.perf_counter()
    res = fn(files, Path(out), jobs, **kwargs)
    res["seconds"] = time.perf_counter() - t0
    res["cpu_seconds"] = _cpu() - c0
    res["rss_self_mb"] = _hwm()
    print("RESULT " + json.dumps(res), flush=True)


# --- driver -------------------------------------------------------------------------------


def _tree_rss(proc: Any) -> tuple[int, int]:
    """(sum, largest) RSS in bytes over a process and its descendants, right now."""
    try:
        procs = [proc, *proc.children(recursive=True)]
    except Exception:
        return 0, 0
    sizes = []
    for p in procs:
        try:
            sizes.append(p.memory_info().rss)
        except Exception:
            pass
    return sum(sizes), max(sizes, default=0)


def measure(name: str, root: Path, out: Path, jobs: int, pandas_records: int = 20_000) -> dict[str, Any]:
    """Run one contender in a fresh interpreter; returns its figures (seconds, RSS, counts)."""
    import psutil

    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        name,
        "--corpus-dir",
        str(root),
        "--out",
        str(out),
        "--jobs",
        str(jobs),
        "--pandas-records",
        str(pandas_records),
    ]
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    ps = psutil.Process(proc.pid)
    peak = peak_one = 0
    while proc.poll() is None:
        tree, one = _tree_rss(ps)
        peak, peak_one = max(peak, tree), max(peak_one, one)
        time.sleep(0.05)
    stdout, stderr = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"{name} failed ({proc.returncode}):\n{stderr[-3000:]}")
    line = next(ln for ln in stdout.splitlines() if ln.startswith("RESULT "))
    res: dict[str, Any] = json.loads(line[7:])
    res["rss_tree_mb"] = peak / MB
    res["rss_max_mb"] = max(res["rss_self_mb"], peak_one / MB)
    return res


def machine() -> dict[str, Any]:
    import psutil

    model = "?"
    try:
        for ln in Path("/proc/cpuinfo").read_text().splitlines():
            if ln.startswith("model name"):
                model = ln.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "ram_gb": round(psutil.virtual_memory().total / 1024**3, 1),
        "python": platform.python_version(),
        "loadavg": os.getloadavg(),
    }


def _versions() -> dict[str, str]:
    out = {}
    for mod in ("duckdb", "pyarrow", "msgspec", "orjson", "pandas"):
        try:
            out[mod] = __import__(mod).__version__
        except Exception:
            out[mod] = "-"
    return out


def _warm(files: list[str]) -> None:
    # Every contender reads the same files; read them once so none pays the cold cache.
    for f in files:
        with open(f, "rb") as fh:
            while fh.read(1 << 20):
                pass


def table(rows: list[tuple[str, dict[str, Any]]], stats: dict[str, Any]) -> str:
    floor = next((r for _, r in rows if r["name"] == "floor"), None)
    floor_rate = floor["records"] / floor["seconds"] if floor else None
    head = (
        f"{'contender':<34} {'seconds':>8} {'records/s':>10} {'JSON MB/s':>9} {'gzip MB/s':>9} "
        f"{'x floor':>7} {'CPU s':>7} {'rec/CPU-s':>10} {'RSS max MB':>10} {'RSS tree MB':>11} {'load':>5}"
    )
    lines = [head, "-" * len(head)]
    for label, r in rows:
        n = r.get("records", stats["records"])
        frac = n / stats["records"]
        rate = n / r["seconds"]
        jb = r.get("json_bytes", stats["json_bytes"] * frac)
        gb = stats["gzip_bytes"] * frac
        ratio = f"{rate / floor_rate:.2f}" if floor_rate else "-"
        sec = f"{r['seconds']:.1f}" + ("*" if r.get("subset") else "")
        cpu = r.get("cpu_seconds") or 0.0
        cpu_rate = f"{n / cpu:,.0f}" if cpu else "-"
        lines.append(
            f"{label:<34} {sec:>8} {rate:>10,.0f} {jb / MB / r['seconds']:>9.1f} "
            f"{gb / MB / r['seconds']:>9.1f} {ratio:>7} {cpu:>7.1f} {cpu_rate:>10} "
            f"{r['rss_max_mb']:>10.0f} {r['rss_tree_mb']:>11.0f} {r.get('load_before', 0):>5.1f}"
        )
    return "\n".join(lines)


LABELS = {
    "gzip": "gzip only (zlib)",
    "floor": "parse floor: gzip + orjson.loads",
    "msgspec": "gzip + msgspec -> Record structs",
    "kit-1": "iamforensics ingest, 1 worker",
    "kit-N": "iamforensics ingest, {n} workers",
    "duckdb-1": "DuckDB json_transform, 1 thread",
    "duckdb-N": "DuckDB json_transform, {n} threads",
    "pandas": "json.load + json_normalize",
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=1_000_000, help="corpus size (default 1,000,000)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="workers/threads for the -N rows")
    ap.add_argument(
        "--corpus-dir", default=None, help="corpus folder (default bench/corpus/<records>-s<seed>)"
    )
    ap.add_argument(
        "--out",
        default="/tmp/iamf-bench",
        help="parent of this run's scratch folder (run-<time>-<pid>) for cases and Parquet",
    )
    ap.add_argument("--keep", action="store_true", help="keep this run's scratch folder")
    ap.add_argument("--only", default=None, help=f"comma-separated contenders among {','.join(ALL)}")
    ap.add_argument("--skip-duckdb", action="store_true")
    ap.add_argument("--skip-pandas", action="store_true")
    ap.add_argument("--pandas-records", type=int, default=20_000, help="subset size for json_normalize")
    ap.add_argument("--json", default=None, help="also write the figures to this JSON file")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    unknown = sorted({n.strip() for n in (args.only or "").split(",") if n.strip()} - set(ALL))
    if unknown:
        ap.error(f"--only: unknown contender(s) {', '.join(unknown)}; choose among {','.join(ALL)}")
    root = Path(args.corpus_dir or HERE / "corpus" / f"{args.records}-s{args.seed}")
    out = Path(args.out)
    if args.child:
        _child(args.child, str(root), str(out), args.jobs, args.pandas_records)
        return 0

    t0 = time.perf_counter()
    stats = corpus_mod.generate(root, args.records, args.seed)
    gen_s = time.perf_counter() - t0
    files = corpus_mod.files(root)
    names = [n.strip() for n in args.only.split(",")] if args.only else list(ALL)
    if args.skip_duckdb:
        names = [n for n in names if not n.startswith("duckdb")]
    if args.skip_pandas:
        names = [n for n in names if n != "pandas"]
    if args.jobs <= 1:
        names = [n for n in names if not n.endswith("-N")]
    info = machine()
    print(
        f"corpus {root}: {stats['records']:,} records in {stats['files']:,} files, "
        f"{stats['json_bytes'] / MB:,.0f} MB JSON ({stats['json_bytes'] / stats['records']:,.0f} B/record), "
        f"{stats['gzip_bytes'] / MB:,.0f} MB gzip ({gen_s:.0f} s to generate or load)"
    )
    print(
        f"machine: {info['nproc']} cores, {info['cpu']}, {info['ram_gb']} GiB RAM, "
        f"Python {info['python']}, load {info['loadavg']}"
    )
    print("versions: " + ", ".join(f"{k} {v}" for k, v in _versions().items()))
    _warm(files)
    # This run's own scratch folder: only what it creates there is ever deleted.
    run = out / f"run-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}"
    run.mkdir(parents=True)
    rows: list[tuple[str, dict[str, Any]]] = []
    try:
        for name in names:
            _, fixed = RUNNERS[name]
            jobs = fixed or args.jobs
            load = os.getloadavg()[0]
            res = measure(name, root, run, jobs, args.pandas_records)
            res["load_before"] = load
            label = LABELS[name].format(n=jobs)
            rows.append((label, {**res, "name": name, "jobs": jobs}))
            print(f"  {label}: {res['seconds']:.1f} s (load {load:.1f})", file=sys.stderr, flush=True)
            # The next contender starts from an empty folder (and the disk is not filled).
            for p in run.iterdir():
                shutil.rmtree(p) if p.is_dir() else p.unlink()
    finally:
        if not args.keep:
            shutil.rmtree(run, ignore_errors=True)
    info["loadavg_after"] = os.getloadavg()
    print()
    print(table(rows, stats))
    print(
        "\n* subset, extrapolated.  MB = 10^6 bytes.  CPU s = user+system seconds of the contender's"
        " processes and threads.  RSS max = largest single process (its VmHWM, or"
        " sampled for workers); RSS tree = sum over the process tree (sampled every 50 ms)."
        "  load = 1-minute load average when the contender started."
    )
    print(f"load average before {info['loadavg']}, after {info['loadavg_after']}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(
            json.dumps({"corpus": stats, "machine": info, "versions": _versions(), "rows": rows}, indent=1)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
