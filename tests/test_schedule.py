"""The server's scheduler creates runs of a deployment with a schedule, and a worker runs one.

On the session's deployed pipeline (tests/deployed.py); the server's scheduler goes over
the deployments each 5 s (tests/prefect_server.py).
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta

import pytest
from deployed import tiny_spec

pytestmark = pytest.mark.slow

# The first run is due this long after the test starts; registering takes 10-25 s on two
# busy cores, and the scheduler sees a new deployment within 5 s.
LEAD = timedelta(seconds=60)


def _runs_of(server, deployment_id: str) -> list[dict]:
    body = {"flow_runs": {"deployment_id": {"any_": [deployment_id]}}, "sort": "START_TIME_ASC"}
    return server.post("/flow_runs/filter", body)


def _server_output(server, start: int) -> str:
    """What the server wrote from offset `start` on."""
    with server.log.open() as log:
        log.seek(start)
        return log.read()


def _scheduler_errors(output: str) -> list[str]:
    return [line for line in output.splitlines() if re.search(r"ERROR.*[Ss]chedul", line)]


def _scheduler_tracebacks(output: str) -> list[str]:
    """The tracebacks in `output` that went through the scheduler service."""
    blocks = re.split(r"(?=Traceback \(most recent call last\))", output)[1:]
    return [b for b in blocks if re.search(r"services/scheduler|schedul\w*_flow_runs|bulk DML", b)]


def _wait(condition, what: str, timeout: float, server, log_start: int):
    deadline = time.monotonic() + timeout
    while not (found := condition()):
        if time.monotonic() > deadline:
            errors = _scheduler_errors(_server_output(server, log_start))
            raise AssertionError(f"{what} did not happen in {timeout:.0f} s; server: {errors}")
        time.sleep(0.5)
    return found


def test_the_scheduler_creates_runs_and_a_worker_completes_one(deployed, tmp_path):
    server = deployed.server
    log_start = server.log.stat().st_size
    spec = tiny_spec(deployed.store, "deployed-scheduled", limit=1)
    # Once a day from a minute ahead: one run due now, the next ones tomorrow and later.
    due = (datetime.now(UTC) + LEAD).replace(microsecond=0)
    daily = {"interval": 86400, "anchor_date": due.isoformat(), "timezone": "UTC"}
    deployment = deployed.register_variant(
        tmp_path, "scheduled", parameters={"spec": spec}, schedules=[{**daily, "active": True}]
    )
    try:
        [schedule] = deployment["schedules"]
        assert schedule["schedule"]["interval"] == 86400.0 and schedule["active"] is True
        # The scheduler, not anyone else, creates the runs: several ahead, on the schedule.
        runs = _wait(
            lambda: _runs_of(server, deployment["id"]), "a scheduled run", 60, server, log_start
        )
        assert len(runs) > 1
        assert all(r["auto_scheduled"] and "auto-scheduled" in r["tags"] for r in runs), runs
        assert {r["state_name"] for r in runs} <= {"Scheduled", "Pending", "Running"}
        first = min(runs, key=lambda r: r["expected_start_time"])
        assert datetime.fromisoformat(first["expected_start_time"]) == due, (
            "registering took longer than the lead: the first run is tomorrow's"
        )
        assert first["parameters"]["spec"]["run_id"] == "deployed-scheduled"

        # A worker of the pool runs it when it is due.
        done = server.wait_for(first["id"], timeout=600)
        assert done["state_type"] == "COMPLETED", done["state"]["message"]
        assert len(deployed.ran_on(first["id"])) == 1
        summary = json.loads(
            (deployed.store / "deployed-scheduled" / "results" / "summary.json").read_text()
        )
        assert summary["n_scored"] == 1
    finally:
        # Deleting the deployment deletes its runs still waiting and ends its schedule.
        server.delete(f"/deployments/{deployment['id']}")
    time.sleep(6)  # a scheduler loop: no run comes back
    assert [r["id"] for r in _runs_of(server, deployment["id"])] == [first["id"]]

    # The scheduler worked without a failure (prefect 3.8.8 with SQLAlchemy 2.1 logs one
    # each loop: "Can't evaluate bulk DML statement", and never creates a run).
    # Other tracebacks may be there: SQLite answers "database is locked" to a worker's
    # heartbeat now and then on two busy cores, which the worker retries.
    output = _server_output(server, log_start)
    assert _scheduler_tracebacks(output) == [], output[-4000:]
    assert _scheduler_errors(output) == []
