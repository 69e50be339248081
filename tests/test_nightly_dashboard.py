"""What a reviewer sees of two nights of the nightly deployment, on the session's deployed
pipeline (tests/deployed.py): flow run names, keyed artifacts, the nightly summary."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from helpers import TINY_LEAP

from leap.report.format import percent
from leap.runs.nightly import points

pytestmark = pytest.mark.slow

NIGHTLY = "leap-nightly/nightly"
CELL = "nightly-{night}-smoke-{method}-smollm2-135m-tiny"


def created_name(deployed, flow_run_id: str) -> str:
    """The flow run's name when it was created: the one its first state event carries."""
    body = {
        "filter": {
            "any_resource": {"id": [f"prefect.flow-run.{flow_run_id}"]},
            "event": {"prefix": ["prefect.flow-run."]},
            "order": "ASC",
        },
        "limit": 50,
    }
    events = deployed.server.post("/events/filter", body)["events"]
    assert events, f"no events of flow run {flow_run_id}"
    first = min(events, key=lambda e: e["occurred"])
    return first["resource"]["prefect.resource.name"]


def stored_summary(store: Path, run_id: str) -> dict:
    return json.loads((store / run_id / "results" / "summary.json").read_text())


def test_two_nights_each_cell_against_the_same_cell_the_night_before(deployed, tmp_path):
    def matrix(name: str, methods: list[str]) -> Path:
        path = tmp_path / name
        cells = {
            "benchmarks": [{"name": "smoke", "limit": 1}],
            "methods": methods,
            "models": ["smollm2-135m"],
            "configs": {"tiny": TINY_LEAP},
            "dtype": "float32",
        }
        path.write_text(yaml.safe_dump(cells))
        return path

    # The night before ran only the LeaP cell: tonight's independent cell has no previous
    # night to compare with, and is never compared with another cell instead.
    earlier, tonight = (
        matrix("before.yaml", ["leap"]),
        matrix("matrix.yaml", ["leap", "independent"]),
    )
    store = tmp_path / "nightly-store"
    # The night before is run again by its date; tonight's date is its scheduled start's.
    before = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y%m%d")
    first = deployed.run(NIGHTLY, {"matrix": str(earlier), "store": str(store), "night": before})
    assert first["state_type"] == "COMPLETED", first["state"]["message"]
    assert first["name"] == f"nightly-{before}"
    second = deployed.run(NIGHTLY, {"matrix": str(tonight), "store": str(store)})
    assert second["state_type"] == "COMPLETED", second["state"]["message"]
    night = second["name"].removeprefix("nightly-")
    assert re.fullmatch(r"\d{8}", night) and night > before

    # Every cell is a flow run named by its run id from the moment it was created.
    ids = {m: CELL.format(night=night, method=m) for m in ("leap", "independent")}
    cells = {}
    for method, run_id in ids.items():
        [cell] = deployed.flow_runs(f"run:{run_id}")
        assert cell["state_type"] == "COMPLETED"
        assert {f"method:{method}", "config:tiny", f"nightly:{night}"} <= set(cell["tags"])
        assert cell["name"] == run_id
        assert created_name(deployed, cell["id"]) == run_id
        # Its progress is a keyed artifact, listed under Artifacts.
        progress = deployed.by_key(cell["id"])[f"{run_id}-progress"]
        assert progress["type"] == "progress" and progress["data"] == 100.0
        cells[method] = cell
    summaries = {m: stored_summary(store, r) for m, r in ids.items()}
    assert summaries["independent"]["n_scored"] == 1
    assert summaries["independent"]["method"] == "independent"

    # The summary: one row per cell, against the same cell of the night before.
    artifacts = deployed.artifacts(second["id"])
    assert artifacts["table"]["key"] == "leap-nightly-results"
    assert artifacts["markdown"]["key"] == "leap-nightly-summary"
    rows = {r["method"]: r for r in json.loads(artifacts["table"]["data"])}
    assert sorted(rows) == ["independent", "leap"]
    for method, row in rows.items():
        now = summaries[method]
        assert row["run_id"] == ids[method] and row["state"] == "Completed"
        assert (row["benchmark"], row["model"], row["config"]) == ("smoke", "smollm2-135m", "tiny")
        assert row["pass_at_1"] == percent(now["pass_at_1"])
        assert row["cons_at_n"] == percent(now["cons_at_n"])
        assert row["answered_rate"] == percent(now["answered_rate"])
        if method == "leap":
            then = stored_summary(store, CELL.format(night=before, method=method))
            assert row["previous_night"] == before
            for metric in ("pass_at_1", "cons_at_n", "answered_rate"):
                assert row[f"{metric}_change"] == points(now[metric] - then[metric])
        else:
            assert row["previous_night"] == "—"
            assert {row[f"{m}_change"] for m in ("pass_at_1", "cons_at_n")} == {"—"}
        # The report: a file in the store (an https URL for S3 stores).
        report = row["report"]
        assert report.endswith(f"{ids[method]}/results/report.html")
        assert Path(report.removeprefix("file://")).is_file()
    leap, independent = summaries["leap"], summaries["independent"]
    for metric in ("pass_at_1", "cons_at_n"):
        difference = points(leap[metric] - independent[metric])
        assert rows["leap"][f"{metric}_vs_independent"] == difference
        assert rows["independent"][f"{metric}_vs_independent"] == "—"
    markdown = artifacts["markdown"]["data"]
    assert f"### Nightly {night}: matrix {tonight}" in markdown
    assert f"[report]({rows['leap']['report']})" in markdown
    assert f"| {before} | {rows['leap']['pass_at_1_vs_independent']} / " in markdown

    # The first night had nothing to compare with.
    first_rows = json.loads(deployed.artifacts(first["id"])["table"]["data"])
    assert [r["previous_night"] for r in first_rows] == ["—"]
    assert {r["pass_at_1_change"] for r in first_rows} == {"—"}
    # Both nights are versions of the same keys: the history of each artifact is the trend.
    for key in ("leap-nightly-results", "leap-nightly-summary"):
        found = deployed.server.post("/artifacts/filter", {"artifacts": {"key": {"any_": [key]}}})
        assert {first["id"], second["id"]} <= {a["flow_run_id"] for a in found}
