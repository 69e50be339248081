"""A tiny real SFT data set for tests: `leap sft-data`'s library on a real run of the
default model.

`build_sft_fixture(tmp_path)` returns a data folder (`data.parquet`, `card.json`,
`card.md`) with one example per path of a stored LeaP run: one smoke problem, two paths,
two rounds of 16 tokens with one LeaP block between them, 12-token summaries, answers
forced when the budget runs out. Every example is under 300 tokens.

The default model rarely answers right or closes a summary within such budgets, so the
data keeps every path (all filters off): the examples are real token ids of the real
tokenizer, not good training material. The run is solved and scored once per test
session (a few seconds on the CPU model); every call copies the data set into its own
`tmp_path`.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path
from typing import Any

from leap.algorithm.config import LeapConfig
from leap.runs import RunSpec, RunStore, load_run_problems
from leap.runs.results import build_results
from leap.runs.solve import solve_problem
from leap.training.sft_data import SftFilters, build_sft_data, write_sft_data

RUN_ID = "sft-fixture"
# Keep everything the run wrote: the tiny model's paths pass none of the default filters.
KEEP_ALL = SftFilters(correct_only=False, closed_summaries=False, drop_forced=False)
_LEAP = {
    "n_paths": 2,
    "tokens_per_round": 16,
    "max_tokens": 32,
    "summary_max_tokens": 12,
    "answer_max_tokens": 8,
    "top_k": 1,
    "seed": 3,
}
_built: dict[str, Path] = {}


def build_sft_run(engine: Any = None) -> tuple[str, str]:
    """The stored, scored real run: (store folder, run id); solved once per session.

    `engine` is a loaded default-model engine (the `engine` fixture); without one, a
    float32 engine is loaded for the run and closed after it.
    """
    if "store" not in _built:
        root = Path(tempfile.mkdtemp(prefix="leap-sft-fixture-"))
        atexit.register(shutil.rmtree, root, ignore_errors=True)
        store = root / "store"
        spec = RunSpec(
            benchmark="smoke",
            limit=1,
            dtype="float32",
            leap=LeapConfig(**_LEAP),
            store=str(store),
            run_id=RUN_ID,
        )
        run = RunStore.open(spec.store, RUN_ID)
        run.create_or_check(spec)
        problems = load_run_problems(spec)
        own = engine is None
        if own:
            from leap.engines.transformers.engine import TransformersEngine

            engine = TransformersEngine(dtype="float32")
        try:
            for problem in problems:
                solve_problem(engine, spec, problem, run)
        finally:
            if own:
                engine.close()
        build_results(spec, run, problems)  # what `leap report` does: the scores
        _built["store"] = store
    return str(_built["store"]), RUN_ID


def build_sft_fixture(tmp_path: Path, engine: Any = None) -> Path:
    """A copy, in `tmp_path`, of the tiny real data set; returns its folder."""
    if "data" not in _built:
        store, run_id = build_sft_run(engine)
        data = build_sft_data(store, [run_id], KEEP_ALL)
        _built["data"] = Path(store).parent / "sft-data"
        write_sft_data(data, _built["data"])
    target = Path(tmp_path) / "sft-data"
    shutil.copytree(_built["data"], target)
    return target
