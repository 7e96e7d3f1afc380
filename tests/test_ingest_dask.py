"""Dask ingest: the same case as a local ingest, including across a worker killed mid-task."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pytest

from iamforensics.cli import main
from iamforensics.errors import CaseError
from iamforensics.ingest import ingest
from iamforensics.schema import COLUMN_NAMES, PARTITION_COLUMN
from iamforensics.store import EVENTS, STAGING, load_manifest, read_quarantine

distributed = pytest.importorskip("dask.distributed")

SAMPLES = Path(__file__).resolve().parent.parent / "data" / "samples" / "AWSLogs"
#: Ten delivery hours of one day of the sample: both accounts' trails and the organization
#: trail, which repeats their management events byte for byte (duplicates across files, hence
#: across workers).
DAY = "2024/05/07"
HOURS = "_20240507T0"


@pytest.fixture(scope="module")
def evidence(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("evidence") / "AWSLogs"
    for f in sorted(SAMPLES.rglob("*.json.gz")):
        if f"/{DAY}/" in f.as_posix() and HOURS in f.name:
            dest = out / f.relative_to(SAMPLES)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(f, dest)
    return out


@pytest.fixture(scope="module")
def local_case(evidence: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    case = tmp_path_factory.mktemp("local") / "case"
    report = ingest([str(evidence)], case, jobs=1)
    # The subset must exercise dedup across files, or the comparison proves little.
    assert report.counts["duplicates"] > 0 and report.counts["written"] > 0
    return case


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    ) as c:
        yield c


def _events(case: Path) -> pa.Table:
    part = ds.partitioning(pa.schema([(PARTITION_COLUMN, pa.string())]), flavor="hive")
    t = ds.dataset(case / EVENTS, format="parquet", partitioning=part).to_table()
    # Every column is compared, provenance included: the source names and positions are
    # the same because both runs read the same folder and dedup keeps the same copy.
    assert set(COLUMN_NAMES) | {PARTITION_COLUMN} == set(t.column_names)
    return t.select([*COLUMN_NAMES, PARTITION_COLUMN]).sort_by("event_id")


def _assert_same(got: pa.Table, want: pa.Table) -> None:
    assert got.num_rows == want.num_rows > 0
    differ = [c for c in want.column_names if not got.column(c).equals(want.column(c))]
    assert not differ, f"columns differ: {differ}"


def _counts(case: Path) -> dict[str, int]:
    run = load_manifest(case)["runs"][-1]
    assert run["identity_holds"]
    c = run["counts"]
    assert c["read"] == c["written"] + c["duplicates"] + c["quarantined"]
    return dict(c)


def test_dask_ingest_equals_local(evidence: Path, local_case: Path, cluster: Any, tmp_path: Path) -> None:
    case = tmp_path / "case"
    with distributed.Client(cluster) as client:
        from iamforensics.ingest_dask import ingest_dask

        report = ingest_dask([str(evidence)], case, client=client)
    assert report.identity_holds
    assert _counts(case) == _counts(local_case)
    _assert_same(_events(case), _events(local_case))
    assert load_manifest(case)["runs"][-1]["options"]["engine"] == "dask"
    assert not (case / STAGING).exists()


class KillOnce(distributed.WorkerPlugin):  # type: ignore[misc]
    """Makes the worker that stages rows of ``target`` write them to disk, then die, once."""

    def __init__(self, target: str, marker: str):
        self.target = target
        self.marker = marker

    def setup(self, worker: Any) -> None:
        from iamforensics import store

        orig = store.Stager.add
        target, marker = self.target, self.marker

        def add(stager: Any, table: pa.Table) -> None:
            orig(stager, table)
            sources = set(table.column("source").to_pylist())
            if any(s.endswith(target) for s in sources) and not os.path.exists(marker):
                # Leave real partial output behind, as a crash mid-task would: staging parts
                # on disk and a line in this try's quarantine file, then die without cleanup.
                stager.close()
                run_dir = stager.staging  # CASE/.staging/<run>
                q = store.QuarantineWriter(run_dir.parent.parent, f"{run_dir.name}-{stager.tag}")
                q.add(target, 0, "left by a killed worker", b"{}")
                q.close()
                left = [f for files in stager.files.values() for f in files]
                Path(marker).write_text("\n".join(["killed", *left]))
                os._exit(1)

        store.Stager.add = add


def test_killed_worker_loses_and_doubles_nothing(
    evidence: Path, local_case: Path, cluster: Any, tmp_path: Path
) -> None:
    # An organization-trail file: its events are duplicates of the account trails' ones.
    target = sorted(p for p in evidence.rglob("*.json.gz") if "/o-" in p.as_posix())[3]
    marker = tmp_path / "killed"
    case = tmp_path / "case"
    with distributed.Client(cluster) as client:
        client.register_plugin(KillOnce(target.name, str(marker)), name="kill-once")
        try:
            from iamforensics.ingest_dask import ingest_dask

            ingest_dask([str(evidence)], case, client=client)
        finally:
            client.unregister_worker_plugin("kill-once")
    killed, *left = marker.read_text().splitlines()
    # The dead try really left staging parts on disk; they were neither merged nor kept.
    assert killed == "killed" and left
    assert not any(Path(f).exists() for f in left)
    assert _counts(case) == _counts(local_case)
    _assert_same(_events(case), _events(local_case))
    # The dead try's quarantine line is not the case's.
    assert read_quarantine(case) == read_quarantine(local_case) == []


def test_cli_engine_dask_with_scheduler(
    evidence: Path, local_case: Path, cluster: Any, tmp_path: Path
) -> None:
    case = tmp_path / "case"
    rc = main(["ingest", str(evidence), "--case", str(case), "--engine", "dask", "--scheduler",
               cluster.scheduler_address, "--quiet"])  # fmt: skip
    assert rc == 0
    _assert_same(_events(case), _events(local_case))


def test_s3_case_and_stray_scheduler_are_refused(evidence: Path, tmp_path: Path, capsys: Any) -> None:
    from iamforensics.ingest_dask import ingest_dask

    with pytest.raises(CaseError, match="local-filesystem only"):
        ingest_dask([str(evidence)], "s3://bucket/case")
    rc = main(["ingest", str(evidence), "--case", str(tmp_path / "c"), "--scheduler", "tcp://127.0.0.1:1"])
    assert rc == 2 and "--engine dask" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()
