"""Sorted runs of one date partition, read a slice at a time for the streaming merge.

A run is a staging part (Arrow IPC, written sorted by event time and id in batches of
:data:`RUN_BATCH` rows) or a partition file already in the case (Parquet, sorted the same
way). The merge reads the few key columns of every run for dedup and ordering, then builds
each output row group from the slice of each run it needs: since every run is sorted, the
rows of one output row group are a narrow contiguous range of each run, so memory holds a
row group's worth of rows, not the whole date (a 900,000-event day was 5-6 GB in one piece).

Examples
--------
>>> import pyarrow as pa
>>> from iamforensics.schema import EVENTS_SCHEMA
>>> sort_events(EVENTS_SCHEMA.empty_table()).num_rows
0
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from .schema import EVENTS_SCHEMA

#: Rows per record batch of a staging part: the unit a slice is read in.
RUN_BATCH = 4096
SORT_KEYS = [("event_time", "ascending"), ("event_id", "ascending")]


def sub_schema(columns: Sequence[str]) -> pa.Schema:
    """The events schema restricted to these columns, in this order."""
    return pa.schema([EVENTS_SCHEMA.field(c) for c in columns])


def sort_events(table: pa.Table) -> pa.Table:
    """Rows in (event_time, event_id) order, the order of every run and partition file."""
    if table.num_rows < 2:
        return table
    return table.take(pc.sort_indices(table.select(["event_time", "event_id"]), sort_keys=SORT_KEYS))


def _groups(keys: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """(key, the positions holding it) for each distinct key."""
    for k in np.unique(keys):
        yield int(k), np.flatnonzero(keys == k)


def _in_order(parts: list[pa.Array], positions: list[np.ndarray], name: str) -> pa.Array:
    """The values of ``parts`` put back at their ``positions`` (parts[i][j] was at positions[i][j])."""
    if not parts:
        return pa.array([], EVENTS_SCHEMA.field(name).type)
    where = np.concatenate(positions)
    inverse = np.empty(len(where), np.int64)
    inverse[where] = np.arange(len(where))
    return pa.concat_arrays(parts).take(pa.array(inverse))


class Run:
    """One sorted run: its row count, key columns on demand, and row ranges on demand."""

    def __init__(self, path: str | Path):
        self.path = str(path)
        self._ipc = self.path.endswith(".arrow")
        if self._ipc:
            # Batch sizes are learnt by keys(), which reads only the key buffers of each. No
            # file stays open: a date of a large ingest can have hundreds of staging parts.
            self._starts = np.zeros(1, np.int64)
        else:
            self._pf = pq.ParquetFile(self.path)
            sizes = [self._pf.metadata.row_group(i).num_rows for i in range(self._pf.num_row_groups)]
            self._starts = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)])
        self._cache: dict[int, pa.RecordBatch | pa.Table] = {}

    def keys(self, columns: Sequence[str]) -> pa.Table:
        """The given columns of every row (only their buffers are read and decompressed)."""
        if not self._ipc:
            return self._pf.read(columns=list(columns)).cast(sub_schema(columns))
        fields = [EVENTS_SCHEMA.get_field_index(c) for c in columns]
        with pa.OSFile(self.path, "rb") as fh:
            reader = ipc.open_file(fh, options=ipc.IpcReadOptions(included_fields=fields))
            batches = [reader.get_batch(i) for i in range(reader.num_record_batches)]
        self._starts = np.concatenate([[0], np.cumsum([b.num_rows for b in batches], dtype=np.int64)])
        if not batches:
            return sub_schema(columns).empty_table()
        # The reader gives the fields in file order, whatever the order asked for.
        return pa.Table.from_batches(batches).select(list(columns))

    @property
    def num_rows(self) -> int:
        return int(self._starts[-1])

    def rows(self, lo: int, hi: int) -> pa.Table:
        """All columns of rows ``lo`` to ``hi`` (exclusive), reading only the pieces that hold them."""
        first = int(np.searchsorted(self._starts, lo, side="right")) - 1
        last = int(np.searchsorted(self._starts, hi - 1, side="right")) - 1
        # Slices are asked for in increasing order: pieces before this one are done with.
        for k in [k for k in self._cache if k < first]:
            del self._cache[k]
        pieces = []
        for k in range(first, last + 1):
            piece = self._cache.get(k)
            if piece is None:
                piece = self._read(k)
                self._cache[k] = piece
            pieces.append(piece)
        table = pa.Table.from_batches(pieces) if self._ipc else pa.concat_tables(pieces)  # type: ignore[arg-type]
        return table.slice(lo - int(self._starts[first]), hi - lo)

    def _read(self, k: int) -> pa.RecordBatch | pa.Table:
        if self._ipc:
            with pa.OSFile(self.path, "rb") as fh:  # the batch owns its buffers once read
                return ipc.open_file(fh).get_batch(k)
        t = self._pf.read_row_group(k)
        return t.select(EVENTS_SCHEMA.names).cast(EVENTS_SCHEMA)

    def column_at(self, name: str, local: np.ndarray) -> pa.Array:
        """One column at these rows, in the order given, reading only that column of the pieces holding them."""
        piece_of = np.searchsorted(self._starts, local, side="right") - 1
        parts: list[pa.Array] = []
        positions: list[np.ndarray] = []
        with ExitStack() as stack:
            if self._ipc:
                fh = stack.enter_context(pa.OSFile(self.path, "rb"))
                field = EVENTS_SCHEMA.get_field_index(name)
                reader = ipc.open_file(fh, options=ipc.IpcReadOptions(included_fields=[field]))
            for k, mine in _groups(piece_of):
                if self._ipc:
                    col = reader.get_batch(k).column(0)
                else:
                    col = self._pf.read_row_group(k, columns=[name]).column(0).combine_chunks()
                parts.append(col.take(pa.array(local[mine] - self._starts[k])))
                positions.append(mine)
        return _in_order(parts, positions, name)

    def close(self) -> None:
        self._cache.clear()
        if not self._ipc:
            self._pf.close()


def write_run(path: str | Path, table: pa.Table) -> None:
    """A staging part: the rows sorted, Arrow IPC with LZ4 buffers, batches of RUN_BATCH rows."""
    # LZ4: staging is read back once by the merge, so the cheapest format to write and read
    # wins (Parquet costs ~8x more; zstd halves the bytes for ~2.5x the CPU both ways).
    with ipc.new_file(str(path), EVENTS_SCHEMA, options=ipc.IpcWriteOptions(compression="lz4")) as w:
        w.write_table(sort_events(table.combine_chunks()), max_chunksize=RUN_BATCH)


class Runs:
    """Several runs addressed as one: global row ``i`` is row ``i - start`` of its run."""

    def __init__(self, runs: list[Run]):
        self.runs = runs
        self.starts = np.concatenate([[0], np.cumsum([r.num_rows for r in runs], dtype=np.int64)])

    def _run_of(self, rows: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.starts, rows, side="right") - 1

    def gather(self, rows: np.ndarray) -> pa.Table:
        """The rows with these global numbers, in the order given."""
        pieces: list[pa.Table] = []
        index = np.empty(len(rows), np.int64)
        base = 0
        for w, mine in _groups(self._run_of(rows)):
            local = rows[mine] - self.starts[w]
            lo, hi = int(local.min()), int(local.max()) + 1
            pieces.append(self.runs[w].rows(lo, hi))
            index[mine] = base + (local - lo)
            base += hi - lo
        if not pieces:
            return EVENTS_SCHEMA.empty_table()
        return pa.concat_tables(pieces).take(pa.array(index))

    def column_at(self, name: str, rows: Sequence[int]) -> pa.Array:
        """One column at these global rows, in the order given (see :meth:`Run.column_at`)."""
        g = np.asarray(rows, np.int64)
        parts: list[pa.Array] = []
        positions: list[np.ndarray] = []
        for w, mine in _groups(self._run_of(g)):
            parts.append(self.runs[w].column_at(name, g[mine] - self.starts[w]))
            positions.append(mine)
        return _in_order(parts, positions, name)

    def close(self) -> None:
        for r in self.runs:
            r.close()
