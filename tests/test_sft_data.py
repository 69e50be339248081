"""`leap sft-data`: LeaP-T training examples from stored runs.

Most tests store runs solved on the scripted engine (tokens are characters, so a token
position is a character position and every mask can be read off the text); the runs are
real stored, scored runs all the same. The tests marked slow build the data from a real
run of the default model (`tests/sft_fixture.py`) and read it with `datasets`.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from scripted_engine import EOS, EOS_TEXT, ScriptedEngine, queues
from sft_fixture import KEEP_ALL, build_sft_fixture, build_sft_run

from leap.algorithm import prompts
from leap.algorithm.config import LeapConfig
from leap.algorithm.records import PathAnswer, PathRound, Segment
from leap.errors import LeapError
from leap.runs import RunSpec, RunStore, load_run_problems
from leap.runs.results import build_results
from leap.runs.solve import solve_problem
from leap.training.sft_data import SftFilters, build_sft_data, write_sft_data
from leap.training.sft_examples import (
    EXAMPLE_SCHEMA,
    SftExample,
    lay_out,
    opener_after,
    path_segments,
    summaries_of,
)

PEER_NOTE = "Other solvers are working on the same problem"
SCRIPTED = ScriptedEngine(queues({}))  # its encode/decode/chat_prompt: the runs' tokenizer
LEAP = dict(
    n_paths=4,
    tokens_per_round=40,
    max_tokens=80,
    summary_max_tokens=40,
    top_k=1,
    answer_max_tokens=20,
    seed=3,
)
R0 = "First I add the tens.\n\nThen the ones, and I carry one over."  # cut at 40, trimmed
KEPT_R0 = "First I add the tens.\n\n"
SUMMARY = "Tens added; ones next.</summarize>"  # within the 40-token budget
UNCLOSED = "I keep on going and never close this summary at all, ever."


def good_paths(gold: str) -> dict[int, list[str]]:
    """Path 0 passes every filter; 1 leaves a summary open, 2 is wrong, 3 is forced."""
    right = [R0, SUMMARY, f"So the total is {gold}.</think>", f"\\boxed{{{gold}}}{EOS_TEXT}"]
    return {
        0: right,
        1: [R0, UNCLOSED, *right[2:]],
        2: [R0, SUMMARY, "So the total is 999.</think>", f"\\boxed{{999}}{EOS_TEXT}"],
        3: [R0, SUMMARY, "I am still adding, and adding, and adding.", f"{gold}}}{EOS_TEXT}"],
    }


def scripted_run(
    store: Path,
    run_id: str,
    paths: Any = good_paths,
    scored: bool = True,
    **spec_fields: Any,
) -> RunSpec:
    """A stored run of the first smoke problem, solved on the scripted engine with each
    path's outputs from `paths(gold)`, then scored as `leap report` does."""
    leap = {**LEAP, **spec_fields.pop("leap", {})}
    spec = RunSpec(
        benchmark="smoke",
        limit=1,
        store=str(store),
        run_id=run_id,
        leap=LeapConfig(**leap),
        **spec_fields,
    )
    run = RunStore.open(spec.store, run_id)
    run.create_or_check(spec)
    problems = load_run_problems(spec)
    (problem,) = problems
    outputs = paths(problem.answer)
    script = {f"{run_id}/{problem.id}/path-{i}": outs for i, outs in outputs.items()}
    solve_problem(ScriptedEngine(queues(script)), spec, problem, run)
    if scored:
        build_results(spec, run, problems)
    return spec


def trained_text(example: SftExample) -> str:
    return "".join(example.text[s.start : s.end] for s in example.spans if s.trained)


def untrained_text(example: SftExample) -> str:
    return "".join(example.text[s.start : s.end] for s in example.spans if not s.trained)


# -- laying out one path ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "opener"),
    [
        ("the sum is", "\n\n<summarize>"),
        ("the sum is\n", "\n<summarize>"),
        ("the sum is\n\n", "<summarize>"),
        ("the sum is\n\n\n", "<summarize>"),
        ("", "\n\n<summarize>"),
    ],
)
def test_the_opener_adds_only_the_line_breaks_the_text_lacks(before, opener):
    assert opener_after(before) == opener
    assert prompts.SUMMARY_SELF_OPEN.endswith(prompts.SUMMARY_OPEN)


