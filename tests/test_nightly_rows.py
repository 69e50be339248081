"""The nightly summary's logic: which earlier run is the same cell, the changes against
it, the LeaP - independent differences, how rows read; flow run names and artifact keys."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from helpers import TINY_LEAP

from leap.errors import LeapError
from leap.runs import RunSpec, RunStore
from leap.runs.matrix import Matrix, MatrixCell, cell_run_id, matrix_cells
from leap.runs.nightly import (
    CellOutcome,
    PreviousCell,
    check_night,
    earlier_nights,
    find_previous_cell,
    nightly_rows,
    points,
    read_outcome,
    summary_markdown,
    table_rows,
)
from leap.scoring.metrics import TokenTotals
from leap.scoring.summary import RunSummary
from tasks.dashboard import artifact_key, flow_run_name, progress_key


def summary(pass_at_1: float | None, cons_at_n: float | None = None, answered=None) -> RunSummary:
    return RunSummary(
        run_id="r",
        benchmark="smoke",
        method="leap",
        model="smollm2-135m",
        engine="transformers",
        config={},
        n_problems=1,
        n_scored=1,
        n_paths=2,
        failed_problems=[],
        solve_seconds=1.0,
        created_at="2026-12-03T01:30:00+00:00",
        tokens=TokenTotals(),
        pass_at_1=pass_at_1,
        cons_at_n=cons_at_n,
        answered_rate=answered,
    )


def cells(store: Path, night: str, configs: dict[str, dict] | None = None) -> list[MatrixCell]:
    matrix = Matrix(
        benchmarks=["smoke"],
        methods=["leap", "independent"],
        models=["smollm2-135m"],
        configs=configs or {"tiny": TINY_LEAP},
        store=str(store),
        limit=1,
    )
    return matrix_cells(matrix, night)


def store_run(cell: MatrixCell, night: str, result: RunSummary | None, **changes: Any) -> str:
    """The cell's run of `night` in its store (with `changes` to its spec), scored or not."""
    run_id = cell_run_id(night, cell.spec, cell.config_name)
    leap = cell.spec.leap.model_copy(update=changes)
    spec = cell.spec.model_copy(update={"run_id": run_id, "leap": leap})
    run = RunStore.open(spec.store, spec.run_id or "")
    run.create_or_check(spec)
    if result is not None:
        run.write_result("summary.json", result.to_json().encode())
    return run.run_id


@pytest.mark.parametrize("night", ["20261203", "20240229"])
def test_a_night_is_a_date(night):
    assert check_night(night) == night


@pytest.mark.parametrize("night", ["2026-12-03", "20261332", "20230229", "2026123", "tonight", ""])
def test_a_night_that_is_not_a_date_is_one_sentence(night):
    with pytest.raises(LeapError, match="is not a date: write it as YYYYMMDD"):
        check_night(night)


def test_earlier_nights_go_back_day_by_day_across_months():
    assert earlier_nights("20260301", 3) == ["20260228", "20260227", "20260226"]


def test_the_previous_cell_is_the_latest_earlier_night_of_the_same_cell(tmp_path):
    leap_cell = cells(tmp_path, "20261203")[0]
    assert leap_cell.spec.run_id == "nightly-20261203-smoke-leap-smollm2-135m-tiny"
    store_run(leap_cell, "20261130", summary(0.25))
    store_run(leap_cell, "20261201", summary(0.5))
    store_run(leap_cell, "20261202", None)  # started, never scored: not a night to compare
    store_run(leap_cell, "20261205", summary(1.0))  # a later night never counts
    # Ad-hoc runs and other cells of the night before are not this cell.
    adhoc = RunStore.open(str(tmp_path), "smoke-leap-dispersed-k1-T16-20261202-013000")
    adhoc.create_or_check(leap_cell.spec.model_copy(update={"run_id": adhoc.run_id}))
    adhoc.write_result("summary.json", summary(0.0).to_json().encode())
    store_run(cells(tmp_path, "20261203")[1], "20261202", summary(0.0))

    previous = find_previous_cell(leap_cell)
    assert previous is not None
    assert (previous.night, previous.run_id) == (
        "20261201",
        "nightly-20261201-smoke-leap-smollm2-135m-tiny",
    )
    assert previous.summary.pass_at_1 == 0.5 and previous.same_spec
    # Nothing within reach: no previous cell.
    assert find_previous_cell(leap_cell, count=1) is None


