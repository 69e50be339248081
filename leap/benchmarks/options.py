"""How a caller asks for a benchmark: column mapping, validation policy, seed, limit."""

from __future__ import annotations

from dataclasses import dataclass

from leap.benchmarks.problem import ProblemKind
from leap.errors import LeapError


@dataclass(frozen=True)
class LoadOptions:
    """Options for `load_benchmark`.

    The `*_field` names override the declared column names (for `file:` benchmarks they
    are the whole mapping). `kind` applies to `file:` benchmarks only; `choices_field`
    alone implies "choice". `seed` drives the per-problem option shuffle and the smoke
    generator. `local_path` is a local copy of a public benchmark (a file, or a folder
    holding the reference file name). `shuffle_choices` overrides the benchmark's default
    (on for gpqa-diamond, off for `file:`). `limit` keeps the first N problems.
    """

    question_field: str | None = None
    answer_field: str | None = None
    id_field: str | None = None
    choices_field: str | None = None
    kind: ProblemKind | None = None
    skip_invalid: bool = False
    seed: int = 0
    local_path: str | None = None
    limit: int | None = None
    shuffle_choices: bool | None = None

    def __post_init__(self) -> None:
        if self.kind not in (None, "math", "choice"):
            raise LeapError(f"benchmark kind {self.kind!r} is unknown; use 'math' or 'choice'.")
        if self.limit is not None and self.limit < 1:
            raise LeapError(f"limit must be a positive number of problems, not {self.limit}.")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise LeapError(f"seed must be an integer, not {self.seed!r}.")
