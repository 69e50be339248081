"""Checkpoint writes: `RunStore.save_round` time per round object, as a share of the round.

The rounds come from peer groups run with the CPU preset (`leap.defaults.CPU_PRESET`)
on a few smoke problems; each record is then written again and again under fresh keys,
alternately into a local folder and into a bucket of a moto S3 server on 127.0.0.1 (a
child process, like a real endpoint). Serialising to Parquet is timed on its own too, so
the I/O part can be read off. Used by `checkpoint.py` (`--only write`).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from harness import median
from resume_child import ROOT


@dataclass
class WriteSample:
    store: str  # local | s3
    repeat: int
    problem_id: str
    round: int
    bytes: int
    serialize_ms: float  # round_to_parquet alone, timed separately
    write_ms: float  # the whole save_round call (it serialises again, then stores)
    round_wall_s: float

    @property
    def share(self) -> float:
        return self.write_ms / 1000.0 / self.round_wall_s


def produce_rounds(engine: Any, config: Any, problems: Sequence[Any]) -> list[Any]:
    """Real rounds: each problem solved by a peer group, every round kept."""
    from leap.methods.peers import PeerGroup

    records: list[Any] = []
    for problem in problems:
        group = PeerGroup(engine, config, problem, cache_prefix=f"write-bench/{problem.id}")
        started = time.perf_counter()
        group.run(on_round=records.append)
        print(
            f"  {problem.id}: {time.perf_counter() - started:.1f} s, rounds so far {len(records)}"
        )
    engine.reset_cache()
    return records


def measure_writes(
    records: Sequence[Any], local_root: Path, s3_store: Any, repeats: int, prefix: str
) -> list[WriteSample]:
    """Write every record `repeats` times into both stores, alternating which goes first."""
    from leap.runs import RunStore
    from leap.runs.parquet import round_to_parquet
    from leap.store import open_store

    local_store = open_store(str(local_root))
    stores = {"local": local_store, "s3": s3_store}
    samples: list[WriteSample] = []
    for repeat in range(repeats):
        for index, record in enumerate(records):
            order = ("local", "s3") if (repeat + index) % 2 == 0 else ("s3", "local")
            for name in order:
                run = RunStore(stores[name], f"{prefix}-{repeat:03d}")  # a fresh key every time
                started = time.perf_counter()
                data = round_to_parquet(run.run_id, record)
                serialized = time.perf_counter()
                run.save_round(record)
                done = time.perf_counter()
                samples.append(
                    WriteSample(
                        store=name,
                        repeat=repeat,
                        problem_id=record.problem_id,
                        round=record.round,
                        bytes=len(data),
                        serialize_ms=1000 * (serialized - started),
                        write_ms=1000 * (done - serialized),
                        round_wall_s=record.wall_seconds,
                    )
                )
    return samples


def write_benchmark(args: argparse.Namespace, engine: Any, work: Path) -> dict[str, Any]:
    from leap.algorithm.config import LeapConfig
    from leap.benchmarks import load_benchmark
    from leap.defaults import CPU_PRESET
    from leap.store import open_store

    sys.path.insert(0, str(ROOT / "tests"))  # the tests' moto server, imported as they do
    from s3server import MotoS3

    preset = dict(CPU_PRESET)
    if args.quick:
        preset.update(tokens_per_round=16, max_tokens=32, summary_max_tokens=8, n_paths=2)
        preset.update(answer_max_tokens=4, top_k=1)
    config = LeapConfig(**preset)
    problems = load_benchmark("smoke")[: args.write_problems]
    print(f"producing rounds on {len(problems)} smoke problems with {preset}")
    records = produce_rounds(engine, config, problems)
    # Writes to the same key twice would fail (write-once), so each repeat has its own run id.
    server = MotoS3(mode="process").start()
    try:
        bucket = server.create_bucket()
        s3_store = open_store(f"s3://{bucket}/bench", s3_options=server.options())
        s3_store.check()
        # Warm both paths once (boto3's first request builds its endpoint and signer).
        measure_writes(records[:1], work / "writes", s3_store, 1, "warm")
        samples = measure_writes(records, work / "writes", s3_store, args.write_repeats, "write")
    finally:
        server.stop()
    walls = [r.wall_seconds for r in records]
    summary: dict[str, Any] = {
        "config": preset,
        "problems": [p.id for p in problems],
        "rounds": len(records),
        "round_wall_seconds": walls,
        "round_wall_seconds_median": median(walls),
        "repeats": args.write_repeats,
    }
    for name in ("local", "s3"):
        rows = [s for s in samples if s.store == name]
        write = median([s.write_ms for s in rows])
        serialize = median([s.serialize_ms for s in rows])
        store_only = median([s.write_ms - s.serialize_ms for s in rows])
        summary[name] = {
            "writes": len(rows),
            "bytes_median": median([s.bytes for s in rows]),
            "serialize_ms_median": serialize,
            "store_ms_median": store_only,
            "save_round_ms_median": write,
            "share_of_round_median": median([s.share for s in rows]),
        }
        summary[name]["share_ratio_of_medians"] = (
            summary[name]["save_round_ms_median"] / 1000 / summary["round_wall_seconds_median"]
        )
    summary["samples"] = [asdict(s) for s in samples]
    return summary
