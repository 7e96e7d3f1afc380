"""DDL for other engines: DuckDB runs it on the sample case; the others match their documented form.

Documented forms checked here (see the links in iamforensics/ddl.py):
- Athena CREATE TABLE (https://docs.aws.amazon.com/athena/latest/ug/create-table.html):
  ``CREATE EXTERNAL TABLE ... (cols) PARTITIONED BY (col type) STORED AS PARQUET LOCATION 's3://...'``;
  names lower case, letters/digits/underscore, backticks
  (https://docs.aws.amazon.com/athena/latest/ug/tables-databases-columns-names.html).
- Spark CREATE DATASOURCE TABLE
  (https://spark.apache.org/docs/latest/sql-ref-syntax-ddl-create-table-datasource.html):
  ``CREATE TABLE t (cols) USING PARQUET PARTITIONED BY (col) LOCATION path``.
- Trino Hive connector (https://trino.io/docs/current/connector/hive.html):
  ``WITH (format = 'PARQUET', external_location = '...', partitioned_by = ARRAY['col'])``, the
  partition column last; ``system.sync_partition_metadata`` loads the partitions.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from iamforensics.cli import main
from iamforensics.ddl import ENGINES, ddl, quote_ident, sql_type
from iamforensics.errors import CaseError, QueryError
from iamforensics.schema import EVENTS_SCHEMA, PARTITION_COLUMN
from tests.analysis_helpers import samples_case

S3 = "s3://acme-forensics/cases/ir-2024-05"
#: Each engine's spelling of the schema's Arrow types, written out independently of ddl.py.
EXPECTED_TYPES = {
    "athena": {"string": "string", "bool": "boolean", "int64": "bigint",
               "timestamp[us, tz=UTC]": "timestamp", "list<item: string>": "array<string>"},
    "spark": {"string": "STRING", "bool": "BOOLEAN", "int64": "BIGINT",
              "timestamp[us, tz=UTC]": "TIMESTAMP", "list<item: string>": "ARRAY<STRING>"},
    "trino": {"string": "varchar", "bool": "boolean", "int64": "bigint",
              "timestamp[us, tz=UTC]": "timestamp", "list<item: string>": "array(varchar)"},
    "duckdb": {"string": "VARCHAR", "bool": "BOOLEAN", "int64": "BIGINT",
               "timestamp[us, tz=UTC]": "TIMESTAMP WITH TIME ZONE", "list<item: string>": "VARCHAR[]"},
}  # fmt: skip
QUOTE = {"athena": "`", "spark": "`", "trino": '"', "duckdb": '"'}


def _columns(text: str, engine: str) -> list[tuple[str, str]]:
    """(name, type) of each column line of a CREATE statement."""
    q = QUOTE[engine]
    if engine == "duckdb":
        pat = rf"^  CAST\({q}(\w+){q} AS ([^)]+)\) AS {q}\1{q},?$"
    else:
        pat = rf"^  {q}(\w+){q} (.+?),?$"
    return re.findall(pat, text, flags=re.M)


@pytest.mark.parametrize("engine", ENGINES)
def test_every_schema_column_with_its_type(engine: str) -> None:
    text = ddl(S3 if engine != "duckdb" else str(samples_case().path), engine)
    cols = dict(_columns(text, engine))
    for f in EVENTS_SCHEMA:
        assert cols.get(f.name) == EXPECTED_TYPES[engine][str(f.type)], f.name
    # Nothing else but the partition column (which DuckDB takes from the folder names).
    extra = set(cols) - set(EVENTS_SCHEMA.names)
    assert extra == ({PARTITION_COLUMN} if engine in ("spark", "trino") else set())


def test_duckdb_ddl_runs_on_the_sample_case() -> None:
    case = samples_case()
    con = duckdb.connect()
    con.execute(ddl(case.path, "duckdb"))
    assert con.execute("SELECT count(*) FROM events").fetchone() == (len(case),)
    # Same types as the Case's own view, and the same answer to a real question.
    mine = dict((r[0], r[1]) for r in con.execute("DESCRIBE events").fetchall())
    theirs = dict((r[0], r[1]) for r in case.connection().execute("DESCRIBE events").fetchall())
    assert mine == theirs
    q = "SELECT event_date, event_name, count(*) n FROM events WHERE event_name LIKE 'Create%' GROUP BY ALL ORDER BY ALL"
    assert con.execute(q).fetchall() == case.connection().execute(q).fetchall()
    # A time window reads only its partition: the view prunes like Case does.
    days = con.execute("SELECT count(DISTINCT event_date) FROM events").fetchone()[0]
    plan = con.execute(
        "EXPLAIN ANALYZE SELECT event_name FROM events WHERE event_date = DATE '2024-05-07'"
    ).fetchall()[0][1]
    assert f"Scanning Files: 1/{days}" in plan and days > 1


def test_location_with_a_quote(tmp_path: Path) -> None:
    # DuckDB and Trino literals double the quote; the view still finds the files.
    odd = tmp_path / "o'brien case"
    shutil.copytree(samples_case().path / "events", odd / "events")
    shutil.copy(samples_case().path / "case.json", odd / "case.json")
    con = duckdb.connect()
    con.execute(ddl(odd, "duckdb"))
    assert con.execute("SELECT count(*) FROM events").fetchone() == (len(samples_case()),)
    assert "external_location = 's3://b/o''brien/events/'" in ddl("s3://b/o'brien", "trino")
    # Hive-dialect literals also take backslash escapes: refused, not guessed.
    for engine in ("athena", "spark"):
        for bad in ("s3://b/o'brien", "s3://b/x\\';DROP TABLE t;--"):
            with pytest.raises(QueryError, match="refused"):
                ddl(bad, engine)
    with pytest.raises(QueryError, match="control"):
        ddl("s3://b/x\n;DROP", "trino")
    with pytest.raises(QueryError, match="glob"):
        ddl("s3://b/case[1]", "duckdb")


def test_identifiers_are_quoted_per_engine() -> None:
    assert quote_ident("select", "spark") == "`select`"
    assert quote_ident("we`ird", "spark") == "`we``ird`"
    assert quote_ident('my "table"', "trino") == '"my ""table"""'
    assert quote_ident("order", "duckdb") == '"order"'
    assert quote_ident("Events", "athena") == "`events`"
    with pytest.raises(QueryError, match="Athena name"):
        quote_ident("ir-2024", "athena")
    text = ddl(S3, "trino", table='ir "2024"', database="select")
    assert text.startswith('CREATE TABLE IF NOT EXISTS "select"."ir ""2024""" (')
    # The procedure takes names as string literals: quoted as such.
    assert "schema_name => 'select', table_name => 'ir \"2024\"'" in text
    # A reserved word as DuckDB view name still runs.
    con = duckdb.connect()
    con.execute(ddl(samples_case().path, "duckdb", table="table"))
    assert con.execute('SELECT count(*) FROM "table"').fetchone() == (len(samples_case()),)