def test_a_previous_cell_with_other_settings_is_marked(tmp_path):
    leap_cell = cells(tmp_path, "20261203")[0]
    store_run(leap_cell, "20261202", summary(0.5), tokens_per_round=32)
    previous = find_previous_cell(leap_cell)
    assert previous is not None and previous.night == "20261202"
    assert not previous.same_spec


def test_an_outcome_reads_the_summary_and_links_the_report_only_once_it_exists(tmp_path):
    cell = cells(tmp_path, "20261203")[0]
    run = RunStore.open(str(tmp_path), cell.spec.run_id or "")
    assert read_outcome(cell, "Crashed") == CellOutcome.of(cell, "Crashed")
    run.create_or_check(cell.spec)
    run.write_result("summary.json", summary(0.5).to_json().encode())
    assert read_outcome(cell, "Completed").report is None
    run.write_result("report.html", b"<!DOCTYPE html>")
    outcome = read_outcome(cell, "Completed")
    assert outcome.summary == summary(0.5)
    assert (outcome.method, outcome.config, outcome.state) == ("leap", "tiny", "Completed")
    # A path for local stores (a file: URL or a plain path), an https URL for S3 ones.
    report = outcome.report or ""
    assert report.endswith(f"{cell.spec.run_id}/results/report.html")
    assert Path(report.removeprefix("file://")).read_bytes() == b"<!DOCTYPE html>"


def outcome(method: str, config: str = "tiny", result=None, previous=None, **kw) -> CellOutcome:
    return CellOutcome(
        run_id=f"nightly-20261203-smoke-{method}-smollm2-135m-{config}",
        benchmark=kw.get("benchmark", "smoke"),
        method=method,
        model=kw.get("model", "smollm2-135m"),
        config=config,
        state=kw.get("state", "Completed"),
        summary=result,
        report=kw.get("report"),
        previous=previous,
    )


def before(night: str, result: RunSummary, same_spec: bool = True) -> PreviousCell:
    return PreviousCell(night, f"nightly-{night}-x", result, same_spec)


# Each case: tonight's cells; per cell, the expected (change of Pass@1, Cons@N and answered
# rate against the previous night, Pass@1 and Cons@N minus the independent cell, note).
ROW_CASES = {
    "changes and LeaP minus independent": (
        [
            outcome(
                "leap",
                result=summary(0.75, 1.0, 1.0),
                previous=before("20261202", summary(0.5, 0.5, 0.75)),
            ),
            outcome(
                "independent",
                result=summary(0.5, 0.5, 0.5),
                previous=before("20261201", summary(0.625, 1.0, 0.5)),
            ),
        ],
        [(0.25, 0.5, 0.25, 0.25, 0.5, ""), (-0.125, -0.5, 0.0, None, None, "")],
    ),
    "no earlier night, no independent cell": (
        [outcome("leap", result=summary(0.5, 0.5, 1.0))],
        [(None, None, None, None, None, "")],
    ),
    "an earlier night with other settings is not compared": (
        [
            outcome(
                "leap",
                result=summary(0.5, 0.5, 1.0),
                previous=before("20261202", summary(0.25), False),
            ),
            outcome("independent", result=summary(0.5, 0.25, 1.0)),
        ],
        [(None, None, None, 0.0, 0.25, "other settings, not compared"), (None,) * 5 + ("",)],
    ),
    "an unscored cell has no figures; its partner has no baseline": (
        [
            outcome(
                "leap", result=summary(0.5, 0.5, 1.0), previous=before("20261202", summary(0.25))
            ),
            outcome("independent", state="Failed", previous=before("20261202", summary(0.5))),
        ],
        [(0.25, None, None, None, None, ""), (None,) * 5 + ("",)],
    ),
    "the baseline is the same benchmark, model and config": (
        [
            outcome("leap", "wide", result=summary(0.5, 0.5)),
            outcome("independent", "tiny", result=summary(0.25, 0.25)),
            outcome("single", "tiny", result=summary(0.75, 0.75), model="other"),
            outcome("independent", "tiny", result=summary(0.0, 0.0), model="other"),
        ],
        [
            (None,) * 5 + ("",),
            (None,) * 5 + ("",),
            (None, None, None, 0.75, 0.75, ""),
            (None,) * 5 + ("",),
        ],
    ),
}