def seg(kind: str, text: str) -> Segment:
    return Segment(kind, SCRIPTED.encode(text), text)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("segments", "facts"),
    [
        ([seg("summary", "ok.</summarize>"), seg("peers", "x")], [(15, True)]),
        ([seg("summary", "cut off"), seg("cue", prompts.SUMMARY_CLOSE)], [(7, False)]),
        (
            [seg("summary", "a</summarize>"), seg("reasoning", "r"), seg("summary", "b")]
            + [seg("cue", prompts.SUMMARY_CLOSE)],
            [(13, True), (1, False)],
        ),
        ([seg("reasoning", "no summary at all")], []),
    ],
    ids=["model-closed", "system-closed", "one-of-each", "none"],
)
def test_who_closed_each_summary(segments, facts):
    assert [(f.tokens, f.closed_by_model) for f in summaries_of(segments)] == facts


def test_each_kind_of_segment_carries_loss_or_not():
    answer = PathAnswer(
        0, [seg("cue", "Forced: \\boxed{"), seg("answer", "7}")], True, "budget", ""
    )
    rows_segments = [
        seg("prompt", "stored prompt with a peer note"),
        seg("beginning", "inherited. "),
        seg("reasoning", "mine\n\n"),
        seg("discarded", "half a sente"),
        seg("cue", prompts.SUMMARY_CUE),
        seg("summary", "sum"),
        seg("cue", prompts.SUMMARY_CLOSE),
        seg("peers", prompts.peer_block(["theirs"])),
        seg("reasoning", "more"),
    ]
    segments = path_segments([PathRound(0, rows_segments, finished=True)], answer)
    pieces = lay_out(segments, SCRIPTED.encode("PROMPT"), SCRIPTED)
    assert [(p.kind, p.text, p.trained) for p in pieces] == [
        ("prompt", "PROMPT", False),
        ("beginning", "inherited. ", False),
        ("reasoning", "mine\n\n", True),
        ("summary_open", "<summarize>", True),
        ("summary", "sum", True),
        ("summary_close", prompts.SUMMARY_CLOSE, False),
        ("peers", prompts.peer_block(["theirs"]), False),
        ("reasoning", "more", True),
        ("cue", "Forced: \\boxed{", False),
        ("answer", "7}", True),
    ]


# -- data from stored runs --------------------------------------------------------------


def test_only_what_the_path_wrote_and_its_summary_opener_carry_loss(tmp_path):
    spec = scripted_run(tmp_path, "src")
    data = build_sft_data(str(tmp_path), ["src"], tokenizer=SCRIPTED)
    (example,) = data.examples
    assert (example.run_id, example.path, example.correct, example.forced_answer) == (
        "src",
        0,
        True,
        False,
    )
    gold = load_run_problems(spec)[0].answer
    # Tokens are characters here: each span's tokens are its characters.
    assert example.text == SCRIPTED.decode(example.input_ids)
    for span in example.spans:
        assert set(example.loss_mask[span.start : span.end]) == {int(span.trained)}
    assert trained_text(example) == (
        f"{KEPT_R0}<summarize>{SUMMARY}So the total is {gold}.</think>\\boxed{{{gold}}}"
    )
    untrained = untrained_text(example)
    assert untrained.startswith("<|user|>\n" + example.user_message)
    assert untrained.endswith(prompts.PEER_OUTRO)
    assert prompts.PEERS_OPEN in untrained and prompts.SUMMARY_CUE not in example.text
    assert PEER_NOTE not in example.text  # the leap-t prompt, not the leap run's
    assert "Then the ones" not in example.text  # the discarded paragraph
    # The end-of-sequence token that ends the answer is trained too (its text is empty).
    assert example.input_ids[-1] == EOS and example.loss_mask[-1] == 1
    assert example.n_trained == sum(example.loss_mask) == len(trained_text(example)) + 1
    assert example.n_tokens == len(example.input_ids) == len(example.text) + 1


def test_the_card_counts_what_each_filter_removed_in_order(tmp_path):
    scripted_run(tmp_path, "src")
    card = build_sft_data(str(tmp_path), ["src"], tokenizer=SCRIPTED).card
    steps = [(s["filter"], s["on"], s["paths_in"], s["removed"]) for s in card["filters"]]
    assert steps == [
        ("correct answer", True, 4, 1),
        ("summaries closed by the model", True, 3, 1),
        ("no forced answer", True, 2, 1),
        ("max length", False, 1, 0),
        ("duplicate", True, 1, 0),
    ]
    assert (card["paths"], card["examples"], card["with_summaries"]) == (4, 1, 1)
    (source,) = card["sources"]
    assert source["run_id"] == "src" and source["method"] == "leap"
    assert len(source["spec_hash"]) == 16 and source["benchmark"] == "smoke"


