"""The Parquet codec of round and final records: derived from the records, format frozen."""

from __future__ import annotations

import io
from dataclasses import MISSING, fields

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from leap.algorithm.records import FinalRecord, PathAnswer, PathRound, RoundRecord, Segment
from leap.runs.parquet import (
    FINAL_SCHEMA,
    ROUND_SCHEMA,
    SCHEMA_VERSION,
    CorruptObject,
    final_from_parquet,
    final_to_parquet,
    round_from_parquet,
    round_to_parquet,
)

# The stored format since SCHEMA_VERSION 1, written out by hand: every stored run has these
# columns with these types (version 2 added segment kinds, not columns). Deriving the
# schema from the records must keep it exactly.
_SEGMENT = pa.struct(
    [("kind", pa.string()), ("token_ids", pa.list_(pa.int32())), ("text", pa.string())]
)
STORED_ROUND = pa.schema(
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
STORED_FINAL = pa.schema(
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


def full_round() -> RoundRecord:
    """A round whose every field differs from its default (so a lost field shows)."""
    segments = [
        Segment("reasoning", [11, 12, 13], "abc"),
        Segment("discarded", [14], "d"),
        Segment("peers", [15, 16], "<peer_summaries>"),
    ]
    return RoundRecord(
        problem_id="prob-7",
        round=3,
        paths=[
            PathRound(
                path=1,
                segments=segments,
                peers=[0, 2],
                similarities=[0.25, 0.75],
                finished=True,
                finish_reason="think_end",
                reasoning_tokens=300,
                summary_tokens=40,
                injected_tokens=90,
                prompt_computed=17,
                prompt_reused=1200,
                reason_seed=2**40 + 5,
                summary_seed=-3,
            ),
            PathRound(path=2, segments=[Segment("reasoning", [1], "x")], summary_seed=None),
        ],
        wall_seconds=1.5,
        generate_seconds=1.25,
        summary_seconds=0.125,
    )


def full_final() -> FinalRecord:
    return FinalRecord(
        problem_id="prob-7",
        answers=[
            PathAnswer(
                path=0,
                segments=[Segment("cue", [5, 6], "Final answer:"), Segment("answer", [7], "42")],
                forced=True,
                finish_reason="budget",
                own_text="so \\boxed{42}",
                answer_tokens=9,
                prompt_computed=3,
                prompt_reused=800,
                seed=2**33,
            ),
            PathAnswer(path=1, segments=[], forced=False, finish_reason="eos", own_text=""),
        ],
        wall_seconds=2.5,
    )


def parquet_bytes(rows: list[dict], schema: pa.Schema) -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), sink)
    return sink.getvalue()


def stored_rows(data: bytes) -> list[dict]:
    return pq.read_table(io.BytesIO(data)).to_pylist()


def test_the_derived_schemas_are_the_stored_format():
    assert SCHEMA_VERSION == 2
    assert ROUND_SCHEMA.equals(STORED_ROUND)
    assert FINAL_SCHEMA.equals(STORED_FINAL)


def test_every_record_field_is_a_column():
    header = {"schema_version", "run_id"}
    round_fields = {f.name for f in fields(RoundRecord)} - {"paths"}
    path_fields = {f.name for f in fields(PathRound)}
    assert set(ROUND_SCHEMA.names) == header | round_fields | path_fields
    final_fields = {f.name for f in fields(FinalRecord)} - {"answers"}
    answer_fields = {f.name for f in fields(PathAnswer)}
    assert set(FINAL_SCHEMA.names) == header | final_fields | answer_fields


@pytest.mark.parametrize("record_type", [PathRound, PathAnswer])
def test_the_test_records_set_every_field(record_type):
    """Guards the round trips below: a new field must be given a non-default value here."""
    record = full_round().paths[0] if record_type is PathRound else full_final().answers[0]
    for f in fields(record_type):
        if f.default is not MISSING:
            assert getattr(record, f.name) != f.default, f.name
        if f.default_factory is not MISSING:
            assert getattr(record, f.name) != f.default_factory(), f.name


def test_round_round_trip_keeps_every_field():
    record = full_round()
    data = round_to_parquet("run-a", record)
    assert round_from_parquet(data, "prob-7", 3) == record
    rows = stored_rows(data)
    assert [r["path"] for r in rows] == [1, 2]
    # Record-level values repeat on every row, beside the header.
    for row in rows:
        assert (row["schema_version"], row["run_id"]) == (SCHEMA_VERSION, "run-a")
        assert (row["problem_id"], row["round"], row["wall_seconds"]) == ("prob-7", 3, 1.5)
        assert (row["generate_seconds"], row["summary_seconds"]) == (1.25, 0.125)


