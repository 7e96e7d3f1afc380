"""CREATE TABLE statements that let other engines query a case's events where they lie.

The events dataset is Hive-partitioned Parquet under ``CASE/events/event_date=YYYY-MM-DD/``
(see :mod:`iamforensics.store`), so Athena, Spark, Trino (Hive connector) and DuckDB can
read it in place, local or copied to ``s3://``. Columns and types come from
:data:`iamforensics.schema.EVENTS_SCHEMA`; the partition column is
:data:`~iamforensics.schema.PARTITION_COLUMN`, a folder name, so it is the last column and
typed as a string (DuckDB: a DATE, as :class:`~iamforensics.case.Case` reads it).

Every identifier is quoted for its engine, which also covers reserved words. The location
is pasted into a SQL string literal: engines whose literal is plain SQL (Trino, DuckDB) get
quotes doubled; Hive-dialect engines (Athena, Spark) give backslashes a meaning inside
literals too, so a location with a quote or backslash is refused there rather than guessed.

Examples
--------
>>> print(ddl("s3://bucket/cases/acme", "athena").splitlines()[0])
CREATE EXTERNAL TABLE IF NOT EXISTS `events` (
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

import pyarrow as pa

from .errors import QueryError
from .schema import EVENTS_SCHEMA, PARTITION_COLUMN
from .store import EVENTS, require_case

ENGINES = ("athena", "spark", "trino", "duckdb")

# Type names per engine for each Arrow type the schema uses; a type missing here fails
# loudly (tests cover every schema column) instead of emitting a wrong DDL.
# Athena: https://docs.aws.amazon.com/athena/latest/ug/data-types.html (Hive DDL names).
# Spark: https://spark.apache.org/docs/latest/sql-ref-datatypes.html
# Trino Hive connector: https://trino.io/docs/current/connector/hive.html (Hive types map
# to varchar, boolean, bigint, timestamp, array(...)).
# DuckDB: https://duckdb.org/docs/sql/data_types/overview
_SCALARS: dict[pa.DataType, dict[str, str]] = {
    pa.string(): {"athena": "string", "spark": "STRING", "trino": "varchar", "duckdb": "VARCHAR"},
    pa.bool_(): {"athena": "boolean", "spark": "BOOLEAN", "trino": "boolean", "duckdb": "BOOLEAN"},
    pa.int64(): {"athena": "bigint", "spark": "BIGINT", "trino": "bigint", "duckdb": "BIGINT"},
    # UTC instants (Parquet isAdjustedToUTC): the Hive-dialect engines' TIMESTAMP reads them.
    pa.timestamp("us", tz="UTC"): {
        "athena": "timestamp",
        "spark": "TIMESTAMP",
        "trino": "timestamp",
        "duckdb": "TIMESTAMP WITH TIME ZONE",
    },
}
_PARTITION_TYPE = {"athena": "string", "spark": "STRING", "trino": "varchar", "duckdb": "DATE"}

#: Athena: names are lower case and only letters, digits and underscore (anything else is
#: refused, not quoted), at most 255 bytes; https://docs.aws.amazon.com/athena/latest/ug/tables-databases-columns-names.html
_ATHENA_NAME = re.compile(r"[a-z0-9_]{1,255}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def sql_type(typ: pa.DataType, engine: str) -> str:
    """The engine's column type for an Arrow type of the events schema.

    Examples
    --------
    >>> sql_type(pa.list_(pa.string()), "trino")
    'array(varchar)'
    """
    if pa.types.is_list(typ):
        inner = sql_type(typ.value_type, engine)
        return {
            "athena": f"array<{inner}>",
            "spark": f"ARRAY<{inner}>",
            "trino": f"array({inner})",
            "duckdb": f"{inner}[]",
        }[engine]
    try:
        return _SCALARS[typ][engine]
    except KeyError:
        raise QueryError(f"no {engine} type for Arrow type {typ}") from None


def quote_ident(name: str, engine: str) -> str:
    """``name`` as a quoted identifier of the engine (reserved words and odd characters included).

    Examples
    --------
    >>> quote_ident("select", "spark")
    '`select`'
    """
    if not name or _CONTROL.search(name):
        raise QueryError(f"invalid identifier {name!r}: empty or with control characters")
    if engine == "athena":
        if not _ATHENA_NAME.fullmatch(name.lower()):
            raise QueryError(
                f"invalid Athena name {name!r}: only letters, digits and underscore, 1-255 characters"
            )
        return f"`{name.lower()}`"
    if engine == "spark":
        return "`" + name.replace("`", "``") + "`"
    return '"' + name.replace('"', '""') + '"'


def _literal(value: str, engine: str) -> str:
    if _CONTROL.search(value):
        raise QueryError(f"{value!r}: control characters in a location")
    if engine in ("athena", "spark") and ("'" in value or "\\" in value):
        raise QueryError(f"{value!r}: a quote or backslash in a {engine} location is refused")
    return "'" + value.replace("'", "''") + "'"


def dataset_location(case: str | Path) -> str:
    """Where the events Parquet dataset of a case is (``CASE/events/``).

    A local case is checked and made absolute; a URL (``s3://...``) is taken as given.
    """
    text = str(case)
    if "://" in text:
        return text.rstrip("/") + f"/{EVENTS}/"
    root = require_case(text).resolve()
    return f"{root / EVENTS}/"


def ddl(case: str | Path, engine: str, *, table: str = "events", database: str | None = None) -> str:
    """SQL that makes the case's events queryable as ``table`` in ``engine``.

    Parameters
    ----------
    case : case folder, or its URL once copied (``s3://bucket/prefix/case``).
    engine : athena, spark, trino (Hive connector) or duckdb.
    table, database : table name and optional database (Trino: schema) to create it in.

    Examples
    --------
    >>> "PARTITIONED BY (`event_date`)" in ddl("s3://b/case", "spark")
    True
    """
    if engine not in ENGINES:
        raise QueryError(f"unknown engine {engine!r}: choose from {', '.join(ENGINES)}")
    if engine == "athena" and not str(case).startswith("s3://"):
        raise QueryError(f"{case}: Athena reads tables from S3; copy the case there and give its s3:// URL")
    loc = dataset_location(case)
    q = lambda name: quote_ident(name, engine)  # noqa: E731
    name = f"{q(database)}.{q(table)}" if database else q(table)
    cols = [(q(f.name), sql_type(f.type, engine)) for f in EVENTS_SCHEMA]
    part = (q(PARTITION_COLUMN), _PARTITION_TYPE[engine])
    body = ",\n".join(f"  {c} {t}" for c, t in cols)
    if engine == "athena":
        # https://docs.aws.amazon.com/athena/latest/ug/create-table.html: EXTERNAL, the
        # partition column only in PARTITIONED BY, then MSCK REPAIR TABLE loads the
        # Hive-style event_date=... folders (https://docs.aws.amazon.com/athena/latest/ug/msck-repair-table.html).
        return (
            f"CREATE EXTERNAL TABLE IF NOT EXISTS {name} (\n{body}\n)\n"
            f"PARTITIONED BY ({part[0]} {part[1]})\n"
            f"STORED AS PARQUET\nLOCATION {_literal(loc, engine)};\n"
            f"MSCK REPAIR TABLE {name};\n"
        )
    if engine == "spark":
        # https://spark.apache.org/docs/latest/sql-ref-syntax-ddl-create-table-datasource.html:
        # a data source table lists the partition column with the others and names it in
        # PARTITIONED BY; REPAIR TABLE registers the existing partition folders
        # (https://spark.apache.org/docs/latest/sql-ref-syntax-ddl-repair-table.html).
        return (
            f"CREATE TABLE IF NOT EXISTS {name} (\n{body},\n  {part[0]} {part[1]}\n)\n"
            f"USING PARQUET\nPARTITIONED BY ({part[0]})\nLOCATION {_literal(loc, engine)};\n"
            f"MSCK REPAIR TABLE {name};\n"
        )
    if engine == "trino":
        # https://trino.io/docs/current/connector/hive.html: table properties format,
        # external_location and partitioned_by (partition columns last in the column list);
        # system.sync_partition_metadata adds the partitions found in the folders.
        schema = database or "default"
        return (
            f"CREATE TABLE IF NOT EXISTS {name} (\n{body},\n  {part[0]} {part[1]}\n)\n"
            f"WITH (\n  format = 'PARQUET',\n  external_location = {_literal(loc, engine)},\n"
            f"  partitioned_by = ARRAY[{_literal(PARTITION_COLUMN, engine)}]\n);\n"
            f"CALL system.sync_partition_metadata(schema_name => {_literal(schema, engine)}, "
            f"table_name => {_literal(table, engine)}, mode => 'ADD');\n"
        )
    # DuckDB reads the files in place: a view over read_parquet with hive partitioning
    # (https://duckdb.org/docs/data/partitioning/hive_partitioning), cast to the schema's types.
    if re.search(r"[*?\[\]{}]", loc):
        raise QueryError(f"{loc!r}: glob characters in a DuckDB location are refused (it is a glob pattern)")
    pattern = f"{loc}{PARTITION_COLUMN}=*/*.parquet"
    select = ",\n".join(f"  CAST({c} AS {t}) AS {c}" for c, t in cols)
    return (
        f"CREATE VIEW {name} AS SELECT\n{select},\n  {part[0]}\n"
        f"FROM read_parquet({_literal(pattern, engine)}, hive_partitioning = true, "
        f"hive_types = {{{_literal(PARTITION_COLUMN, engine)}: DATE}});\n"
    )


def _cli(args: argparse.Namespace) -> int:
    print(ddl(args.case, args.engine, table=args.table, database=args.database), end="")
    return 0


def register_cli(sub: Any) -> None:
    """``iamforensics ddl --case LOCATION --engine athena|spark|trino|duckdb``."""
    s = sub.add_parser(
        "ddl",
        help="print the CREATE TABLE that lets Athena/Spark/Trino/DuckDB query the case's events",
        description="Print SQL that defines the case's events (Parquet, partitioned by event_date) as a "
        "table of another engine, reading the files where they are. LOCATION is the case folder, "
        "or its URL once copied (s3://bucket/prefix/case).",
    )
    s.add_argument("--case", required=True, help="case folder or URL (s3://...)")
    s.add_argument("--engine", required=True, choices=ENGINES)
    s.add_argument("--table", default="events", help="table name (default: events)")
    s.add_argument("--database", default=None, help="database / schema to create it in")
    s.set_defaults(func=_cli)