def test_with_the_filters_off_every_path_is_kept_and_system_text_carries_no_loss(tmp_path):
    scripted_run(tmp_path, "src")
    data = build_sft_data(str(tmp_path), ["src"], KEEP_ALL, tokenizer=SCRIPTED)
    by_path = {e.path: e for e in data.examples}
    assert sorted(by_path) == [0, 1, 2, 3]
    assert not by_path[2].correct and by_path[3].forced_answer
    unclosed = by_path[1]
    close = [s for s in unclosed.spans if s.kind == "summary_close"]
    assert [unclosed.text[s.start : s.end] for s in close] == [prompts.SUMMARY_CLOSE]
    assert not close[0].trained
    forced = by_path[3]
    cue = [s for s in forced.spans if s.kind == "cue"]
    assert [forced.text[s.start : s.end] for s in cue] == [prompts.forced_answer_cue("</think>")]
    assert not cue[0].trained and trained_text(forced).endswith("}")


def test_a_leap_t_path_that_opened_its_summary_keeps_its_own_opener(tmp_path):
    def opens_itself(gold: str) -> dict[int, list[str]]:
        path = [
            "Tens first.\n\n<summarize>",
            "Tens done.</summarize>",
            f"Total {gold}.</think>",
            f"\\boxed{{{gold}}}{EOS_TEXT}",
        ]
        return {0: path, 1: path}

    spec = scripted_run(tmp_path, "lt", opens_itself, leap={"method": "leap-t", "n_paths": 2})
    run = RunStore.open(spec.store, "lt")
    problem = load_run_problems(spec)[0]
    stored_prompt = run.load_rounds(problem.id)[0].paths[0].segments[0].token_ids
    data = build_sft_data(str(tmp_path), ["lt"], tokenizer=SCRIPTED)
    # Two paths with the same words, but each read the other's summary: the same tokens.
    assert len(data.examples) == 1 and data.card["filters"][-1]["removed"] == 1
    example = data.examples[0]
    assert [s.kind for s in example.spans].count("summary_open") == 0
    assert example.input_ids[: len(stored_prompt)] == stored_prompt
    assert trained_text(example).startswith("Tens first.\n\n<summarize>Tens done.</summarize>")


def test_repeated_token_sequences_are_kept_once_and_counted(tmp_path):
    scripted_run(tmp_path, "a")
    scripted_run(tmp_path, "b")
    data = build_sft_data(str(tmp_path), ["a", "b", "a"], tokenizer=SCRIPTED)
    assert [(e.run_id, e.path) for e in data.examples] == [("a", 0)]
    assert data.card["filters"][-1] == {
        "filter": "duplicate",
        "on": True,
        "paths_in": 2,
        "removed": 1,
    }
    assert [s["run_id"] for s in data.card["sources"]] == ["a", "b"]


def test_the_max_length_filter_and_the_sentence_when_nothing_is_left(tmp_path):
    scripted_run(tmp_path, "src")
    whole = build_sft_data(str(tmp_path), ["src"], KEEP_ALL, tokenizer=SCRIPTED).examples
    longest = max(e.n_tokens for e in whole)
    shortest = min(e.n_tokens for e in whole)
    filters = SftFilters(False, False, False, max_length=longest - 1)
    data = build_sft_data(str(tmp_path), ["src"], filters, tokenizer=SCRIPTED)
    assert all(e.n_tokens < longest for e in data.examples)
    assert data.card["filters"][3]["removed"] >= 1 and data.card["filters"][3]["max_length"]
    with pytest.raises(LeapError) as error:
        build_sft_data(str(tmp_path), ["src"], SftFilters(max_length=shortest - 1), SCRIPTED)
    assert str(error.value) == (
        "no path of run src is kept: 4 paths, 1 removed by 'correct answer', 1 removed by "
        "'summaries closed by the model', 1 removed by 'no forced answer', 1 removed by "
        "'max length'; loosen 'max length' (a larger --max-length)."
    )
    with pytest.raises(LeapError, match="max length 0 is not a token count"):
        SftFilters(max_length=0)


