"""The benchmark flow end to end, in-process, on a session-wide Prefect test API.

Real parts throughout: the default model on the CPU, a local folder store and a moto S3
server on 127.0.0.1.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
import time

import pyarrow.parquet as pq
import pytest
from helpers import comparable, tiny_spec

from leap.errors import LeapError
from leap.runs import RunStore, load_run_problems, prepare_run
from leap.runs.progress import subscribe
from leap.runs.solve import solve_problem
from leap.store import open_store

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_api")]


def run_flow(spec):
    from flows.benchmark import run_benchmark

    return run_benchmark(prepare_run(spec))


def scores(store_url: str, run_id: str) -> list[dict]:
    data = RunStore.open(store_url, run_id).read_result("scores.parquet")
    assert data is not None
    return comparable(pq.read_table(io.BytesIO(data)).to_pylist())


def round_keys(store_url: str, run_id: str) -> list[str]:
    keys = open_store(store_url).list(f"{run_id}/problems/")
    return [k for k in keys if "/round-" in k and k.endswith(".parquet")]


@pytest.fixture(scope="module")
def reference(tmp_path_factory, prefect_api):
    """An uninterrupted run; other tests compare against its scores."""
    store = str(tmp_path_factory.mktemp("reference"))
    spec = tiny_spec(store)
    state = run_flow(spec)
    assert state.is_completed(), state.message
    return store, spec


def test_a_run_writes_rounds_finals_and_results(reference):
    store, spec = reference
    keys = open_store(store).list(f"{spec.run_id}/")
    problems = load_run_problems(spec)
    for problem in problems:
        assert f"{spec.run_id}/problems/{problem.id}/final.parquet" in keys
        assert f"{spec.run_id}/problems/{problem.id}/round-000.parquet" in keys
    for name in ("scores.parquet", "summary.json", "report.html"):
        assert f"{spec.run_id}/results/{name}" in keys
    rows = scores(store, spec.run_id)
    assert len(rows) == len(problems) * spec.leap.n_paths
    summary = json.loads(RunStore.open(store, spec.run_id).read_result("summary.json"))
    assert summary["n_problems"] == len(problems) and summary["failed_problems"] == []
    assert 0.0 <= summary["pass_at_1"] <= 1.0
    assert set(summary["pass_at_k"]) == {"1", "2"}
    assert summary["tokens"]["prompt_reused"] > summary["tokens"]["prompt_computed"] > 0


def test_running_a_finished_run_again_recomputes_nothing(reference):
    store, spec = reference
    before = {k: open_store(store).get(k) for k in round_keys(store, spec.run_id)}
    rounds_seen = []
    unsubscribe = subscribe(lambda e: rounds_seen.append(e) if e.round >= 0 else None)
    try:
        assert run_flow(spec).is_completed()
    finally:
        unsubscribe()
    assert rounds_seen == []
    after = {k: open_store(store).get(k) for k in round_keys(store, spec.run_id)}
    assert after == before


def test_leap_run_gives_the_first_problem_a_head_start_with_the_same_results(reference, tmp_path):
    """`leap run` solves the first problem on a thread while Prefect starts; the flow's task
    takes that over, and the run stores and scores exactly what the plain flow does."""
    from leap.console.run import execute

    store, spec = reference
    solved_on: dict[str, str] = {}

    def note(event) -> None:
        solved_on.setdefault(event.problem_id, threading.current_thread().name)

    unsubscribe = subscribe(note)
    try:
        # One problem at a time: the head start takes the first problem only.
        update = {"store": str(tmp_path), "concurrency": 1}
        assert execute(spec.model_copy(update=update)) == 0
    finally:
        unsubscribe()
    first, second = (problem.id for problem in load_run_problems(spec))
    assert solved_on[first] == f"head-start-{first}"
    assert not solved_on[second].startswith("head-start")
    assert scores(str(tmp_path), spec.run_id) == scores(store, spec.run_id)
    # The same round objects, each once: the head start and the task never both solved it.
    assert round_keys(str(tmp_path), spec.run_id) == round_keys(store, spec.run_id)


def test_a_run_with_a_failed_problem_ends_failed_and_names_it(reference, tmp_path):
    """A problem that cannot be solved fails its task; the flow must not report success."""
    from leap.scoring.summary import RunSummary

    store, spec = reference
    url = str(tmp_path / "broken")
    spec = spec.model_copy(update={"store": url})
    first, second = load_run_problems(spec)
    target = RunStore.open(url, spec.run_id)
    target.create_or_check(spec)
    # A stored round whose prompt is another problem's: the second problem cannot resume.
    record = RunStore.open(store, spec.run_id).load_rounds(first.id)[0]
    record.problem_id = second.id
    target.save_round(record)
    state = run_flow(spec)
    assert state.is_failed()
    assert f"({second.id})" in state.message and f"leap resume {spec.run_id}" in state.message
    assert target.load_final(first.id) is not None  # the other problem was still solved
    summary = RunSummary.from_json(target.read_result("summary.json"))
    assert summary.failed_problems == [second.id]


def test_a_full_disk_fails_the_run_in_one_sentence_without_retrying(
    reference, tmp_path, monkeypatch, capfd
):
    """ENOSPC is not a blip: no retry recomputing the round, no traceback (issue 18)."""
    import errno

    from leap.console.run import execute
    from leap.store import LocalStore

    store, spec = reference
    url = str(tmp_path / "full")
    attempts: list[str] = []
    real_put_once = LocalStore.put_once

    def put_once(self, key: str, data: bytes) -> None:
        if key.endswith("smoke-2/round-001.parquet"):
            attempts.append(key)
            raise self._fail("write", key, OSError(errno.ENOSPC, "No space left on device"))
        real_put_once(self, key, data)

    monkeypatch.setattr(LocalStore, "put_once", put_once)
    assert execute(spec.model_copy(update={"store": url})) == 1
    out = capfd.readouterr()
    text = out.out + out.err
    assert len(attempts) == 1  # the round was computed once and not retried
    # What `leap run` itself prints names the problem, the reason and the way on.
    assert "No space left on device" in out.out and "has free space" in out.out
    assert "(smoke-2)" in out.out and f"leap resume {spec.run_id}" in out.out
    assert "Traceback" not in text


def test_same_run_id_with_another_spec_is_refused(reference):
    store, spec = reference
    changed = spec.model_copy(update={"leap": spec.leap.model_copy(update={"top_k": 0})})
    with pytest.raises(LeapError, match="different spec.*top_k"):
        RunStore.open(store, spec.run_id).create_or_check(changed)


def test_run_on_s3_matches_the_local_run(reference, s3_bucket, monkeypatch):
    store, spec = reference
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_bucket.endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "leap-test-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "leap-test-secret")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    url = s3_bucket.url("evals")
    state = run_flow(spec.model_copy(update={"store": url}))
    assert state.is_completed(), state.message
    assert scores(url, spec.run_id) == scores(store, spec.run_id)


def test_corrupt_round_is_set_aside_and_recomputed(reference, tmp_path, caplog):
    store, spec = reference
    copy = tmp_path / "store"
    source = open_store(store)
    target = open_store(str(copy))
    for key in source.list(f"{spec.run_id}/"):
        if "/results/" in key or key.endswith("final.parquet"):
            continue
        target.put_once(key, source.get(key))
    damaged = round_keys(str(copy), spec.run_id)[0]
    (copy / damaged).write_bytes(b"PAR1 this is not parquet")
    state = run_flow(spec.model_copy(update={"store": str(copy)}))
    assert state.is_completed(), state.message
    assert damaged in caplog.text  # reported by name
    kept = [k for k in target.list(f"{spec.run_id}/") if ".corrupt-" in k]
    assert kept and kept[0].startswith(damaged)
    assert scores(str(copy), spec.run_id) == scores(store, spec.run_id)


def test_stopped_s3_server_fails_clearly_and_a_later_run_loses_nothing(reference, monkeypatch):
    from s3server import MotoS3

    store, spec = reference
    server = MotoS3().start()
    try:
        bucket = server.create_bucket()
        monkeypatch.setenv("AWS_ENDPOINT_URL", server.endpoint)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "leap-test-key")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "leap-test-secret")
        monkeypatch.setenv("AWS_REGION", "us-east-1")
        url = f"s3://{bucket}/runs"
        stopped = threading.Event()

        def stop_after_first_round(event):
            if event.round == 0 and not stopped.is_set():
                stopped.set()
                server.stop()

        unsubscribe = subscribe(stop_after_first_round)
        try:
            state = run_flow(spec.model_copy(update={"store": url}))
        finally:
            unsubscribe()
        assert stopped.is_set()
        assert state.is_failed()
        assert "resume" in state.message
        server.start()
        first_rounds = round_keys(url, spec.run_id)
        assert first_rounds  # the round stored before the outage is still there
        state = run_flow(spec.model_copy(update={"store": url}))
        assert state.is_completed(), state.message
        assert scores(url, spec.run_id) == scores(store, spec.run_id)
    finally:
        server.stop()


def test_an_s3_outage_during_a_run_fails_it_and_a_resume_loses_nothing(
    reference, s3_bucket, monkeypatch
):
    """The endpoint goes away after the first round and is back by scoring time: the run
    must still end Failed, naming its problems, and a resume must finish it exactly."""
    from tcp_proxy import TcpProxy

    import tasks.results

    store, spec = reference
    proxy = TcpProxy(int(s3_bucket.endpoint.rsplit(":", 1)[1]))
    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "leap-test-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "leap-test-secret")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    url = s3_bucket.url("outage")
    spec = spec.model_copy(update={"store": url})
    # The outage starts once the first round is stored and ends when scoring begins.
    unsubscribe = subscribe(lambda event: proxy.cut() if event.round == 0 else None)
    real_build_results = tasks.results.build_results

    def build_results_after_the_outage(*args, **kwargs):
        proxy.restore()
        return real_build_results(*args, **kwargs)

    monkeypatch.setattr(tasks.results, "build_results", build_results_after_the_outage)
    try:
        state = run_flow(spec)
    finally:
        unsubscribe()
        proxy.restore()
    assert state.is_failed()
    assert "2 of 2 problems failed (smoke-1, smoke-2)" in state.message
    assert f"leap resume {spec.run_id}" in state.message
    client = s3_bucket.client()

    def stored_rounds() -> dict[str, str]:
        listed = client.list_objects_v2(Bucket=s3_bucket.name, Prefix="outage/")
        return {o["Key"]: o["ETag"] + str(o["LastModified"]) for o in listed.get("Contents", [])}

    before = {k: v for k, v in stored_rounds().items() if "/round-" in k}
    assert before  # the round stored before the outage is kept
    assert run_flow(spec).is_completed()
    after = stored_rounds()
    assert all(after[k] == v for k, v in before.items()), "a stored round was rewritten"
    assert scores(url, spec.run_id) == scores(store, spec.run_id)  # the same tokens
    proxy.close()


def test_two_workers_on_one_problem_store_each_round_once(reference, tmp_path, engine):
    store, spec = reference
    url = str(tmp_path / "race")
    spec = spec.model_copy(update={"store": url})
    run = RunStore.open(url, spec.run_id)
    run.create_or_check(spec)
    problem = load_run_problems(spec)[0]
    finals, errors = [], []

    def worker():
        try:
            finals.append(solve_problem(engine, spec, problem, RunStore.open(url, spec.run_id)))
        except Exception as exc:  # noqa: BLE001 - surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert errors == []
    assert len(finals) == 2
    assert [a.own_text for a in finals[0].answers] == [a.own_text for a in finals[1].answers]
    keys = round_keys(url, spec.run_id)
    assert len(keys) == len(set(keys))
    assert [k.rsplit("/", 1)[-1] for k in keys] == [
        f"round-{i:03d}.parquet" for i in range(len(keys))
    ]
    reference_final = RunStore.open(store, spec.run_id).load_final(problem.id)
    assert [a.own_text for a in finals[0].answers] == [a.own_text for a in reference_final.answers]


RACER = """
import json, logging, pathlib, sys, time
from leap.engines.transformers.engine import TransformersEngine
from leap.runs import RunStore, load_run_problems, parse_spec
from leap.runs.solve import solve_problem