def test_documented_forms() -> None:
    a = ddl(S3, "athena", database="ir")
    assert a.startswith("CREATE EXTERNAL TABLE IF NOT EXISTS `ir`.`events` (\n")
    assert (
        f"\n)\nPARTITIONED BY (`{PARTITION_COLUMN}` string)\nSTORED AS PARQUET\nLOCATION '{S3}/events/';\n"
        in a
    )
    assert a.endswith("MSCK REPAIR TABLE `ir`.`events`;\n")
    assert f"`{PARTITION_COLUMN}` string,\n" not in a  # Hive: the partition column is not a data column

    s = ddl(S3 + "/", "spark")
    assert s.startswith("CREATE TABLE IF NOT EXISTS `events` (\n")
    assert f"  `{PARTITION_COLUMN}` STRING\n)\nUSING PARQUET\nPARTITIONED BY (`{PARTITION_COLUMN}`)\n" in s
    assert f"LOCATION '{S3}/events/';\n" in s

    t = ddl(S3, "trino")
    cols = _columns(t, "trino")
    assert cols[-1] == (PARTITION_COLUMN, "varchar")  # partition column last
    assert (
        f"WITH (\n  format = 'PARQUET',\n  external_location = '{S3}/events/',\n"
        f"  partitioned_by = ARRAY['{PARTITION_COLUMN}']\n);\n"
    ) in t
    assert t.endswith(
        "CALL system.sync_partition_metadata(schema_name => 'default', table_name => 'events', mode => 'ADD');\n"
    )


def test_errors_and_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(QueryError, match="S3"):
        ddl(samples_case().path, "athena")
    with pytest.raises(CaseError):
        ddl(tmp_path, "duckdb")  # not a case
    with pytest.raises(QueryError, match="unknown engine"):
        ddl(S3, "hive")
    with pytest.raises(QueryError, match="no trino type"):
        sql_type(pa.float16(), "trino")
    assert main(["ddl", "--case", S3, "--engine", "athena", "--table", "ir_2024"]) == 0
    assert capsys.readouterr().out == ddl(S3, "athena", table="ir_2024")
    assert main(["ddl", "--case", S3, "--engine", "athena", "--table", "ir-2024"]) == 2
    assert "Athena name" in capsys.readouterr().err


def test_case_and_view_read_only_the_window_and_columns() -> None:
    # The promise the DDL view shares with Case: a time window opens only its days' files and
    # only the selected columns are read (DuckDB's EXPLAIN ANALYZE of the real queries).
    case = samples_case()
    con = case.connection()
    days = con.execute("SELECT count(DISTINCT event_date) FROM events").fetchone()[0]
    where, params = case.where("2024-05-07 10:00", "2024-05-08", actor=["nobody"])
    plan = con.execute(
        "EXPLAIN ANALYZE SELECT event_time, event_name FROM events" + where, params
    ).fetchall()[0][1]
    assert f"Scanning Files: 1/{days}" in plan and days > 1
    projected = re.search(r"Projections:(.*?)(?:Filters|File Filters|Scanning)", plan, flags=re.S)
    assert projected is not None
    cols = set(re.findall(r"\b[a-z_]+\b", projected.group(1)))
    assert {"event_time", "event_name"} <= cols and "raw" not in cols and "request_parameters" not in cols
    # A window ending at midnight does not open the next day.
    where, params = case.where("2024-05-07", "2024-05-09")
    plan = con.execute("EXPLAIN ANALYZE SELECT count(*) FROM events" + where, params).fetchall()[0][1]
    assert f"Scanning Files: 2/{days}" in plan