def test_final_round_trip_keeps_every_field():
    record = full_final()
    data = final_to_parquet("run-a", record)
    assert final_from_parquet(data, "prob-7") == record
    assert [row["wall_seconds"] for row in stored_rows(data)] == [2.5, 2.5]


def test_objects_written_with_the_stored_format_read_back():
    """What an existing run holds (written with the hand-declared schema) stays readable."""
    segment = {"kind": "reasoning", "token_ids": [1, 2], "text": "hi"}
    round_row = {
        "schema_version": 1,
        "run_id": "old",
        "problem_id": "p",
        "round": 0,
        "path": 0,
        "segments": [segment],
        "peers": [1],
        "similarities": [0.5],
        "finished": False,
        "finish_reason": None,
        "reasoning_tokens": 2,
        "summary_tokens": 0,
        "injected_tokens": 0,
        "prompt_computed": 10,
        "prompt_reused": 0,
        "reason_seed": 99,
        "summary_seed": None,
        "wall_seconds": 0.5,
        "generate_seconds": 0.25,
        "summary_seconds": 0.0,
    }
    record = round_from_parquet(parquet_bytes([round_row], STORED_ROUND), "p", 0)
    assert record.paths[0] == PathRound(
        path=0,
        segments=[Segment("reasoning", [1, 2], "hi")],
        peers=[1],
        similarities=[0.5],
        reasoning_tokens=2,
        prompt_computed=10,
        reason_seed=99,
    )
    assert (record.wall_seconds, record.generate_seconds) == (0.5, 0.25)
    final_row = {
        "schema_version": 1,
        "run_id": "old",
        "problem_id": "p",
        "path": 0,
        "segments": [segment],
        "forced": False,
        "finish_reason": "eos",
        "own_text": "hi",
        "answer_tokens": 2,
        "prompt_computed": 1,
        "prompt_reused": 9,
        "seed": None,
        "wall_seconds": 3.0,
    }
    final = final_from_parquet(parquet_bytes([final_row], STORED_FINAL), "p")
    assert final.answers[0].own_text == "hi" and final.wall_seconds == 3.0


def test_reading_is_strict():
    data = round_to_parquet("run-a", full_round())
    with pytest.raises(CorruptObject, match="not readable Parquet"):
        round_from_parquet(b"not parquet", "prob-7", 3)
    with pytest.raises(CorruptObject, match="not problem 'prob-7' round 4"):
        round_from_parquet(data, "prob-7", 4)
    with pytest.raises(CorruptObject, match="not problem 'other' round 3"):
        round_from_parquet(data, "other", 3)
    with pytest.raises(CorruptObject, match="no rows"):
        round_from_parquet(parquet_bytes([], ROUND_SCHEMA), "prob-7", 3)
    final = final_to_parquet("run-a", full_final())
    with pytest.raises(CorruptObject, match="final answers of problem 'other'"):
        final_from_parquet(final, "other")
    with pytest.raises(CorruptObject, match="final answers"):
        final_from_parquet(parquet_bytes([], FINAL_SCHEMA), "prob-7")


def test_an_object_of_a_newer_schema_version_is_refused():
    rows = stored_rows(round_to_parquet("run-a", full_round()))
    newer = parquet_bytes([{**r, "schema_version": SCHEMA_VERSION + 1} for r in rows], ROUND_SCHEMA)
    with pytest.raises(CorruptObject, match=f"schema version {SCHEMA_VERSION + 1}, newer"):
        round_from_parquet(newer, "prob-7", 3)


def test_a_missing_column_is_named():
    table = pq.read_table(io.BytesIO(round_to_parquet("run-a", full_round())))
    sink = io.BytesIO()
    pq.write_table(table.drop_columns(["prompt_reused", "summary_seed"]), sink)
    with pytest.raises(CorruptObject, match="lacks the column.*prompt_reused, summary_seed"):
        round_from_parquet(sink.getvalue(), "prob-7", 3)


def test_a_column_of_another_type_is_refused():
    table = pq.read_table(io.BytesIO(final_to_parquet("run-a", full_final())))
    position = table.column_names.index("forced")
    table = table.set_column(position, "forced", pa.array(["maybe"] * table.num_rows))
    sink = io.BytesIO()
    pq.write_table(table, sink)
    with pytest.raises(CorruptObject, match="unexpected types"):
        final_from_parquet(sink.getvalue(), "prob-7")