spec = parse_spec(json.loads(sys.argv[1]))
go = pathlib.Path(sys.argv[2])
logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
engine = TransformersEngine(spec.model, dtype=spec.dtype)
problem = load_run_problems(spec)[0]
pathlib.Path(sys.argv[3]).touch()  # ready
while not go.exists():
    time.sleep(0.05)
final = solve_problem(engine, spec, problem, RunStore.open(spec.store, spec.run_id))
print(json.dumps([a.own_text for a in final.answers]))
"""


def test_two_processes_on_one_problem_store_each_round_once(reference, tmp_path):
    store, spec = reference
    url = str(tmp_path / "race")
    spec = spec.model_copy(update={"store": url})
    RunStore.open(url, spec.run_id).create_or_check(spec)
    go = tmp_path / "go"
    command = [sys.executable, "-c", RACER, json.dumps(spec.model_dump(mode="json")), str(go)]
    racers = [
        subprocess.Popen(
            [*command, str(tmp_path / f"ready-{i}")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    deadline = time.monotonic() + 300
    while not all((tmp_path / f"ready-{i}").exists() for i in range(2)):
        assert time.monotonic() < deadline and all(r.poll() is None for r in racers)
        time.sleep(0.1)
    go.touch()  # both models are loaded: start solving at the same moment
    outputs = [r.communicate(timeout=600) for r in racers]
    assert [r.returncode for r in racers] == [0, 0], [err[-2000:] for _, err in outputs]
    answers = [json.loads(out) for out, _ in outputs]
    problem = load_run_problems(spec)[0]
    reference_final = RunStore.open(store, spec.run_id).load_final(problem.id)
    assert answers[0] == answers[1] == [a.own_text for a in reference_final.answers]
    # They really raced: the slower one found a round already stored at least once.
    assert sum(err.count("stored this round first") for _, err in outputs) >= 1
    keys = round_keys(url, spec.run_id)
    assert [k.rsplit("/", 1)[-1] for k in keys] == [
        f"round-{i:03d}.parquet" for i in range(len(keys))
    ]


def test_status_and_report_read_the_store_alone(reference, capsys):
    from leap.console.run import print_status, rebuild_report

    store, spec = reference
    run = RunStore.open(store, spec.run_id)
    before = json.loads(run.read_result("summary.json"))
    run.store.put(run.result_key("report.html"), b"stale")
    print_status(store, spec.run_id)
    rebuild_report(store, spec.run_id)
    out = capsys.readouterr().out
    assert "2 problems complete, 0 in progress" in out
    assert "smoke-1" in out and "2/2" in out
    after = json.loads(run.read_result("summary.json"))
    assert after["pass_at_1"] == before["pass_at_1"]
    assert after["tokens"] == before["tokens"]
    assert run.read_result("report.html").startswith(b"<!DOCTYPE html>")


def test_status_shows_a_problem_in_progress(reference, tmp_path, capsys):
    from leap.console.run import print_status

    store, spec = reference
    copy = open_store(str(tmp_path))
    source = open_store(store)
    first = f"{spec.run_id}/problems/smoke-1/round-000.parquet"
    for key in (f"{spec.run_id}/run.json", first):
        copy.put_once(key, source.get(key))
    print_status(str(tmp_path), spec.run_id)
    out = capsys.readouterr().out
    assert "0 problems complete, 1 in progress" in out
