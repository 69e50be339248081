"""Math checks are bounded: the size guard, the killable worker processes, `timeout`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

import leap.scoring.equivalence as equivalence
import leap.scoring.mathverify as mathverify
from leap.benchmarks.problem import Problem
from leap.scoring.answers import score_text
from leap.scoring.equivalence import compare_math, math_equal
from leap.scoring.guard import too_big
from leap.scoring.worker import WorkerPool, outcome_of

ROOT = Path(__file__).resolve().parents[1]


def _workers_of(pid: int) -> list[psutil.Process]:
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    return [p for p in children if "leap.scoring.worker" in " ".join(_cmdline(p))]


def _cmdline(process: psutil.Process) -> list[str]:
    try:
        return process.cmdline()
    except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
        return []


@pytest.mark.parametrize(
    "answer",
    [
        "9^{9^{9}}",
        "9^{9^9}",
        "9**9**9",
        "10^{10^{10}}",
        r"\left(3^{3^{3^{3}}}\right)",
        "2^{2^{20}}",
        "x^{10^{9}}",
        "e^{10^{10}}",
        "(2^{100})!",
        "100000!",
        r"\frac{1}{7^{7^{7}}}",
    ],
)
def test_the_guard_refuses_answers_too_big_to_evaluate(answer: str) -> None:
    assert too_big(answer) is not None


@pytest.mark.parametrize(
    "answer",
    [
        "204",
        r"\frac{1}{2}",
        "2^{1000}",
        "2^{2024}",
        "2^{2^{10}}",
        "3^{3^{3}}",
        "10^{-100}",
        "2024!",
        r"1.5 \times 10^{3}",
        r"e^{i\pi}",
        "(x+1)^{1000}",  # slow in sympy, but not huge: the worker's timeout handles it
        r"\sqrt{2}^{10}",
        "1^{10^{100}}",
        "(2, 2), (6, 2)",
        # Text the guard cannot read is left to the worker, never an error here.
        "((((",
        "}}}2^",
        r"\boxed{2",
        "",
    ],
)
def test_the_guard_lets_ordinary_answers_through(answer: str) -> None:
    assert too_big(answer) is None


def test_a_tower_answer_is_a_timeout_at_once() -> None:
    started = time.monotonic()
    assert compare_math("204", "9^{9^{9}}", timeout_s=5) == "timeout"
    assert math_equal("204", "9^{9^{9}}", timeout_s=5) is False
    assert time.monotonic() - started < 1


def test_scoring_paths_with_a_tower_finishes_with_that_path_marked_timeout() -> None:
    problem = Problem(id="p", question="How many?", answer="204")
    paths = [
        r"Counting the squares gives \boxed{204}.",
        r"The count explodes: \boxed{9^{9^{9}}}",
        r"I get \boxed{205}.",
        "I ran out of time.",
        r"As a fraction, \boxed{\frac{408}{2}}.",
    ]
    started = time.monotonic()
    verdicts = [score_text(text, problem).verdict for text in paths]
    assert verdicts == ["correct", "timeout", "wrong", "unanswered", "correct"]
    assert time.monotonic() - started < 60  # worker start-up included; no 5 s timeout hit


def test_a_slow_check_is_killed_at_its_timeout_and_the_next_check_works(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # With the guard switched off, sympy really starts on 9^(9^9): only the kill stops it.
    monkeypatch.setattr(equivalence, "too_big", lambda answer: None)
    others = set(_workers_of(os.getpid()))
    pool = WorkerPool(1)
    try:
        assert pool.check(r"\frac{1}{2}", "0.5", timeout_s=60) == "equal"  # started, warm
        (worker,) = set(_workers_of(os.getpid())) - others
        started = time.monotonic()
        assert pool.check("204", "9^{9^{9}}", timeout_s=1.0) == "timeout"
        assert time.monotonic() - started < 5
        assert not worker.is_running()
        assert pool.check("x+1", "1+x", timeout_s=60) == "equal"  # a fresh worker
    finally:
        pool.close()


def test_the_shared_pool_reports_a_slow_check_as_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(equivalence, "too_big", lambda answer: None)
    equivalence._bounded_check.cache_clear()
    started = time.monotonic()
    # (x+1)^{1000} passes the guard anyway; sympy needs many seconds to expand it.
    assert compare_math("205", "(x+1)^{1000}", timeout_s=1.0) == "timeout"
    assert compare_math("206", "10^{10^{10}}", timeout_s=1.0) == "timeout"
    assert time.monotonic() - started < 60
    assert math_equal(r"\frac{3}{4}", "0.75") is True


def test_errors_in_math_verify_count_as_different_and_memory_as_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(gold: str, predicted: str) -> bool:
        raise RuntimeError("sympy exploded")

    def greedy(gold: str, predicted: str) -> bool:
        raise MemoryError

    monkeypatch.setattr(mathverify, "check", broken)
    assert outcome_of("1", "2") == "different"
    monkeypatch.setattr(mathverify, "check", greedy)
    assert outcome_of("1", "2") == "timeout"


def test_closing_a_pool_leaves_no_worker() -> None:
    others = set(_workers_of(os.getpid()))
    pool = WorkerPool(2)
    assert pool.check("1/2", "0.5", timeout_s=60) == "equal"
    mine = set(_workers_of(os.getpid())) - others
    assert len(mine) == 1  # workers start only when needed
    pool.close()
    assert not any(worker.is_running() for worker in mine)


@pytest.mark.slow  # starts its own Python process and kills it
def test_workers_exit_when_their_parent_is_killed() -> None:
    script = (
        "from leap.scoring.equivalence import compare_math\n"
        "import sys, time\n"
        "print(compare_math('1/2', '0.5'), flush=True)\n"
        "time.sleep(600)\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert parent.stdout is not None
        assert parent.stdout.readline().strip() == "equal"
        workers = _workers_of(parent.pid)
        assert workers
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        gone, alive = psutil.wait_procs(workers, timeout=10)
        assert not alive
    finally:
        if parent.poll() is None:
            parent.kill()
