"""Round and final records as Parquet bytes, and back.

One Parquet object per round, one row per path (DESIGN.md, "Checkpoints"). Reading is
strict: an object that does not parse, lacks a column, or disagrees with the key it was
stored under raises `CorruptObject` and is never turned into state.
"""

from __future__ import annotations

import io
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from leap.algorithm.records import FinalRecord, PathAnswer, PathRound, RoundRecord, Segment

SCHEMA_VERSION = 1

_SEGMENT = pa.struct(
    [("kind", pa.string()), ("token_ids", pa.list_(pa.int32())), ("text", pa.string())]
)
ROUND_SCHEMA = pa.schema(
    [
        ("schema_version", pa.int16()),
        ("run_id", pa.string()),
        ("problem_id", pa.string()),
        ("round", pa.int32()),
        ("path", pa.int32()),
        ("segments", pa.list_(_SEGMENT)),
        ("peers", pa.list_(pa.int32())),
        ("similarities", pa.list_(pa.float64())),
        ("finished", pa.bool_()),
        ("finish_reason", pa.string()),
        ("reasoning_tokens", pa.int64()),
        ("summary_tokens", pa.int64()),
        ("injected_tokens", pa.int64()),
        ("prompt_computed", pa.int64()),
        ("prompt_reused", pa.int64()),
        ("reason_seed", pa.int64()),
        ("summary_seed", pa.int64()),
        ("wall_seconds", pa.float64()),
        ("generate_seconds", pa.float64()),
        ("summary_seconds", pa.float64()),
    ]
)
FINAL_SCHEMA = pa.schema(
    [
        ("schema_version", pa.int16()),
        ("run_id", pa.string()),
        ("problem_id", pa.string()),
        ("path", pa.int32()),
        ("segments", pa.list_(_SEGMENT)),
        ("forced", pa.bool_()),
        ("finish_reason", pa.string()),
        ("own_text", pa.string()),
        ("answer_tokens", pa.int64()),
        ("prompt_computed", pa.int64()),
        ("prompt_reused", pa.int64()),
        ("seed", pa.int64()),
        ("wall_seconds", pa.float64()),
    ]
)


class CorruptObject(ValueError):
    """A stored object that cannot be trusted."""


def round_to_parquet(run_id: str, record: RoundRecord) -> bytes:
    rows = [
        {
            "schema_version": SCHEMA_VERSION,
            "run_id": run_id,
            "problem_id": record.problem_id,
            "round": record.round,
            "path": row.path,
            "segments": [_segment_row(s) for s in row.segments],
            "peers": row.peers,
            "similarities": row.similarities,
            "finished": row.finished,
            "finish_reason": row.finish_reason,
            "reasoning_tokens": row.reasoning_tokens,
            "summary_tokens": row.summary_tokens,
            "injected_tokens": row.injected_tokens,
            "prompt_computed": row.prompt_computed,
            "prompt_reused": row.prompt_reused,
            "reason_seed": row.reason_seed,
            "summary_seed": row.summary_seed,
            "wall_seconds": record.wall_seconds,
            "generate_seconds": record.generate_seconds,
            "summary_seconds": record.summary_seconds,
        }
        for row in record.paths
    ]
    return _to_bytes(rows, ROUND_SCHEMA)


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
    first = rows[0]
    return RoundRecord(
        problem_id=problem_id,
        round=round_index,
        paths=[
            PathRound(
                path=row["path"],
                segments=[_segment(s) for s in row["segments"]],
                peers=list(row["peers"]),
                similarities=list(row["similarities"]),
                finished=row["finished"],
                finish_reason=row["finish_reason"],
                reasoning_tokens=row["reasoning_tokens"],
                summary_tokens=row["summary_tokens"],
                injected_tokens=row["injected_tokens"],
                prompt_computed=row["prompt_computed"],
                prompt_reused=row["prompt_reused"],
                reason_seed=row["reason_seed"],
                summary_seed=row["summary_seed"],
            )
            for row in rows
        ],
        wall_seconds=first["wall_seconds"],
        generate_seconds=first["generate_seconds"],
        summary_seconds=first["summary_seconds"],
    )


def final_to_parquet(run_id: str, record: FinalRecord) -> bytes:
    rows = [
        {
            "schema_version": SCHEMA_VERSION,
            "run_id": run_id,
            "problem_id": record.problem_id,
            "path": a.path,
            "segments": [_segment_row(s) for s in a.segments],
            "forced": a.forced,
            "finish_reason": a.finish_reason,
            "own_text": a.own_text,
            "answer_tokens": a.answer_tokens,
            "prompt_computed": a.prompt_computed,
            "prompt_reused": a.prompt_reused,
            "seed": a.seed,
            "wall_seconds": record.wall_seconds,
        }
        for a in record.answers
    ]
    return _to_bytes(rows, FINAL_SCHEMA)


def final_from_parquet(data: bytes, problem_id: str) -> FinalRecord:
    rows = _from_bytes(data, FINAL_SCHEMA)
    if not rows or any(row["problem_id"] != problem_id for row in rows):
        raise CorruptObject(f"it does not hold the final answers of problem {problem_id!r}")
    return FinalRecord(
        problem_id=problem_id,
        answers=[
            PathAnswer(
                path=row["path"],
                segments=[_segment(s) for s in row["segments"]],
                forced=row["forced"],
                finish_reason=row["finish_reason"],
                own_text=row["own_text"],
                answer_tokens=row["answer_tokens"],
                prompt_computed=row["prompt_computed"],
                prompt_reused=row["prompt_reused"],
                seed=row["seed"],
            )
            for row in rows
        ],
        wall_seconds=rows[0]["wall_seconds"],
    )


def _segment_row(segment: Segment) -> dict[str, Any]:
    return {"kind": segment.kind, "token_ids": segment.token_ids, "text": segment.text}


def _segment(row: dict[str, Any]) -> Segment:
    return Segment(row["kind"], list(row["token_ids"]), row["text"])


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
    return table.to_pylist()