@pytest.mark.parametrize(("outcomes", "expected"), ROW_CASES.values(), ids=ROW_CASES.keys())
def test_rows_compare_with_the_previous_night_and_the_independent_cell(outcomes, expected):
    rows = nightly_rows(outcomes)
    assert [r.run_id for r in rows] == [o.run_id for o in outcomes]
    got = [
        (
            r.pass_at_1_change,
            r.cons_at_n_change,
            r.answered_rate_change,
            r.pass_at_1_vs_independent,
            r.cons_at_n_vs_independent,
            r.previous_note,
        )
        for r in rows
    ]
    assert got == expected
    for row, cell in zip(rows, outcomes, strict=True):
        assert row.pass_at_1 == (cell.summary.pass_at_1 if cell.summary else None)
        assert row.previous_night == (cell.previous.night if cell.previous else None)


@pytest.mark.parametrize(
    ("change", "shown"),
    [
        (0.125, "+12.5 pts"),
        (-0.03, "-3.0 pts"),
        (0.0, "+0.0 pts"),
        (-0.0001, "+0.0 pts"),
        (None, "—"),
        (float("nan"), "—"),
    ],
)
def test_changes_read_in_points(change, shown):
    assert points(change) == shown


def test_a_row_reads_with_its_changes_and_report_link():
    link = "https://bucket.s3.example/nightly-20261203/results/report.html?X-Amz-Signature=ab"
    rows = nightly_rows(
        [
            outcome(
                "leap",
                result=summary(0.75, 1.0, 1.0),
                previous=before("20261202", summary(0.5, 1.0, 1.0)),
                report=link,
            ),
            outcome("independent", result=summary(0.5, 0.5, 1.0), state="Failed"),
        ]
    )
    [leap, independent] = table_rows(rows)
    assert leap["pass_at_1"] == "75.0%" and leap["pass_at_1_change"] == "+25.0 pts"
    assert leap["cons_at_n_change"] == "+0.0 pts" and leap["previous_night"] == "20261202"
    assert leap["pass_at_1_vs_independent"] == "+25.0 pts"
    assert leap["cons_at_n_vs_independent"] == "+50.0 pts"
    assert leap["report"] == link
    assert independent["previous_night"] == "—" and independent["report"] == "—"
    assert independent["state"] == "Failed"
    markdown = summary_markdown(rows, "20261203", "deployments/matrix.yaml")
    assert "### Nightly 20261203: matrix deployments/matrix.yaml" in markdown
    assert (
        "| smoke | leap | smollm2-135m | tiny | Completed | 75.0% (+25.0 pts) | 100.0% (+0.0 pts) "
        f"| 100.0% (+0.0 pts) | 20261202 | +25.0 pts / +50.0 pts | [report]({link}) |"
    ) in markdown
    failed = "| smoke | independent | smollm2-135m | tiny | Failed | 50.0% | 50.0% | 100.0% |"
    assert f"{failed} — | — | — |" in markdown


@pytest.mark.parametrize(
    ("spec", "shard", "name"),
    [
        (
            {"run_id": "nightly-20261203-smoke-leap-smollm2-135m-tiny"},
            None,
            "nightly-20261203-smoke-leap-smollm2-135m-tiny",
        ),
        (
            {"run_id": "nightly-20261203-smoke-leap-smollm2-135m-tiny"},
            1,
            "nightly-20261203-smoke-leap-smollm2-135m-tiny · shard-2of2",
        ),
        ({"run_id": "deployed-one"}, None, "deployed-one · smollm2-135m"),
        ({"run_id": "deployed-one"}, 0, "deployed-one · smollm2-135m · shard-1of2"),
        ({"model": "Qwen/QwQ-32B"}, None, "smoke-leap-dispersed-k4-T4096 · QwQ-32B"),
        ({"run_id": "qwq-32b-try", "model": "Qwen/QwQ-32B"}, None, "qwq-32b-try · QwQ-32B"),
        ({"run_id": "smollm2-135m1"}, None, "smollm2-135m1 · smollm2-135m"),
    ],
)
def test_flow_run_names_tell_runs_apart(spec, shard, name):
    assert flow_run_name(RunSpec(**spec), 2, shard) == name


@pytest.mark.parametrize(
    ("text", "key"),
    [
        (
            "nightly-20261203-smoke-leap-smollm2-135m-tiny",
            "nightly-20261203-smoke-leap-smollm2-135m-tiny",
        ),
        ("Run_1.b--c", "run-1-b-c"),
        ("é-x", "x"),
        ("___", "run"),
        ("a" * 80, "a" * 60),
    ],
)
def test_artifact_keys_are_lowercase_letters_digits_and_dashes(text, key):
    assert artifact_key(text) == key


def test_progress_keys_name_the_run_and_shard():
    assert progress_key("Deployed_One") == "deployed-one-progress"
    assert progress_key("deployed-one", "shard-2of2") == "deployed-one-shard-2of2-progress"