def test_the_parquet_file_has_the_declared_schema_and_loads_with_datasets(tmp_path):
    from datasets import load_dataset

    scripted_run(tmp_path, "src")
    data = build_sft_data(str(tmp_path), ["src"], KEEP_ALL, tokenizer=SCRIPTED)
    written = write_sft_data(data, tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        ["data.parquet", "card.json", "card.md"]
    )
    assert pq.read_schema(written["data.parquet"]).remove_metadata() == EXAMPLE_SCHEMA
    assert EXAMPLE_SCHEMA.names == list(SftExample.__dataclass_fields__)
    loaded = load_dataset(
        "parquet", data_files=str(written["data.parquet"]), split="train", cache_dir=tmp_path
    )
    assert loaded.column_names == EXAMPLE_SCHEMA.names and len(loaded) == 4
    row = loaded[0]
    assert row["input_ids"] == data.examples[0].input_ids
    assert set(row["spans"][0]) == {"start", "end", "trained", "kind"}
    card = json.loads(written["card.json"].read_text())
    assert card["examples"] == 4 and card["tokens"]["max"] >= card["tokens"]["min"]
    assert "| correct answer | off | 4 | 0 |" in written["card.md"].read_text()
    with pytest.raises(LeapError, match="already holds a data set"):
        write_sft_data(data, tmp_path / "out")
    write_sft_data(
        build_sft_data(str(tmp_path), ["src"], tokenizer=SCRIPTED), tmp_path / "out", True
    )
    assert len(pq.read_table(written["data.parquet"])) == 1  # replaced
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]  # no leftovers


# -- the command: one sentence, exit 2, nothing written ---------------------------------


def leap_main(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """`leap ARGS` in this process, through the console script's `main`."""
    from leap.console.cli import main

    monkeypatch.setattr(sys, "argv", ["leap", *args])
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def snapshot(folder: Path) -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns for p in sorted(folder.rglob("*"))}


def _stored(store: Path) -> None:
    scripted_run(store, "good")
    scripted_run(store, "other-model", model="org/another-model")
    scripted_run(store, "unscored", scored=False)
    scripted_run(store, "wrong", lambda gold: {i: good_paths(gold)[2] for i in range(4)})
    RunStore.open(str(store), "unfinished").create_or_check(
        RunSpec(benchmark="smoke", limit=1, store=str(store), run_id="unfinished")
    )
    independent = RunSpec(
        benchmark="smoke", store=str(store), run_id="indep", leap=LeapConfig(method="independent")
    )
    RunStore.open(str(store), "indep").create_or_check(independent)


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    store = tmp_path_factory.mktemp("sft-store")
    _stored(store)
    return store


@pytest.mark.parametrize(
    ("runs", "expected"),
    [
        (["nope"], "no run 'nope' in"),
        (["unfinished"], "run unfinished is not finished (1 of 1 problems have no final answers)"),
        (["unscored"], "run unscored is not scored yet: score it with `leap report unscored`"),
        (["indep"], "run indep uses method 'independent', whose paths write no LeaP summaries"),
        (["good", "other-model"], "use different models"),
        (["wrong"], "4 paths, 4 removed by 'correct answer'; loosen 'correct answer' (--all-"),
        # The scripted runs' token ids are characters, not the default model's tokens
        # (slow: loading the default model's tokenizer may convert the model first).
        pytest.param(
            ["good"],
            "the tokenizer of smollm2-135m does not give the token ids stored in run good",
            marks=pytest.mark.slow,
        ),
    ],
    ids=["missing", "unfinished", "unscored", "method", "models", "none-kept", "tokenizer"],
)
def test_bad_runs_are_one_sentence_and_nothing_is_written(
    store, tmp_path, monkeypatch, capsys, runs, expected
):
    before = snapshot(store)
    out = tmp_path / "data"
    code, _, err = leap_main(
        monkeypatch, capsys, "sft-data", *runs, "-s", str(store), "-o", str(out)
    )
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1, err
    assert lines[0].startswith("error: ") and expected in lines[0], lines[0]
    assert not out.exists() and list(tmp_path.iterdir()) == []
    assert snapshot(store) == before


@pytest.mark.parametrize(
    ("contents", "force", "expected"),
    [
        ({"data.parquet": "x", "card.json": "{}"}, False, "already holds a data set: pass --force"),
        ({"notes.txt": "mine"}, True, "holds files that are not part of a data set"),
        (None, False, "is a file: give a folder"),
    ],
    ids=["data-set", "other-files", "a-file"],
)
def test_an_out_folder_in_use_is_refused_before_any_run_is_read(
    tmp_path, monkeypatch, capsys, contents, force, expected
):
    out = tmp_path / "data"
    if contents is None:
        out.write_text("a file")
    else:
        out.mkdir()
        for name, text in contents.items():
            (out / name).write_text(text)
    before = snapshot(tmp_path)
    args = ["sft-data", "nope", "-s", str(tmp_path / "store"), "-o", str(out)]
    code, _, err = leap_main(monkeypatch, capsys, *args, *(["--force"] if force else []))
    assert code == 2 and err.count("\n") == 1 and expected in err, err
    assert snapshot(tmp_path) == before


