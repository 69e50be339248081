"""Round and final records as Parquet bytes, and back.

One Parquet object per round, one row per path (DESIGN.md, "Checkpoints"). The columns
are derived from the record dataclasses in `leap.algorithm.records`: a record's fields in
order, with its list of per-path rows (`RoundRecord.paths`, `FinalRecord.answers`)
spread in place into that row type's fields, so record-level values (the problem id, the
timings) repeat on every row. A new field in a record is a new column; nothing else
needs to change. Reading is strict: an object that does not parse, lacks a column, has
a column of another type, or disagrees with the key it was stored under raises
`CorruptObject` and is never turned into state.
"""

from __future__ import annotations

import io
import types
from collections.abc import Sequence
from dataclasses import dataclass, fields, is_dataclass
from functools import cache
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

import pyarrow as pa
import pyarrow.parquet as pq

from leap.algorithm.records import FinalRecord, RoundRecord

# Version 2 adds segment kinds, not columns: `beginning` (a prefix inherited from another
# run) and answer segments inside rounds (moa). Version 1 objects read unchanged; an
# object of a newer version is refused rather than half understood.
SCHEMA_VERSION = 2

# Header columns every stored row starts with; they are not fields of a record.
_HEADER = [("schema_version", pa.int16()), ("run_id", pa.string())]
# Fields stored as 32-bit integers (for a list, its items): indexes and token ids. Every
# other integer is 64-bit. This is the stored format since SCHEMA_VERSION 1; keep it.
_INT32_FIELDS = frozenset({"round", "path", "peers", "token_ids"})
_SCALARS: dict[type, pa.DataType] = {
    int: pa.int64(),
    float: pa.float64(),
    bool: pa.bool_(),
    str: pa.string(),
}


class CorruptObject(ValueError):
    """A stored object that cannot be trusted."""


def _arrow_type(name: str, hint: Any) -> pa.DataType:
    """The Arrow type of a record field named `name` annotated with `hint`."""
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, types.UnionType):  # `X | None`: a nullable X
        (inner,) = [a for a in args if a is not type(None)]
        return _arrow_type(name, inner)
    if origin is Literal:
        return pa.string()
    if origin is list:
        return pa.list_(_arrow_type(name, args[0]))
    if is_dataclass(hint):
        return pa.struct(_columns(hint))
    if hint is int and name in _INT32_FIELDS:
        return pa.int32()
    return _SCALARS[hint]


def _columns(cls: type) -> list[tuple[str, pa.DataType]]:
    hints = get_type_hints(cls)
    return [(f.name, _arrow_type(f.name, hints[f.name])) for f in fields(cls)]


@cache
def _nested(cls: type) -> dict[str, type]:
    """The fields of `cls` that hold a list of dataclasses, with that dataclass."""
    nested = {}
    for name, hint in get_type_hints(cls).items():
        if get_origin(hint) is list and is_dataclass(item := get_args(hint)[0]):
            nested[name] = item
    return nested


@dataclass(frozen=True)
class _Layout:
    """How one record type lies in a table: its fields, with `rows` spread in place."""

    record: type
    rows: str  # the record's field holding one item per stored row
    item: type  # the type of those items
    schema: pa.Schema

    @classmethod
    def of(cls, record: type) -> _Layout:
        columns = list(_HEADER)
        ((rows, item),) = _nested(record).items()
        for name, arrow_type in _columns(record):
            columns += _columns(item) if name == rows else [(name, arrow_type)]
        return cls(record, rows, item, pa.schema(columns))

    def to_rows(self, run_id: str, record: Any) -> list[dict[str, Any]]:
        shared = {"schema_version": SCHEMA_VERSION, "run_id": run_id}
        shared |= {f.name: getattr(record, f.name) for f in fields(record) if f.name != self.rows}
        return [shared | _plain(item) for item in getattr(record, self.rows)]

    def from_rows(self, rows: list[dict[str, Any]]) -> Any:
        """The record the rows hold; record-level values come from the first row."""
        values = {f.name: rows[0][f.name] for f in fields(self.record) if f.name != self.rows}
        return self.record(**values, **{self.rows: [_build(self.item, row) for row in rows]})


def _plain(item: Any) -> dict[str, Any]:
    """A dataclass as a row: a list of dataclasses becomes a list of dicts, the rest stays."""
    row = {}
    for f in fields(item):
        value = getattr(item, f.name)
        if value and isinstance(value, list) and is_dataclass(value[0]):
            value = [_plain(v) for v in value]
        row[f.name] = value
    return row


def _build(cls: type, row: dict[str, Any]) -> Any:
    """The dataclass `cls` a row holds (the inverse of `_plain`)."""
    values = {f.name: row[f.name] for f in fields(cls)}
    for name, item in _nested(cls).items():
        values[name] = [_build(item, v) for v in values[name]]
    return cls(**values)


_ROUND = _Layout.of(RoundRecord)
_FINAL = _Layout.of(FinalRecord)
ROUND_SCHEMA = _ROUND.schema
FINAL_SCHEMA = _FINAL.schema


def round_to_parquet(run_id: str, record: RoundRecord) -> bytes:
    return _to_bytes(_ROUND.to_rows(run_id, record), ROUND_SCHEMA)


def round_from_parquet(data: bytes, problem_id: str, round_index: int) -> RoundRecord:
    rows = _from_bytes(data, ROUND_SCHEMA)
    if not rows:
        raise CorruptObject("it holds no rows")
    for row in rows:
        if row["problem_id"] != problem_id or row["round"] != round_index:
            raise CorruptObject(
                f"it holds problem {row['problem_id']!r} round {row['round']}, "
                f"not problem {problem_id!r} round {round_index}"
            )
    return _ROUND.from_rows(rows)


def final_to_parquet(run_id: str, record: FinalRecord) -> bytes:
    return _to_bytes(_FINAL.to_rows(run_id, record), FINAL_SCHEMA)


def final_from_parquet(data: bytes, problem_id: str) -> FinalRecord:
    rows = _from_bytes(data, FINAL_SCHEMA)
    if not rows or any(row["problem_id"] != problem_id for row in rows):
        raise CorruptObject(f"it does not hold the final answers of problem {problem_id!r}")
    return _FINAL.from_rows(rows)


def rows_to_parquet(rows: Sequence[Any], row_type: type) -> bytes:
    """Dataclass instances of `row_type` as a table: one row each, one column per field."""
    return _to_bytes([_plain(row) for row in rows], pa.schema(_columns(row_type)))


def _to_bytes(rows: list[dict[str, Any]], schema: pa.Schema) -> bytes:
    table = pa.Table.from_pylist(rows, schema=schema)
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def _from_bytes(data: bytes, schema: pa.Schema) -> list[dict[str, Any]]:
    try:
        table = pq.read_table(io.BytesIO(data))
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise CorruptObject(f"it is not readable Parquet ({type(exc).__name__})") from None
    missing = [name for name in schema.names if name not in table.column_names]
    if missing:
        raise CorruptObject(f"it lacks the column(s) {', '.join(missing)}")
    try:
        table = table.select(schema.names).cast(schema)
    except (pa.ArrowException, ValueError) as exc:
        raise CorruptObject(f"its columns have unexpected types ({exc})") from None
    rows = table.to_pylist()
    newer = {r["schema_version"] for r in rows if r.get("schema_version", 0) > SCHEMA_VERSION}
    if newer:
        raise CorruptObject(
            f"it was written in schema version {max(newer)}, newer than this version "
            f"reads ({SCHEMA_VERSION}); upgrade the pipeline to read it"
        )
    return rows
