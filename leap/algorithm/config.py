"""Run configuration: pydantic models that reject bad values before any model is loaded."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from leap.algorithm.routing import Router, Similarity
from leap.engines.base import SamplingParams
from leap.errors import LeapError, describe_validation_error, load_yaml_mapping

Method = Literal["leap", "leap-t", "independent", "single", "self-correct", "moa", "leap-s"]
Preset = Literal["paper", "release"]
PeerFormat = Literal["ours", "release"]
# What the `release` preset sets (the original release's scripts) for the fields a config
# leaves out; `paper` keeps the field defaults below (the paper's).
RELEASE_PRESET: dict[str, Any] = {
    "top_k": 2,
    "similarity": "indel",
    "sampling": {"top_k": 40, "min_p": 0.05},
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LeapConfig(_Strict):
    """How one problem is solved by its paths (docs/methods.md says more on each method).

    `method`: `leap` (communicate after every round), `single` (communicate only at the
    reasoning-token positions in `communicate_at`), `independent` (never), `leap-t` (for
    models fine-tuned to summarize: plain prompt, and a round also ends when the model
    opens `<summarize>` itself), `self-correct` (independent, with a prompt inviting the
    model to start over when it thinks it went wrong), `moa` (`layers` layers of
    `n_paths` agents, each layer reading the previous one's answers, one aggregator last),
    `leap-s` (`n_paths` groups of `group_size` paths communicate once at `first_tokens`,
    then one path per group goes on alone).

    `preset`: `paper` (the paper's settings as field defaults) or `release` (the original
    release's scripts: top-k 2, `indel` similarity, sampling top_k 40 and min_p 0.05), for
    the fields a config leaves out.
    """

    method: Method = "leap"
    preset: Preset = "paper"
    n_paths: int = Field(4, ge=1, description="N, parallel reasoning paths per problem")
    tokens_per_round: int = Field(4096, gt=0, description="T, reasoning tokens per round")
    top_k: int = Field(4, ge=0, description="peer summaries each path receives")
    router: Router = "dispersed"
    similarity: Similarity = "levenshtein"
    summary_max_tokens: int = Field(256, gt=0)
    max_tokens: int = Field(16384, gt=0, description="total reasoning budget per path")
    answer_max_tokens: int = Field(1024, gt=0, description="budget of the final answer")
    communicate_at: tuple[int, ...] = Field(
        (), description="reasoning-token positions at which `single` communicates"
    )
    trim_unfinished_paragraph: bool = Field(
        True, description="drop the trailing unfinished paragraph before a summary"
    )
    think_end: str = Field("</think>", min_length=1, description="end-of-thinking marker")
    peer_format: PeerFormat = Field(
        "ours",
        description="wording of the injected peer block: ours, or the release's <comment> "
        "tags (the format the released LeaP-T models were trained on)",
    )
    layers: int = Field(3, ge=2, description="moa: layers of agents, the last one aggregates")
    group_size: int = Field(4, ge=2, description="leap-s: M, paths per communicating group")
    first_tokens: int | None = Field(
        None, gt=0, description="leap-s: reasoning tokens before the one communication (T)"
    )
    sampling: SamplingParams = SamplingParams()
    seed: int = 0

    @model_validator(mode="before")
    @classmethod
    def _fill_preset(cls, data: Any) -> Any:
        """The `release` preset's values for the fields `data` leaves out."""
        if not isinstance(data, dict) or data.get("preset") != "release":
            return data
        filled = {k: v for k, v in RELEASE_PRESET.items() if k != "sampling"} | data
        sampling = data.get("sampling", {})
        if isinstance(sampling, SamplingParams):
            sampling = sampling.model_dump(exclude_unset=True)
        if isinstance(sampling, dict):
            filled["sampling"] = RELEASE_PRESET["sampling"] | sampling
        return filled

    @model_validator(mode="after")
    def _check_schedule(self) -> LeapConfig:
        if self.method == "single" and not self.communicate_at:
            raise ValueError("method 'single' needs communicate_at, e.g. [4096]")
        if any(p <= 0 for p in self.communicate_at):
            raise ValueError("communicate_at positions must be positive token counts")
        t = self.tokens_per_round
        off = [p for p in self.communicate_at if p % t]
        if off:
            raise ValueError(
                f"communicate_at position {off[0]} is not a multiple of tokens_per_round "
                f"({t}); rounds end every {t} tokens, so list multiples of it or choose a "
                "tokens_per_round that divides every position"
            )
        late = [p for p in self.communicate_at if p >= self.max_tokens]
        if late:
            raise ValueError(
                f"communicate_at position {late[0]} is not below max_tokens "
                f"({self.max_tokens}), so no path would communicate there"
            )
        if self.method == "leap-s" and self.communication_tokens >= self.max_tokens:
            name = "first_tokens" if self.first_tokens else "tokens_per_round"
            raise ValueError(
                f"{name} ({self.communication_tokens}) must be below max_tokens "
                f"({self.max_tokens}): leap-s communicates once, before the budget ends"
            )
        return self

    @property
    def starting_paths(self) -> int:
        """How many paths a problem starts with (leap-s: N groups of M)."""
        return self.n_paths * self.group_size if self.method == "leap-s" else self.n_paths

    @property
    def final_paths(self) -> int:
        """How many answers per problem are scored (moa: its one aggregator)."""
        return 1 if self.method == "moa" else self.n_paths

    @property
    def group_paths(self) -> int:
        """How many starting paths form one peer group."""
        return self.group_size if self.method == "leap-s" else self.n_paths

    @property
    def communication_tokens(self) -> int:
        """leap-s: reasoning tokens before its one communication."""
        return self.first_tokens or self.tokens_per_round

    def communicates_after(self, round_index: int) -> bool:
        """Whether a LeaP block follows round `round_index` (0-based)."""
        if self.method in ("leap", "leap-t"):
            return True
        if self.method == "single":
            return (round_index + 1) * self.tokens_per_round in self.communicate_at
        return False


def parse_config(data: dict[str, Any], source: str = "config") -> LeapConfig:
    """Validate a config dict; a bad value becomes one LeapError sentence naming the field."""
    try:
        return LeapConfig.model_validate(data)
    except ValidationError as exc:
        raise LeapError(describe_validation_error(exc, source)) from None


def load_config(path: str | Path) -> LeapConfig:
    """Read a LeapConfig from a YAML file."""
    return parse_config(load_yaml_mapping(path, "config file"), source=str(path))
