"""A run: its spec, and its objects in the store (DESIGN.md, "Checkpoints").

```
{run_id}/run.json                                  spec, spec hash, versions; written once
{run_id}/problems/{problem_id}/round-{r:03d}.parquet   one row per path, written once
{run_id}/problems/{problem_id}/final.parquet       final answers per path, written once
{run_id}/results/{scores.parquet, summary.json, report.html}   derived, rewritten freely
```
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from leap.algorithm.records import FinalRecord, RoundRecord
from leap.errors import LeapError, ObjectExistsError
from leap.runs.parquet import (
    CorruptObject,
    final_from_parquet,
    final_to_parquet,
    round_from_parquet,
    round_to_parquet,
)
from leap.runs.spec import RunSpec, changed_fields, parse_spec
from leap.store import ObjectStore, open_store
from leap.versions import RESULT_LIBRARIES, library_versions

log = logging.getLogger("leap")
_ROUND_KEY = re.compile(r"round-(\d{3,})\.parquet$")


@dataclass(frozen=True)
class ProblemProgress:
    problem_id: str
    rounds: int
    paths_finished: int
    paths: int
    final: bool


class RunStore:
    """The objects of one run in an object store."""

    def __init__(self, store: ObjectStore, run_id: str) -> None:
        self.store = store
        self.run_id = run_id

    @classmethod
    def open(cls, url: str, run_id: str) -> RunStore:
        return cls(open_store(url), run_id)

    # -- keys ---------------------------------------------------------------------------

    def _key(self, *parts: str) -> str:
        return "/".join((self.run_id, *parts))

    def round_key(self, problem_id: str, round_index: int) -> str:
        return self._key("problems", problem_id, f"round-{round_index:03d}.parquet")

    def final_key(self, problem_id: str) -> str:
        return self._key("problems", problem_id, "final.parquet")

    def result_key(self, name: str) -> str:
        return self._key("results", name)

    # -- the spec -----------------------------------------------------------------------

    def check_spec(self, spec: RunSpec) -> None:
        """Refuse `spec` when this run id already holds a different one; writes nothing."""
        if self.store.exists(self._key("run.json")):
            self._refuse_other_spec(spec)

    def create_or_check(self, spec: RunSpec) -> None:
        """Write run.json, or refuse when the run id already holds a different spec."""
        document = {
            "run_id": self.run_id,
            "spec": spec.model_dump(mode="json", exclude={"run_id"}),
            "spec_hash": spec.content_hash(),
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "versions": library_versions((*RESULT_LIBRARIES, "prefect")),
        }
        try:
            self.store.put_once(self._key("run.json"), json.dumps(document, indent=2).encode())
        except ObjectExistsError:
            self._refuse_other_spec(spec)

    def _refuse_other_spec(self, spec: RunSpec) -> None:
        stored = self.read_document()
        if stored.get("spec_hash") != spec.content_hash():
            theirs = parse_spec(stored.get("spec", {}), source=f"run {self.run_id}")
            changed = changed_fields(theirs, spec)
            raise LeapError(
                f"run {self.run_id} already exists with a different spec ({changed}): "
                f"resume it with `leap resume {self.run_id}` or choose a new --run-id."
            )

    def read_document(self) -> dict[str, Any]:
        key = self._key("run.json")
        if not self.store.exists(key):
            # A missing bucket also reads as a missing object; listing names the bucket.
            self.store.list(f"{self.run_id}/")
            raise LeapError(
                f"no run {self.run_id!r} in {self.store.url}: check the run id and --store."
            )
        try:
            return json.loads(self.store.get(key))
        except ValueError:
            raise LeapError(
                f"{self.store.url}/{key} is not valid JSON: the run is damaged."
            ) from None

    def read_spec(self) -> RunSpec:
        stored = self.read_document()
        spec = parse_spec({**stored.get("spec", {}), "run_id": self.run_id}, f"run {self.run_id}")
        return spec

    # -- rounds -------------------------------------------------------------------------

    def load_rounds(self, problem_id: str, set_aside: bool = True) -> list[RoundRecord]:
        """The problem's complete rounds, in order, up to the first one that cannot be used.

        A round that fails to parse is reported by name and (with `set_aside`) moved aside
        together with every later round (they were computed from it), so it is recomputed.
        Readers that must not change the store (`leap status`) pass `set_aside=False`.
        """
        keys = self.store.list(self._key("problems", problem_id) + "/")
        numbered = sorted((int(m.group(1)), key) for key in keys if (m := _ROUND_KEY.search(key)))
        records: list[RoundRecord] = []
        for position, (index, key) in enumerate(numbered):
            problem = None
            if index != position:
                problem = f"round {position} is missing before it"
            else:
                try:
                    records.append(round_from_parquet(self.store.get(key), problem_id, index))
                    continue
                except CorruptObject as exc:
                    problem = str(exc)
            if set_aside:
                self._set_aside([k for _, k in numbered[position:]], problem)
            break
        return records

    def _set_aside(self, keys: list[str], reason: str) -> None:
        first = keys[0]
        log.warning(
            "%s/%s cannot be used (%s); it and %d later round(s) are set aside and recomputed",
            self.store.url,
            first,
            reason,
            len(keys) - 1,
        )
        for key in keys:
            self.store.move_aside(key, reason if key == first else f"follows {first}")

    def save_round(self, record: RoundRecord) -> None:
        """Store a completed round; ObjectExistsError if another writer stored it first."""
        data = round_to_parquet(self.run_id, record)
        self.store.put_once(self.round_key(record.problem_id, record.round), data)

    # -- finals -------------------------------------------------------------------------

    def load_final(self, problem_id: str) -> FinalRecord | None:
        key = self.final_key(problem_id)
        if not self.store.exists(key):
            return None
        try:
            return final_from_parquet(self.store.get(key), problem_id)
        except CorruptObject as exc:
            self._set_aside([key], str(exc))
            return None

    def save_final(self, record: FinalRecord) -> None:
        self.store.put_once(
            self.final_key(record.problem_id), final_to_parquet(self.run_id, record)
        )

    # -- results and status -------------------------------------------------------------

    def write_result(self, name: str, data: bytes) -> str:
        key = self.result_key(name)
        self.store.put(key, data)
        return f"{self.store.url.rstrip('/')}/{key}"

    def link(self, relative_path: str) -> str:
        """Where a reviewer opens one of the run's objects, e.g. "results/report.html".

        For an S3 store a presigned https URL (valid for a week, see `ObjectStore.link`),
        for a local store the file's `file://` URI; no store credentials are needed.
        """
        return self.store.link(self._key(relative_path))

    def read_result(self, name: str) -> bytes | None:
        key = self.result_key(name)
        return self.store.get(key) if self.store.exists(key) else None

    def progress(self) -> list[ProblemProgress]:
        """Per-problem progress, read from the store alone."""
        keys = self.store.list(self._key("problems") + "/")
        problems: dict[str, list[str]] = {}
        for key in keys:
            parts = key.split("/")
            if len(parts) >= 4:
                problems.setdefault(parts[2], []).append(parts[3])
        out = []
        for problem_id in sorted(problems, key=_natural):
            records = self.load_rounds(problem_id, set_aside=False)
            finished = {row.path for r in records for row in r.paths if row.finished}
            paths = len(records[0].paths) if records else 0
            out.append(
                ProblemProgress(
                    problem_id=problem_id,
                    rounds=len(records),
                    paths_finished=len(finished),
                    paths=paths,
                    final="final.parquet" in problems[problem_id],
                )
            )
        return out


def _natural(text: str) -> list[Any]:
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", text)]
