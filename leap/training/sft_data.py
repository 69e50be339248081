"""An SFT data set for LeaP-T from stored runs (`leap sft-data`, docs/training.md).

`build_sft_data` reads finished, scored runs of one model (`leap.training.sft_sources`),
lays out every answered path as an example (`leap.training.sft_examples`), keeps those
that pass the filters in order (`FILTERS`), drops repeated token sequences, and describes
the result in a data card (`leap.training.sft_card`). `write_sft_data` writes
`data.parquet`, `card.json` and `card.md` into a folder in one step (a temporary sibling
renamed into place), so a folder never holds half a data set.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import secrets
import shutil
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from leap.algorithm import prompts
from leap.algorithm.records import PathAnswer, RoundRecord, Segment, path_rows
from leap.benchmarks.problem import Problem
from leap.errors import LeapError
from leap.training.sft_card import card_markdown, data_card
from leap.training.sft_examples import (
    EXAMPLE_SCHEMA,
    SftExample,
    Tokenizer,
    lay_out,
    leap_t_prompt,
    loss_mask_of,
    path_segments,
    spans_of,
    summaries_of,
)
from leap.training.sft_sources import SourceRun, open_sources, tokenizer_of

DATA_FILE = "data.parquet"
DATA_SET_FILES = (DATA_FILE, "card.json", "card.md")
# The filters in the order they apply: setting, name in the card, how to loosen it.
FILTERS: tuple[tuple[str, str, str], ...] = (
    ("correct_only", "correct answer", "--all-answers"),
    ("closed_summaries", "summaries closed by the model", "--any-summaries"),
    ("drop_forced", "no forced answer", "--keep-forced"),
    ("max_length", "max length", "a larger --max-length"),
)
DUPLICATE = "duplicate"  # the last step: identical input_ids, the first one kept


@dataclass(frozen=True, slots=True)
class SftFilters:
    """Which paths become examples; all on by default except `max_length`."""

    correct_only: bool = True  # the path's final answer is right (the run's scores)
    closed_summaries: bool = True  # the model closed every summary, within the budget
    drop_forced: bool = True  # leave out paths made to answer when their budget ran out
    max_length: int | None = None  # most tokens per example; None: any length

    def __post_init__(self) -> None:
        if self.max_length is not None and self.max_length < 1:
            raise LeapError(f"max length {self.max_length} is not a token count: give 1 or more.")

    def is_on(self, setting: str) -> bool:
        return getattr(self, setting) not in (False, None)


@dataclass
class SftData:
    examples: list[SftExample]
    card: dict[str, Any]


def build_sft_data(
    store: str,
    run_ids: Sequence[str],
    filters: SftFilters | None = None,
    tokenizer: Tokenizer | None = None,
) -> SftData:
    """The examples of the runs' answered paths that pass `filters`, and their data card.

    `tokenizer` defaults to the runs' model's. One sentence (LeapError) when a run is
    missing, unfinished, unscored or of a method without summaries, when the runs differ
    in model, or when no path is kept. Reads the store only.
    """
    filters = filters or SftFilters()
    sources = open_sources(store, run_ids)
    removed: Counter[str] = Counter()
    paths = 0
    examples: list[SftExample] = []
    seen: set[bytes] = set()  # digests of the kept examples' input_ids
    for source in sources:
        checked = False
        for problem in source.problems:
            rounds: list[RoundRecord] = source.run.load_rounds(problem.id, set_aside=False)
            for answer in source.finals[problem.id].answers:
                paths += 1
                segments = _path_segments(source, problem.id, rounds, answer)
                rejected = _rejected_by(filters, source, problem.id, answer, segments)
                if rejected is not None:
                    removed[rejected] += 1
                    continue
                if tokenizer is None:
                    tokenizer = tokenizer_of(source.spec)
                if not checked:
                    checked = _check_tokenizer(tokenizer, source, segments)
                example = _example(source, problem, answer, segments, tokenizer)
                if filters.max_length is not None and example.n_tokens > filters.max_length:
                    removed["max length"] += 1
                elif (digest := _digest(example.input_ids)) in seen:
                    removed[DUPLICATE] += 1
                else:
                    seen.add(digest)
                    examples.append(example)
    if not examples:
        raise LeapError(_nothing_kept(sources, paths, removed))
    steps = filter_steps(filters, paths, removed)
    return SftData(examples, data_card(sources, steps, paths, examples))


def _digest(ids: Sequence[int]) -> bytes:
    return hashlib.sha256(b"".join(t.to_bytes(4, "little") for t in ids)).digest()


def _path_segments(
    source: SourceRun, problem_id: str, rounds: Sequence[RoundRecord], answer: PathAnswer
) -> list[Segment]:
    rows = path_rows(rounds, answer.path)
    if not rows or not rows[-1].finished:
        raise LeapError(
            f"the rounds of problem {problem_id} in run {source.run_id} end before path "
            f"{answer.path} finished, so a round object is missing or damaged: "
            f"`leap resume {source.run_id}` recomputes it."
        )
    return path_segments(rows, answer)


def _rejected_by(
    filters: SftFilters,
    source: SourceRun,
    problem_id: str,
    answer: PathAnswer,
    segments: Sequence[Segment],
) -> str | None:
    """The first filter before max length that removes the path, if one does."""
    if filters.correct_only and not source.correct[(problem_id, answer.path)]:
        return "correct answer"
    if filters.closed_summaries:
        budget = source.spec.leap.summary_max_tokens
        summaries = summaries_of(segments)
        if not all(s.closed_by_model and s.tokens <= budget for s in summaries):
            return "summaries closed by the model"
    if filters.drop_forced and answer.forced:
        return "no forced answer"
    return None


def _check_tokenizer(tokenizer: Tokenizer, source: SourceRun, segments: Sequence[Segment]) -> bool:
    """The tokenizer must encode the texts the run injected into the ids it stored;
    returns whether the path had such texts to check."""
    injected = [s for s in segments if s.kind in ("cue", "peers")]
    if any(tokenizer.encode(s.text) != list(s.token_ids) for s in injected):
        raise LeapError(
            f"the tokenizer of {source.spec.model} does not give the token ids stored in run "
            f"{source.run_id}, so the model changed since the run: build the data with the "
            "model the run used."
        )
    return bool(injected)


def _example(
    source: SourceRun,
    problem: Problem,
    answer: PathAnswer,
    segments: Sequence[Segment],
    tokenizer: Tokenizer,
) -> SftExample:
    user_message = prompts.task_text(problem, mention_peers=False)
    pieces = lay_out(segments, leap_t_prompt(tokenizer, user_message), tokenizer)
    text, spans = spans_of(pieces)
    ids = [t for p in pieces for t in p.token_ids]
    mask = loss_mask_of(pieces)
    return SftExample(
        run_id=source.run_id,
        problem_id=problem.id,
        path=answer.path,
        model=source.spec.model,
        input_ids=ids,
        loss_mask=mask,
        text=text,
        spans=spans,
        user_message=user_message,
        n_tokens=len(ids),
        n_trained=sum(mask),
        correct=source.correct[(problem.id, answer.path)],
        forced_answer=answer.forced,
        summaries=len(summaries_of(segments)),
    )


def filter_steps(filters: SftFilters, paths: int, removed: Counter[str]) -> list[dict[str, Any]]:
    """Each filter in order, then deduplication: paths in, paths removed."""
    steps, remaining = [], paths
    for setting, name, _ in FILTERS:
        step = {"filter": name, "on": filters.is_on(setting), "paths_in": remaining}
        step["removed"] = removed[name]
        if setting == "max_length":
            step["max_length"] = filters.max_length
        steps.append(step)
        remaining -= removed[name]
    steps.append(
        {"filter": DUPLICATE, "on": True, "paths_in": remaining, "removed": removed[DUPLICATE]}
    )
    return steps


def _nothing_kept(sources: Sequence[SourceRun], paths: int, removed: Counter[str]) -> str:
    ids = [s.run_id for s in sources]
    runs = f"run{'s' if len(ids) > 1 else ''} {', '.join(ids)}"
    if paths == 0:
        return f"{runs} hold no answered path: build the data from runs that answered problems."
    order = [name for _, name, _ in FILTERS]
    counts = [(name, removed[name]) for name in order if removed[name]]
    breakdown = ", ".join(f"{count} removed by '{name}'" for name, count in counts)
    last = counts[-1][0]
    hint = next(h for _, name, h in FILTERS if name == last)
    return f"no path of {runs} is kept: {paths} paths, {breakdown}; loosen '{last}' ({hint})."


# -- writing ----------------------------------------------------------------------------


def check_out_folder(out: Path, force: bool = False) -> None:
    """Refuse an `out` that is a file, holds other files, or holds a data set (unless
    `force`); a new or empty folder is fine."""
    out = Path(out).expanduser()
    if out.exists() and not out.is_dir():
        raise LeapError(f"--out {out} is a file: give a folder for the data set.")
    names = {p.name for p in out.iterdir()} if out.is_dir() else set()
    if not names:
        return
    if not names <= set(DATA_SET_FILES):
        raise LeapError(
            f"--out {out} holds files that are not part of a data set: give a new or empty folder."
        )
    if not force:
        raise LeapError(
            f"--out {out} already holds a data set: pass --force to replace it, or give "
            "another folder."
        )


def examples_to_parquet(examples: Sequence[SftExample]) -> bytes:
    table = pa.Table.from_pylist([asdict(e) for e in examples], schema=EXAMPLE_SCHEMA)
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def write_sft_data(data: SftData, out: Path, force: bool = False) -> dict[str, Path]:
    """Write the data set into `out` in one step; returns each file's path."""
    out = Path(out).expanduser()
    check_out_folder(out, force)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = _new_sibling(out, "new")
        try:
            (staging / DATA_FILE).write_bytes(examples_to_parquet(data.examples))
            (staging / "card.json").write_text(json.dumps(data.card, indent=2) + "\n")
            (staging / "card.md").write_text(card_markdown(data.card))
            _move_into_place(staging, out)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    except OSError as exc:
        raise LeapError(
            f"cannot write the data set into {out}: {exc.strerror or exc}; give a folder "
            "you can write to."
        ) from None
    return {name: out / name for name in DATA_SET_FILES}


def _move_into_place(staging: Path, out: Path) -> None:
    """Rename `staging` to `out`; a data set already there is replaced, or kept on failure."""
    if not out.exists():
        os.replace(staging, out)
        return
    old = _new_sibling(out, "old")
    os.replace(out, old)  # `old` is an empty folder: the rename replaces it
    try:
        os.replace(staging, out)
    except OSError:
        os.replace(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _new_sibling(out: Path, role: str) -> Path:
    """A new empty folder beside `out` (made with the user's umask, unlike mkdtemp's 0700)."""
    while True:
        folder = out.parent / f".{out.name}.{role}-{secrets.token_hex(4)}"
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            continue
