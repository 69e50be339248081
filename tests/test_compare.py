"""`leap compare`: runs of one benchmark side by side, paired by problem id.

The runs are stored by hand in a local store: a run.json from a spec, and the
results/scores.parquet (and summary.json) that scoring would write for known answers.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from helpers import chromium_dom
from scipy import stats

from leap.algorithm.config import LeapConfig
from leap.algorithm.records import PathRound, RoundRecord, Segment
from leap.benchmarks.problem import Problem
from leap.errors import LeapError
from leap.experiments.compare import (
    OUTPUT_FILES,
    ProblemRow,
    answer_groups,
    compare_runs,
    default_out_dir,
    write_comparison,
)
from leap.runs import RunSpec, RunStore
from leap.runs.results import scores_to_parquet, summarize
from leap.scoring.statistics import DEFAULT_RESAMPLES, RunPaths, bootstrap_run
from leap.scoring.summary import ScoreRow

GOLD = "42"
T, F = True, False
# Five problems, four paths: each path's extracted answer (None: no answer found).
BASE = {
    "p1": ["42", "41", "41", "41"],  # 1/4, majority 41
    "p2": ["42", "42", "42", "42"],  # 4/4
    "p3": ["7", "7", None, "7"],  # 0/4
    "p4": ["42", "42", "41", "41"],  # 2/4, a tie: the first answer seen (42) wins
    "p5": ["41", "41", "41", "41"],  # 0/4
}
OTHER = {
    "p1": ["42", "42", "42", "41"],  # 3/4: win
    "p2": ["42", "42", "41", "42"],  # 3/4: loss
    "p3": ["7", "7", "7", "7"],  # 0/4: tie
    "p4": ["42", "41", "42", "41"],  # 2/4: tie
    "p5": ["42", "41", "41", "42"],  # 2/4: win, majority 42 by the tie rule
}
RESAMPLES = 400


def score_row(problem_id: str, path: int, answer: str | None, reasoning: int) -> ScoreRow:
    return ScoreRow(
        problem_id=problem_id,
        path=path,
        answer=answer,
        gold=GOLD,
        correct=answer == GOLD,
        finish_reason="eos",
        forced_answer=False,
        rounds=1,
        reasoning_tokens=reasoning,
        summary_tokens=10,
        injected_tokens=30,
        answer_tokens=2,
        prompt_computed=0,
        prompt_reused=0,
        sequence_tokens=reasoning,
        sequence_sha256="",
        verdict="unanswered" if answer is None else "correct" if answer == GOLD else "wrong",
        inherited_tokens=5,
    )


def store_run(
    store: Path,
    run_id: str,
    outcomes: dict[str, list[str | None]],
    *,
    reasoning: int = 100,
    benchmark: str = "smoke",
    method: str = "leap",
    summary: bool = True,
    **spec_fields,
) -> list[ScoreRow]:
    """A scored run: run.json, results/scores.parquet and (with `summary`) summary.json,
    as `leap report` leaves them."""
    n_paths = max(len(answers) for answers in outcomes.values())
    spec = RunSpec(
        benchmark=benchmark,
        store=str(store),
        run_id=run_id,
        leap=LeapConfig(method=method, n_paths=n_paths),
        **spec_fields,
    )
    run = RunStore.open(str(store), run_id)
    run.create_or_check(spec)
    rows = [
        score_row(pid, path, answer, reasoning + path)
        for pid, answers in outcomes.items()
        for path, answer in enumerate(answers)
    ]
    run.write_result("scores.parquet", scores_to_parquet(rows))
    if summary:
        problems = [Problem(id=pid, question="q", answer=GOLD) for pid in outcomes]
        result = summarize(spec, run_id, problems, rows, {}, [])
        run.write_result("summary.json", result.to_json().encode())
    return rows


def shares(outcomes: dict[str, list[str | None]]) -> np.ndarray:
    return np.array(
        [sum(a == GOLD for a in answers) / len(answers) for answers in outcomes.values()]
    )


@pytest.fixture
def store(tmp_path: Path) -> Path:
    folder = tmp_path / "store"
    store_run(folder, "base", BASE, reasoning=100, method="independent")
    store_run(folder, "other", OTHER, reasoning=300)
    return folder


# -- what a comparison computes ---------------------------------------------------------


def test_wins_losses_ties_and_the_paired_test_against_the_baseline(store):
    comparison = compare_runs(str(store), ["base", "other"], resamples=RESAMPLES)
    base, other = comparison.runs
    assert comparison.benchmark == "smoke" and comparison.problem_ids == tuple(BASE)
    assert base.versus is None
    assert other.versus is not None
    assert (other.versus.wins, other.versus.losses, other.versus.ties) == (2, 1, 2)
    assert other.versus.baseline == "base"
    direct = stats.permutation_test(
        (shares(OTHER), shares(BASE)),
        lambda x, y, axis: np.mean(x - y, axis=axis),
        permutation_type="samples",
        vectorized=True,
    )
    assert other.versus.test.statistic == pytest.approx(direct.statistic) == pytest.approx(0.15)
    assert other.versus.test.p_value == pytest.approx(direct.pvalue)
    assert [r.versus_baseline for r in comparison.rows_of("other")] == [
        "win",
        "loss",
        "tie",
        "tie",
        "win",
    ]
    assert {r.versus_baseline for r in comparison.rows_of("base")} == {"baseline"}


def test_each_runs_metrics_match_its_stored_summary_and_the_bootstrap(store):
    comparison = compare_runs(str(store), ["base", "other"], resamples=RESAMPLES, seed=3)
    base, other = comparison.runs
    assert (base.method, other.method, base.n_paths) == ("independent", "leap", 4)
    assert base.metrics.pass_at_1.estimate == pytest.approx(7 / 20)
    assert other.metrics.pass_at_1.estimate == pytest.approx(10 / 20)
    for run in (base, other):
        summary = RunStore.open(str(store), run.run_id).read_result("summary.json")
        assert summary is not None
        stored = json.loads(summary)
        assert run.metrics.pass_at_1.estimate == pytest.approx(stored["pass_at_1"])
        assert run.metrics.cons_at_n is not None
        assert run.metrics.cons_at_n.estimate == pytest.approx(stored["cons_at_n"])
        for k, value in stored["pass_at_k"].items():
            assert run.metrics.pass_at_k[int(k)].estimate == pytest.approx(value)
    # The intervals are leap.scoring.statistics' on the same paths, seed and resamples.
    correct = {pid: [a == GOLD for a in answers] for pid, answers in OTHER.items()}
    groups = {pid: answer_groups(answers, "math") for pid, answers in OTHER.items()}
    direct = bootstrap_run(RunPaths.of(correct, groups), resamples=RESAMPLES, seed=3)
    assert other.metrics == direct


def test_tokens_per_problem_count_generated_apart_from_injected_and_inherited(store):
    comparison = compare_runs(str(store), ["base", "other"], resamples=RESAMPLES)
    base, other = comparison.runs
    # Per path: reasoning (100 + path) + 10 summary + 2 answer; four paths per problem.
    assert base.generated_per_problem == 4 * 112 + (0 + 1 + 2 + 3)
    assert other.generated_per_problem == 4 * 312 + 6
    assert (base.injected_per_problem, base.inherited_per_problem) == (120, 20)
    row = comparison.rows_of("other")[0]
    assert (row.generated_tokens, row.injected_tokens, row.inherited_tokens) == (1254, 120, 20)
    assert (row.paths, row.correct_paths, row.correct_share, row.majority_correct) == (
        4,
        3,
        0.75,
        True,
    )
    assert [r.majority_correct for r in comparison.rows_of("base")] == [F, T, F, T, F]


def test_problems_listed_in_another_order_pair_by_id(tmp_path, store):
    reordered = dict(reversed(list(OTHER.items())))
    store_run(store, "other-reordered", reordered, reasoning=300)
    straight = compare_runs(str(store), ["base", "other"], resamples=RESAMPLES)
    crossed = compare_runs(str(store), ["base", "other-reordered"], resamples=RESAMPLES)
    assert crossed.runs[1].versus == straight.runs[1].versus
    assert crossed.runs[1].metrics == straight.runs[1].metrics
    assert crossed.problem_ids == tuple(BASE)  # the baseline's order
    assert [(r.problem_id, r.correct_paths) for r in crossed.rows_of("other-reordered")] == [
        (r.problem_id, r.correct_paths) for r in straight.rows_of("other")
    ]
    # With the reordered run as the baseline, its order leads.
    assert compare_runs(str(store), ["other-reordered", "base"]).problem_ids == tuple(reordered)


def test_three_runs_each_against_the_first(store):
    store_run(store, "third", BASE, reasoning=50)
    comparison = compare_runs(str(store), ["other", "base", "third"], resamples=RESAMPLES)
    assert [run.run_id for run in comparison.runs] == ["other", "base", "third"]
    base, third = comparison.runs[1].versus, comparison.runs[2].versus
    assert base is not None and third is not None
    assert (base.wins, base.losses, base.ties) == (1, 2, 2)
    assert (third.wins, third.losses, third.ties) == (1, 2, 2)
    assert base.test.p_value == third.test.p_value  # the same answers as "base"
    assert len(comparison.problems) == 3 * len(BASE)


def test_equivalent_answers_vote_together():
    assert answer_groups(["84", "084", None, "7", "+84"], "math") == [0, 0, -1, 1, 0]
    assert answer_groups(["b", "A", "B", None], "choice") == [0, 1, 0, -1]


def test_paths_without_a_final_answer_count_in_the_tokens(tmp_path):
    """A path that reasoned but gave no final answer (moa's earlier layers) has no score
    row; its tokens are read from the stored rounds."""
    store = tmp_path / "store"
    store_run(store, "base", {"p1": ["42"], "p2": ["41"]})
    store_run(store, "moa", {"p1": ["42"], "p2": ["42"]}, summary=False)
    run = RunStore.open(str(store), "moa")
    for pid in ("p1", "p2"):
        rows = [
            PathRound(path, [Segment("reasoning", [1] * 40, "x")], reasoning_tokens=40)
            for path in (0, 1, 2)
        ]
        run.save_round(RoundRecord(pid, 0, rows))
    base, moa = compare_runs(str(store), ["base", "moa"], resamples=RESAMPLES).runs
    # The scored path: 100 + 10 + 2 tokens; paths 1 and 2: 40 reasoning tokens each.
    assert moa.generated_per_problem == 112 + 80
    assert base.generated_per_problem == 112


def test_the_rounds_are_not_read_when_the_summary_accounts_for_every_token(store, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("rounds read although the summary matches the score rows")

    monkeypatch.setattr(RunStore, "load_rounds", refuse)
    compare_runs(str(store), ["base", "other"], resamples=RESAMPLES)


# -- what it refuses --------------------------------------------------------------------


def test_runs_of_different_benchmarks_are_refused(store):
    store_run(store, "aime", BASE, benchmark="aime24")
    with pytest.raises(LeapError, match=r"base \(smoke\) and aime \(aime24\).*different"):
        compare_runs(str(store), ["base", "aime"])


def test_runs_of_different_problems_are_refused(store):
    store_run(store, "fewer", {k: v for k, v in OTHER.items() if k != "p3"} | {"p9": ["42"] * 4})
    with pytest.raises(LeapError) as caught:
        compare_runs(str(store), ["base", "fewer"])
    message = str(caught.value)
    assert "runs base and fewer scored different problems" in message
    assert "p3 only in base" in message and "p9 only in fewer" in message


def test_runs_with_other_problems_under_the_same_ids_are_refused(store):
    """The smoke benchmark numbers its problems; another seed draws other ones."""
    rows = store_run(store, "reseeded", OTHER)
    changed = [r if r.problem_id != "p2" else replace(r, gold="41") for r in rows]
    RunStore.open(str(store), "reseeded").write_result("scores.parquet", scores_to_parquet(changed))
    with pytest.raises(LeapError, match=r"different problems under the same ids \(p2 with"):
        compare_runs(str(store), ["base", "reseeded"])


def test_an_unwritable_folder_is_one_sentence(store, tmp_path):
    (tmp_path / "file").write_text("")
    comparison = compare_runs(str(store), ["base", "other"], resamples=RESAMPLES)
    with pytest.raises(LeapError, match="cannot write the comparison into"):
        write_comparison(comparison, tmp_path / "file" / "out")


def test_a_run_without_results_or_without_a_spec_is_refused(store):
    spec = RunSpec(benchmark="smoke", store=str(store), run_id="unscored")
    RunStore.open(str(store), "unscored").create_or_check(spec)
    with pytest.raises(LeapError, match=r"run unscored has no results yet.*leap report unscored"):
        compare_runs(str(store), ["base", "unscored"])
    with pytest.raises(LeapError, match="no run 'missing'"):
        compare_runs(str(store), ["base", "missing"])
    with pytest.raises(LeapError, match="at least two runs"):
        compare_runs(str(store), ["base"])
    with pytest.raises(LeapError, match="named twice"):
        compare_runs(str(store), ["base", "other", "base"])


def test_damaged_scores_are_one_sentence(store):
    RunStore.open(str(store), "other").write_result("scores.parquet", b"not parquet")
    with pytest.raises(LeapError, match=r"scores of run other cannot be read.*leap report other"):
        compare_runs(str(store), ["base", "other"])


# -- outputs ----------------------------------------------------------------------------


class TagChecker(HTMLParser):
    """Every tag with its attributes; an end tag that does not close the innermost open
    tag is an error."""

    VOID = {"meta", "br", "img", "link", "input", "hr", "col", "wbr", "source"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.starts: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        self.starts.append((tag, dict(attrs)))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.starts.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> while open: {self.stack[-3:]}")
        else:
            self.stack.pop()


def written(store: Path, out: Path, **fields) -> dict[str, Path]:
    comparison = compare_runs(str(store), ["base", "other"], resamples=RESAMPLES, **fields)
    return write_comparison(comparison, out)


def test_the_outputs_are_written_into_the_folder(store, tmp_path):
    paths = written(store, tmp_path / "out")
    assert sorted(paths) == sorted(OUTPUT_FILES)
    assert all(path.parent == tmp_path / "out" and path.stat().st_size for path in paths.values())
    table = pq.read_table(io.BytesIO(paths["problems.parquet"].read_bytes()))
    assert table.column_names == [f for f in ProblemRow.__dataclass_fields__]
    rows = table.to_pylist()
    assert len(rows) == 2 * len(BASE)
    assert rows[1] == {
        "problem_id": "p1",
        "run_id": "other",
        "paths": 4,
        "correct_paths": 3,
        "correct_share": 0.75,
        "majority_correct": True,
        "generated_tokens": 1254,
        "injected_tokens": 120,
        "inherited_tokens": 20,
        "versus_baseline": "win",
    }
    markdown = paths["comparison.md"].read_text()
    assert "### Comparison on smoke: 2 runs, 5 problems" in markdown
    assert re.search(r"\| other \| leap \| .* \| 4 \| 50\.0% \[[\d.]+, [\d.]+\] \|", markdown)
    assert "| 2 / 1 / 2 | +15.0 pts [" in markdown


def test_the_page_is_well_formed_and_loads_nothing_from_elsewhere(store, tmp_path):
    page = written(store, tmp_path / "out")["comparison.html"].read_text()
    checker = TagChecker()
    checker.feed(page)
    checker.close()
    assert checker.errors == [] and checker.stack == []
    tags = [tag for tag, _ in checker.starts]
    assert tags.count("svg") == 2  # accuracy with error bars; accuracy against tokens
    assert "<title>Comparison of 2 runs on smoke</title>" in page
    for tag, attrs in checker.starts:
        assert tag not in {"link", "script", "iframe", "img", "object", "embed", "image"}
        for name in ("src", "href", "xlink:href", "action"):
            assert attrs.get(name) is None or attrs[name].startswith("#"), (tag, attrs)
    assert "http://" not in page and "https://" not in page and "@import" not in page
    assert re.findall(r"url\((?!#)", page) == []  # only references inside the page
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids))  # two charts, no shared element id


def test_text_from_a_run_is_escaped(tmp_path):
    store = tmp_path / "store"
    hostile = '</table><script>alert("x")</script>'
    store_run(store, "base", BASE, model=hostile)
    store_run(store, "other", OTHER)
    page = written(store, tmp_path / "out")["comparison.html"].read_text()
    assert "<script>" not in page and "&lt;script&gt;" in page
    markdown = (tmp_path / "out" / "comparison.md").read_text()
    assert "<script>" not in markdown


def test_the_default_folder_names_the_runs_or_a_short_hash():
    assert default_out_dir(["a", "b"]) == Path("comparisons/a_vs_b")
    long = default_out_dir(["x" * 60, "y" * 60])
    assert long.parent == Path("comparisons") and re.fullmatch(r"2-runs-[0-9a-f]{12}", long.name)
    assert default_out_dir(["x" * 60, "y" * 60]) == long


# -- the command and the task -----------------------------------------------------------


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


@pytest.mark.parametrize(
    ("runs", "expected"),
    [
        (["base", "aime"], "different benchmarks"),
        (["base", "missing"], "no run 'missing'"),
        (["base", "unscored"], "leap report unscored"),
        (["base"], "at least two runs"),
    ],
    ids=["benchmarks", "missing", "unscored", "one-run"],
)
def test_the_command_says_what_is_wrong_in_one_line_and_exits_2(
    store, monkeypatch, capsys, runs, expected
):
    store_run(store, "aime", BASE, benchmark="aime24")
    RunStore.open(str(store), "unscored").create_or_check(
        RunSpec(benchmark="smoke", store=str(store), run_id="unscored")
    )
    code, _, err = leap_main(monkeypatch, capsys, "compare", *runs, "--store", str(store))
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1, err
    assert lines[0].startswith("error: ") and expected in lines[0]
    assert "Traceback" not in err


def test_the_command_writes_the_outputs_and_prints_where(store, tmp_path, monkeypatch, capsys):
    import leap.console.compare

    monkeypatch.setattr(leap.console.compare.console, "width", 200)
    out = tmp_path / "cmp"
    args = ["compare", "base", "other", "--store", str(store), "--out", str(out)]
    code, printed, err = leap_main(monkeypatch, capsys, *args, "--resamples", "200")
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUT_FILES)
    assert "2 / 1 / 2" in printed and str(out / "comparison.html") in printed.replace("\n", "")
    monkeypatch.chdir(tmp_path)
    code, _, err = leap_main(monkeypatch, capsys, "compare", "base", "other", "-s", str(store))
    assert code == 0, err
    assert (tmp_path / "comparisons" / "base_vs_other" / "comparison.html").is_file()


def test_the_commands_help_names_the_default_resamples(monkeypatch, capsys):
    code, printed, _ = leap_main(monkeypatch, capsys, "compare", "--help")
    assert code == 0
    assert f"default {DEFAULT_RESAMPLES}" in " ".join(printed.split())


def test_the_task_writes_the_outputs_and_publishes_the_markdown(store, tmp_path, monkeypatch):
    import tasks.compare

    published = []
    monkeypatch.setattr(
        tasks.compare, "create_markdown_artifact", lambda **kwargs: published.append(kwargs)
    )
    out = tmp_path / "task-out"
    paths = tasks.compare.compare_task.fn(str(store), ["base", "other"], str(out), resamples=100)
    assert sorted(paths) == sorted(OUTPUT_FILES)
    (artifact,) = published
    assert artifact["key"] == tasks.compare.comparison_key(["base", "other"])
    assert re.fullmatch(r"[a-z0-9-]{1,60}", artifact["key"])
    assert artifact["markdown"].startswith((out / "comparison.md").read_text())


@pytest.mark.slow  # a subprocess importing numpy, scipy and matplotlib afresh
def test_the_library_never_imports_prefect():
    code = (
        "import sys, leap.experiments.compare, leap.report.compare_page, leap.console.compare; "
        "sys.exit('prefect' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], timeout=120).returncode == 0


@pytest.mark.slow
def test_the_page_renders_in_chromium_without_a_network(store, tmp_path):
    page = written(store, tmp_path / "out")["comparison.html"]
    dom = chromium_dom(page, tmp_path / "profile")
    assert "<title>Comparison of 2 runs on smoke</title>" in dom
    assert dom.count("<svg") == 2 and "2 / 1 / 2" in dom
