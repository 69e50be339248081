"""What scoring a run produces: one `ScoreRow` per path, one `RunSummary` per run.

Score rows are the rows of `results/scores.parquet` (their fields are its columns); the
summary is `results/summary.json` (its fields are the JSON keys). Keys are only ever added,
with a default that marks them unknown, so every stored summary stays readable. The one
rename: summaries written before the elapsed time existed call the summed solve time
`wall_seconds`; it reads as `solve_seconds`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator

from leap.scoring.metrics import TokenTotals

# TokenTotals field -> ScoreRow field (the column names of scores.parquet).
TOKEN_COLUMNS: dict[str, str] = {
    "reasoning": "reasoning_tokens",
    "summary": "summary_tokens",
    "injected": "injected_tokens",
    "answer": "answer_tokens",
    "prompt_computed": "prompt_computed",
    "prompt_reused": "prompt_reused",
    "inherited": "inherited_tokens",
}


@dataclass(frozen=True, slots=True)
class ScoreRow:
    """One path of one problem: its answer, whether it is right, and what it cost.

    `sequence_sha256` is the SHA-256 of the path's whole token sequence (4-byte
    little-endian ids), so two runs can be checked for identical outputs.
    """

    problem_id: str
    path: int
    answer: str | None
    gold: str
    correct: bool
    finish_reason: str
    forced_answer: bool
    rounds: int
    reasoning_tokens: int
    summary_tokens: int
    injected_tokens: int
    answer_tokens: int
    prompt_computed: int
    prompt_reused: int
    sequence_tokens: int
    sequence_sha256: str
    # How the answer was found (boxed, answer-line, phrase, none, timeout) and what that
    # makes the path: correct, wrong, unanswered (no answer found) or timeout.
    answer_method: str = "boxed"
    verdict: str = "wrong"
    # Tokens of a beginning inherited from another run (never credited to the path).
    inherited_tokens: int = 0

    @staticmethod
    def token_fields(tokens: TokenTotals) -> dict[str, int]:
        """The token fields of a row whose path has `tokens`, as keyword arguments."""
        return {column: getattr(tokens, name) for name, column in TOKEN_COLUMNS.items()}

    @property
    def tokens(self) -> TokenTotals:
        return TokenTotals(**{name: getattr(self, col) for name, col in TOKEN_COLUMNS.items()})


# Keys absent from the JSON while their value is None: metrics before any problem is
# scored, and facts that summaries written by earlier versions did not record.
_ABSENT_WHEN_NONE = (
    "pass_at_1",
    "pass_at_k",
    "cons_at_n",
    "answered_rate",
    "elapsed_seconds",
    "wrong_problems",
    "unanswered_problems",
    "dtype",
    "preset",
    "spec_hash",
    "versions",
    "origin",
    "influence",
)


class RunOrigin(BaseModel):
    """The flow run that scored a run, as the dashboard shows it (plain strings: the
    library never imports Prefect). `dashboard_url`, when known, is an http(s) URL."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    flow_run_id: str
    flow_run_name: str | None = None
    dashboard_url: str | None = None

    @field_validator("dashboard_url")
    @classmethod
    def _http_only(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"the dashboard URL {value!r} is not an http(s) URL")
        return value


class RunSummary(BaseModel):
    """The headline of a run: what ran, its metrics, its token totals and its times.

    `pass_at_k` maps k (as text, "1".."N") to the mean Pass@k. The three metrics are None
    when no problem has final answers. `config` is the run's `LeapConfig` as JSON.

    Problems fall in four groups: `failed_problems` have no final answers (their solve
    failed or never ran: "errored"), `wrong_problems` have answers but a wrong majority,
    `unanswered_problems` have final answers none of which holds an extractable answer,
    and the rest are correct. `solve_seconds` adds up each problem's own compute time
    (problems solved at once overlap); `elapsed_seconds` is the wall-clock time from the
    first round's start to the last final answer's end (pauses before a resume included).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    run_id: str
    benchmark: str
    method: str
    model: str
    engine: str
    config: dict[str, Any]
    n_problems: int
    n_scored: int
    n_paths: int
    failed_problems: list[str]
    solve_seconds: float = Field(validation_alias=AliasChoices("solve_seconds", "wall_seconds"))
    created_at: str
    tokens: TokenTotals
    pass_at_1: float | None = None
    pass_at_k: dict[str, float] | None = None
    cons_at_n: float | None = None
    # Paths by verdict (correct, wrong, unanswered, timeout), the share of scored paths
    # that gave an answer, and paths that reached the reasoning budget (finish "budget").
    # Summaries written before these existed read as empty.
    verdicts: dict[str, int] = {}
    answered_rate: float | None = None
    truncated_paths: int = 0
    # Unknown (None) in summaries written before they existed.
    elapsed_seconds: float | None = None
    wrong_problems: list[str] | None = None
    unanswered_problems: list[str] | None = None
    dtype: str | None = None
    preset: str | None = None  # the LeaP settings' preset: paper or release
    spec_hash: str | None = None
    versions: dict[str, str] | None = None
    origin: RunOrigin | None = None
    # Peer blocks by what the path did after them: kept, adopted, moved, none (see
    # leap.scoring.influence); None when no path was shown a peer summary.
    influence: dict[str, int] | None = None

    @property
    def errored_problems(self) -> list[str]:
        """Problems without final answers (the JSON key is `failed_problems`)."""
        return self.failed_problems

    def to_json(self) -> str:
        data = self.model_dump(mode="json")
        for key in _ABSENT_WHEN_NONE:
            if data[key] is None:
                del data[key]
        if not data["tokens"]["inherited"]:
            del data["tokens"]["inherited"]  # runs without beginnings: as before they existed
        return json.dumps(data, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, data: str | bytes) -> RunSummary:
        """Parse a stored summary; pydantic's ValidationError if it is not one."""
        return cls.model_validate_json(data)