# -- a real run of the default model ----------------------------------------------------


def test_real_examples_decode_to_their_text_and_spans(tmp_path, engine):
    from datasets import load_dataset

    from leap.training.sft_sources import RunTokenizer

    folder = build_sft_fixture(tmp_path, engine)
    tokenizer = RunTokenizer(str(engine_folder()))
    rows = load_dataset(
        "parquet", data_files=str(folder / "data.parquet"), split="train", cache_dir=tmp_path
    )
    assert rows.column_names == EXAMPLE_SCHEMA.names and len(rows) == 2
    seen: set[str] = set()
    for row in rows:
        ids, mask, text = row["input_ids"], row["loss_mask"], row["text"]
        assert row["model"] == "smollm2-135m" and len(ids) == row["n_tokens"] <= 300
        assert tokenizer.decode(ids) == text
        assert [s["end"] for s in row["spans"][:-1]] == [s["start"] for s in row["spans"][1:]]
        assert row["spans"][-1]["end"] == len(text)
        # Each run of trained (or untrained) tokens decodes to the text of its spans.
        assert runs_of_tokens(tokenizer, ids, mask) == runs_of_spans(text, row["spans"])
        for span in row["spans"]:
            assert span["trained"] == LOSS[span["kind"]], span
        seen.update(s["kind"] for s in row["spans"])
        prompt = row["spans"][0]
        assert row["user_message"] in text[prompt["start"] : prompt["end"]]
        assert PEER_NOTE not in text
    assert {"prompt", "reasoning", "summary_open", "summary", "peers"} <= seen
    card = json.loads((folder / "card.json").read_text())
    assert card["examples"] == 2 and card["sources"][0]["run_id"] == "sft-fixture"


# Which pieces carry loss: what the path wrote, and the summary opener.
LOSS = {
    "prompt": False,
    "beginning": False,
    "reasoning": True,
    "summary_open": True,
    "summary": True,
    "summary_close": False,
    "peers": False,
    "cue": False,
    "answer": True,
}


def engine_folder() -> Path:
    from leap.engines.models import default_model_folder

    return default_model_folder()


def runs_of_tokens(tokenizer, ids: list[int], mask: list[int]) -> list[tuple[bool, str]]:
    runs: list[tuple[bool, list[int]]] = []
    for token, flag in zip(ids, mask, strict=True):
        if runs and runs[-1][0] == bool(flag):
            runs[-1][1].append(token)
        else:
            runs.append((bool(flag), [token]))
    return [(flag, tokenizer.decode(tokens)) for flag, tokens in runs]


def runs_of_spans(text: str, spans: list[dict]) -> list[tuple[bool, str]]:
    runs: list[tuple[bool, str]] = []
    for span in spans:
        piece = text[span["start"] : span["end"]]
        if runs and runs[-1][0] == span["trained"]:
            runs[-1] = (span["trained"], runs[-1][1] + piece)
        else:
            runs.append((span["trained"], piece))
    return runs


def test_the_command_on_a_real_run(tmp_path, engine, monkeypatch, capsys):
    import leap.console.sft_data

    monkeypatch.setattr(leap.console.sft_data.console, "width", 200)
    store, run_id = build_sft_run(engine)
    before = snapshot(Path(store))
    out = tmp_path / "data"
    keep_all = ["--all-answers", "--any-summaries", "--keep-forced"]
    args = ["sft-data", run_id, "--store", store, "--out", str(out), *keep_all]
    code, printed, err = leap_main(monkeypatch, capsys, *args)
    assert code == 0, err
    assert "2 examples" in printed and str(out / "data.parquet") in printed
    first = (out / "data.parquet").read_bytes()
    code, _, err = leap_main(monkeypatch, capsys, *args)
    assert code == 2 and "already holds a data set" in err
    code, _, err = leap_main(monkeypatch, capsys, *args, "--max-length", "1000", "--force")
    assert code == 0, err
    card = json.loads((out / "card.json").read_text())
    assert card["filters"][3]["on"] and card["filters"][3]["max_length"] == 1000
    assert (
        pq.read_table(out / "data.parquet").to_pylist()
        == pq.read_table(io.BytesIO(first)).to_pylist()
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]  # no staging folder left
    assert snapshot(Path(store)) == before
