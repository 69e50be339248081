"""What checkpointing and resuming cost on the CPU engine with the default model.

Two measurements:

1. write (`checkpoint_writes.py`): the time `RunStore.save_round` takes for real rounds,
   as a share of the round's own compute time (`RoundRecord.wall_seconds`), into a local
   folder and into a moto S3 server on 127.0.0.1; Parquet serialisation timed on its own.
2. resume (`checkpoint_resume.py`): a run of 30 easy arithmetic problems with one or two
   stored rounds each is resumed in a FRESH Python process (`resume_child.py`), and the
   time from process start to the first sampled token of the resumed run is taken,
   without the model load, at the library level and through `leap resume`.

This is a measuring script, not a test: it asserts nothing about speed. Example:

    .venv/bin/python bench/checkpoint.py --json bench/checkpoint.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from checkpoint_resume import resume_benchmark
from checkpoint_writes import write_benchmark
from harness import (
    add_quiet_options,
    console,
    load_average,
    machine_info,
    quiet_policy,
    write_json,
)
from resume_child import ROOT, RUN_ID
from rich.table import Table


def set_environment(prefect_home: Path) -> None:
    os.environ.setdefault("LEAP_HOME", str(ROOT / ".cache" / "leap"))
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    os.environ["PREFECT_HOME"] = str(prefect_home)
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


def print_tables(report: dict[str, Any]) -> None:
    if "write" in report:
        w = report["write"]
        table = Table(
            title=(
                f"Checkpoint write per round ({w['rounds']} rounds x {w['repeats']} repeats, "
                f"median round wall {w['round_wall_seconds_median']:.2f} s)"
            )
        )
        for column in ("store", "object KB", "parquet ms", "store ms", "save_round ms"):
            table.add_column(column, justify="right")
        table.add_column("share of round", justify="right")
        table.add_column("target", justify="right")
        for name, target in (("local", 0.02), ("s3", 0.05)):
            f = w[name]
            table.add_row(
                "local folder" if name == "local" else "moto S3",
                f"{f['bytes_median'] / 1024:.1f}",
                f"{f['serialize_ms_median']:.2f}",
                f"{f['store_ms_median']:.2f}",
                f"{f['save_round_ms_median']:.2f}",
                f"{100 * f['share_ratio_of_medians']:.3f}% "
                f"(per round {100 * f['share_of_round_median']:.3f}%)",
                f"<= {100 * target:.0f}%",
            )
        console.print(table)
    if "resume" in report:
        r = report["resume"]
        table = Table(
            title=(
                f"Resume of a {r['run']['problems']}-problem run, fresh process to first "
                f"new token (median of {r['repeats']}, seconds)"
            )
        )
        table.add_column("span")
        table.add_column("library", justify="right")
        table.add_column("leap resume", justify="right")
        keys: list[str] = []
        for level in ("library", "cli"):
            keys += [k for k in r[level]["median"] if k not in keys]
        for key in keys:
            cells = []
            for level in ("library", "cli"):
                value = r[level]["median"].get(key)
                cells.append("" if value is None else f"{value:.2f}")
            table.add_row(key.replace("_", " "), *cells)
        console.print(table)
        warm = r["warm_in_process"]["median"]
        console.print(
            "same library steps in a warm process (model loaded, kernels used before): "
            f"{warm['to_first_token']:.2f} s to the first token, of which listing and rebuild "
            f"{warm['listing_and_rebuild']:.2f} s, prefill {warm['prefill_to_first_token']:.2f} s"
        )
        console.print("target: <= 5 s to the first new token, model load excluded")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, to check it runs")
    parser.add_argument("--repeats", type=int, default=3, help="resume runs per level (3)")
    parser.add_argument("--write-repeats", type=int, default=7, help="writes per record (7)")
    parser.add_argument("--write-problems", type=int, default=3, help="smoke problems (3)")
    parser.add_argument("--resume-problems", type=int, default=30, help="problems in the run")
    parser.add_argument(
        "--resume-store",
        type=Path,
        default=None,
        help=f"resume the run {RUN_ID!r} stored in this folder instead of building one",
    )
    parser.add_argument("--only", choices=["write", "resume"], default=None)
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    add_quiet_options(parser, wait=900.0, below=0.5)
    parser.add_argument("--child-timeout", type=float, default=600.0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats = min(args.repeats, 1)
        args.write_repeats = min(args.write_repeats, 2)
        args.write_problems = min(args.write_problems, 1)
        args.resume_problems = min(args.resume_problems, 4)
        args.wait_quiet = 0.0
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="leap-checkpoint-bench-"))
    set_environment(work / "prefect-home")
    sys.path.insert(0, str(ROOT))
    command = " ".join(["python", "bench/checkpoint.py", *sys.argv[1:]])
    quiet = quiet_policy(args).wait()
    print(f"load average {quiet.load_average} after waiting {quiet.waited_seconds:.0f} s")

    from leap.engines.transformers.engine import TransformersEngine

    started = time.perf_counter()
    engine = TransformersEngine()
    load_seconds = time.perf_counter() - started
    report: dict[str, Any] = {
        "command": command,
        "machine": machine_info(engine) | {"model_load_seconds_in_parent": load_seconds},
        "quiet_wait": asdict(quiet),
        "load_average_before": quiet.load_average,
    }
    sections: list[tuple[str, Callable[[argparse.Namespace, Any, Path], dict[str, Any]]]] = [
        ("write", write_benchmark),
        ("resume", resume_benchmark),
    ]
    try:
        for name, measure in sections:
            if args.only in (None, name):
                report[f"load_average_before_{name}"] = load_average()
                report[name] = measure(args, engine, work)
                report[f"load_average_after_{name}"] = load_average()
    finally:
        report["load_average_after"] = load_average()
        if args.json is not None:
            write_json(args.json, report)
        shutil.rmtree(work, ignore_errors=True)
        engine.close()
    print(f"machine: {json.dumps(report['machine'])}")
    print(
        f"load average before {report['load_average_before']}, after {report['load_average_after']}"
    )
    print_tables(report)
    if args.json is not None:
        print(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
