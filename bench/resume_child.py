"""The child process of the resume benchmark: resume a stored run up to its first new token.

    python bench/resume_child.py LEVEL MARKS STORE

LEVEL is `library` (rebuild the first unfinished problem's PeerGroup from its stored
rounds and run its next round) or `cli` (`leap resume RUN_ID --store STORE`). Hooks note
when things happen (model load, first generate call, first sampled token, and for the CLI
its checks and when Prefect's start-up begins) into the MARKS JSON file, which the parent
(`checkpoint_resume.py`) waits for before ending this process's whole group. Only the
standard library is imported before the first mark, so the marks start with the process.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RUN_ID = "resume-bench"  # the stored run's id, shared with the parent


class Marks:
    """Wall-clock times (time.time()) of named events, written to a JSON file on demand."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.times: dict[str, float] = {}
        self.values: dict[str, float] = {}  # durations and counts, kept apart from times

    def note(self, name: str, when: float | None = None) -> None:
        self.times.setdefault(name, time.time() if when is None else when)

    def save(self) -> None:
        temp = self.path.with_suffix(".tmp")
        temp.write_text(json.dumps({"times": self.times, "values": self.values}))
        temp.replace(self.path)


def _wrap(owner: Any, name: str, before: str | None, after: str | None, marks: Marks) -> None:
    """Replace `owner.name` by a wrapper that notes `before`/`after` on its first call."""
    original = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if before:
            marks.note(before)
        try:
            return original(*args, **kwargs)
        finally:
            if after:
                marks.note(after)

    setattr(owner, name, wrapper)


def install_hooks(marks: Marks, level: str) -> None:
    """Hook the engine (load, first generate, first sampled token) and, for the CLI, Prefect."""
    started = time.time()
    import leap.engines.transformers.engine as te

    marks.note("torch_imported")
    marks.values["torch_import_seconds"] = time.time() - started
    engine_class = te.TransformersEngine
    original_init = engine_class.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        marks.note("model_load_start")
        original_init(self, *args, **kwargs)
        marks.note("model_load_end")

    engine_class.__init__ = init  # type: ignore[method-assign]
    _wrap(engine_class, "generate", "first_generate", None, marks)
    sample = te.sample_next

    def first_token(*args: Any, **kwargs: Any) -> list[int]:
        tokens = sample(*args, **kwargs)
        if "first_token" not in marks.times:
            marks.note("first_token")
            marks.save()  # the parent ends this process as soon as it sees the file
        return tokens

    te.sample_next = first_token  # type: ignore[assignment]
    if level != "cli":
        return
    # Prefect is not imported here: `leap resume` imports it only after the head start.
    import flows.api as api
    import leap.console.run as run_command

    _wrap(run_command, "execute", "execute_enter", None, marks)
    _wrap(run_command, "prepare_run", None, "prepare_end", marks)
    _wrap(api, "start_ephemeral_api", "prefect_start", None, marks)


def child_main(argv: Sequence[str]) -> int:
    """Resume the stored run until the first token; argv is LEVEL MARKS STORE."""
    level, marks_path, store = argv[0], Path(argv[1]), argv[2]
    marks = Marks(marks_path)
    marks.note("child_start")
    sys.path.insert(0, str(ROOT))
    install_hooks(marks, level)
    marks.note("hooks_ready")
    if level == "cli":
        from leap.console.cli import main

        sys.argv = ["leap", "resume", RUN_ID, "--store", store]
        main()
        marks.note("command_returned")
        marks.save()
        return 0

    from leap.engines.transformers.engine import TransformersEngine
    from leap.methods.peers import PeerGroup
    from leap.runs import RunStore, load_run_problems

    marks.note("library_imported")
    engine = TransformersEngine()  # the default model and dtype, as a run would load it
    marks.note("library_start")
    run = RunStore.open(store, RUN_ID)
    spec = run.read_spec()
    problems = {p.id: p for p in load_run_problems(spec)}
    progress = run.progress()
    marks.note("progress_listed")
    marks.values["problems_listed"] = len(progress)
    pending = [p for p in progress if not p.final]
    first = problems[pending[0].problem_id]
    records = run.load_rounds(first.id)
    group = PeerGroup(
        engine, spec.leap, first, cache_prefix=f"{RUN_ID}/{first.id}", records=records
    )
    marks.note("group_rebuilt")
    marks.values["rounds_replayed"] = len(records)
    if group.done:
        group.finish()
    else:
        group.step()
    marks.note("command_returned")
    marks.save()
    return 0


if __name__ == "__main__":
    raise SystemExit(child_main(sys.argv[1:]))
