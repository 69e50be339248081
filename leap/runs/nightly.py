"""The nightly summary: every cell of a night beside the same cell on the night before.

A cell is the same cell on another night when its run id differs only in the date
(`nightly-{date}-{benchmark}-{method}-{model}-{config}`, see `leap.runs.matrix`). The
previous night is found in the store, which holds what every run computed: the nights
before are tried one by one (at most `LOOKBACK_NIGHTS`), so ad-hoc runs never count and a
missed night only makes the comparison reach further back. The store must be the same
for the nights to be compared (the matrix's store, or one `store` override kept for
every night).

Differences are in percentage points. A non-independent cell is also set against the
independent cell of the same benchmark, model and config on the same night.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from leap.errors import LeapError
from leap.report.format import MISSING, finite_number, percent
from leap.runs.matrix import MatrixCell, cell_run_id
from leap.runs.store import RunStore
from leap.scoring.summary import RunSummary
from leap.store import ObjectStore, open_store

LOOKBACK_NIGHTS = 14  # how many nights back the previous run of a cell is looked for
BASELINE_METHOD = "independent"
REPORT = "report.html"
_NIGHT_FORMAT = "%Y%m%d"


def check_night(night: str) -> str:
    """`night` itself when it is a date written YYYYMMDD; LeapError otherwise."""
    try:
        parsed = datetime.strptime(night, _NIGHT_FORMAT)
    except (TypeError, ValueError):
        parsed = None
    if parsed is None or parsed.strftime(_NIGHT_FORMAT) != night:
        raise LeapError(f"night {night!r} is not a date: write it as YYYYMMDD, e.g. 20261203.")
    return night


def earlier_nights(night: str, count: int = LOOKBACK_NIGHTS) -> list[str]:
    """The `count` dates before `night` (YYYYMMDD), the latest first."""
    day = datetime.strptime(check_night(night), _NIGHT_FORMAT)
    return [(day - timedelta(days=n)).strftime(_NIGHT_FORMAT) for n in range(1, count + 1)]


@dataclass(frozen=True)
class PreviousCell:
    """The same cell on an earlier night: its run, its summary, and whether its spec
    computed the same thing (a config edited in the matrix keeps the cell's name)."""

    night: str
    run_id: str
    summary: RunSummary
    same_spec: bool


@dataclass(frozen=True)
class CellOutcome:
    """What one cell achieved tonight (`summary` is None when it was not scored)."""

    run_id: str
    benchmark: str
    method: str
    model: str
    config: str
    state: str
    summary: RunSummary | None = None
    report: str | None = None
    previous: PreviousCell | None = None

    @classmethod
    def of(cls, cell: MatrixCell, state: str) -> CellOutcome:
        """The cell with its final state and nothing read from the store yet."""
        spec = cell.spec
        return cls(
            run_id=spec.run_id or "",
            benchmark=spec.benchmark,
            method=spec.leap.method,
            model=spec.model,
            config=cell.config_name,
            state=state,
        )


@dataclass(frozen=True)
class NightlyRow:
    """One row of the nightly summary. Metrics are fractions; changes are fractions too
    (shown in points); None where there is nothing to show."""

    run_id: str
    benchmark: str
    method: str
    model: str
    config: str
    state: str
    pass_at_1: float | None
    cons_at_n: float | None
    answered_rate: float | None
    previous_night: str | None
    previous_note: str
    pass_at_1_change: float | None
    cons_at_n_change: float | None
    answered_rate_change: float | None
    pass_at_1_vs_independent: float | None
    cons_at_n_vs_independent: float | None
    report: str | None


# -- reading a night's cells from the store ---------------------------------------------


def read_outcome(cell: MatrixCell, state: str) -> CellOutcome:
    """The cell's outcome from the store: tonight's summary and report link, if stored."""
    run = RunStore(open_store(cell.spec.store), cell.spec.run_id or "")
    data = run.read_result("summary.json")
    summary = RunSummary.from_json(data) if data is not None else None
    report = report_link(run) if run.store.exists(run.result_key(REPORT)) else None
    return replace(CellOutcome.of(cell, state), summary=summary, report=report)


def find_previous_cell(
    cell: MatrixCell, count: int = LOOKBACK_NIGHTS, store: ObjectStore | None = None
) -> PreviousCell | None:
    """The same cell on the latest of the `count` nights before `cell.night` that has a
    summary in the cell's store; None when there is none."""
    objects = store or open_store(cell.spec.store)
    for night in earlier_nights(cell.night, count):
        run = RunStore(objects, cell_run_id(night, cell.spec, cell.config_name))
        data = run.read_result("summary.json")
        if data is None:
            continue
        same_spec = run.read_document().get("spec_hash") == cell.spec.content_hash()
        return PreviousCell(night, run.run_id, RunSummary.from_json(data), same_spec)
    return None


def report_link(run: RunStore) -> str:
    """Where a reviewer opens the run's report: a presigned URL for S3, a file URI for a
    local store."""
    return run.link(f"results/{REPORT}")


# -- the rows ----------------------------------------------------------------------------


def nightly_rows(outcomes: Sequence[CellOutcome]) -> list[NightlyRow]:
    """One row per cell, in the given order, with the changes against the previous night
    and against the same night's independent cell."""
    baselines = {
        _baseline_key(o): o.summary
        for o in outcomes
        if o.method == BASELINE_METHOD and o.summary is not None
    }
    rows = []
    for outcome in outcomes:
        summary = outcome.summary
        previous = outcome.previous
        compared = previous.summary if previous is not None and previous.same_spec else None
        own_baseline = outcome.method == BASELINE_METHOD
        baseline = None if own_baseline else baselines.get(_baseline_key(outcome))
        rows.append(
            NightlyRow(
                run_id=outcome.run_id,
                benchmark=outcome.benchmark,
                method=outcome.method,
                model=outcome.model,
                config=outcome.config,
                state=outcome.state,
                pass_at_1=_metric(summary, "pass_at_1"),
                cons_at_n=_metric(summary, "cons_at_n"),
                answered_rate=_metric(summary, "answered_rate"),
                previous_night=previous.night if previous is not None else None,
                previous_note=_previous_note(previous),
                pass_at_1_change=_difference(summary, compared, "pass_at_1"),
                cons_at_n_change=_difference(summary, compared, "cons_at_n"),
                answered_rate_change=_difference(summary, compared, "answered_rate"),
                pass_at_1_vs_independent=_difference(summary, baseline, "pass_at_1"),
                cons_at_n_vs_independent=_difference(summary, baseline, "cons_at_n"),
                report=outcome.report,
            )
        )
    return rows


def _baseline_key(outcome: CellOutcome) -> tuple[str, str, str]:
    return (outcome.benchmark, outcome.model, outcome.config)


def _metric(summary: RunSummary | None, name: str) -> float | None:
    return finite_number(getattr(summary, name)) if summary is not None else None


def _difference(now: RunSummary | None, then: RunSummary | None, name: str) -> float | None:
    a, b = _metric(now, name), _metric(then, name)
    return a - b if a is not None and b is not None else None


def _previous_note(previous: PreviousCell | None) -> str:
    if previous is not None and not previous.same_spec:
        return "other settings, not compared"
    return ""


# -- how the rows are shown --------------------------------------------------------------


def points(change: float | None) -> str:
    """A difference of two fractions in percentage points: `+12.5 pts`, `-3.0 pts`, `—`."""
    number = finite_number(change)
    if number is None:
        return MISSING
    shown = round(number * 100, 1)
    return f"{shown + 0.0:+.1f} pts"  # + 0.0 turns -0.0 into 0.0


def table_rows(rows: Sequence[NightlyRow]) -> list[dict[str, str]]:
    """The rows as a table artifact shows them (text cells, one column per field)."""
    shown = []
    for row in rows:
        shown.append(
            {
                "run_id": row.run_id,
                "state": row.state,
                "benchmark": row.benchmark,
                "method": row.method,
                "model": row.model,
                "config": row.config,
                "pass_at_1": percent(row.pass_at_1),
                "cons_at_n": percent(row.cons_at_n),
                "answered_rate": percent(row.answered_rate),
                "previous_night": _previous(row),
                "pass_at_1_change": points(row.pass_at_1_change),
                "cons_at_n_change": points(row.cons_at_n_change),
                "answered_rate_change": points(row.answered_rate_change),
                "pass_at_1_vs_independent": points(row.pass_at_1_vs_independent),
                "cons_at_n_vs_independent": points(row.cons_at_n_vs_independent),
                "report": row.report or MISSING,
            }
        )
    return shown


def summary_markdown(rows: Sequence[NightlyRow], night: str, matrix: str) -> str:
    """The night as a markdown table: each metric with its change since the previous
    night in brackets, the LeaP − independent differences, and a link to each report."""
    lines = [
        f"### Nightly {night}: matrix {matrix}",
        "",
        "Changes (in brackets) are against the same cell on the previous night; "
        "LeaP − independent compares with the independent cell of the same benchmark, "
        "model and config tonight. Both are in percentage points.",
        "",
        "| benchmark | method | model | config | state | Pass@1 | Cons@N | answered "
        "| previous night | LeaP − independent (Pass@1 / Cons@N) | report |",
        "|---|---|---|---|---|---:|---:|---:|---|---:|---|",
    ]
    for row in rows:
        versus = MISSING
        if row.pass_at_1_vs_independent is not None or row.cons_at_n_vs_independent is not None:
            versus = (
                f"{points(row.pass_at_1_vs_independent)} / {points(row.cons_at_n_vs_independent)}"
            )
        report = f"[report]({row.report})" if row.report else MISSING
        cells = [
            row.benchmark,
            row.method,
            row.model,
            row.config,
            row.state,
            _with_change(row.pass_at_1, row.pass_at_1_change),
            _with_change(row.cons_at_n, row.cons_at_n_change),
            _with_change(row.answered_rate, row.answered_rate_change),
            _previous(row),
            versus,
            report,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _previous(row: NightlyRow) -> str:
    if row.previous_night is None:
        return MISSING
    if row.previous_note:
        return f"{row.previous_night} ({row.previous_note})"
    return row.previous_night


def _with_change(value: float | None, change: float | None) -> str:
    shown = percent(value)
    return shown if change is None else f"{shown} ({points(change)})"
