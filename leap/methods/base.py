"""The round contract every method keeps, and the path work methods share.

A method solves one problem as a round-based policy over token paths (DESIGN.md,
"Methods"):

- `step()` runs one round and returns its `RoundRecord`: one row per path that was active
  at the round's start, holding every segment the round appended to that path, in order
  (what the model wrote, what the system injected). Round 0 rows start with the path's
  prompt and, when the run gives one, its inherited beginning.
- `finish()`, once `done`, returns the `FinalRecord`: one `PathAnswer` per path that
  counts for scoring.
- A policy built with the stored records of rounds 0..r-1 is in exactly the state it was
  in after round r-1: `_apply` replays the records, and every random draw comes from a
  seed derived from where the request sits in the run. So `step()` continues an
  interrupted run token for token.

Checkpoints, resume, scoring, metrics and reports only see these records, so none of them
branches on the method. Adding a method is one module with a `RoundPolicy` subclass,
registered in `leap.methods.METHODS`, and the config it needs in `LeapConfig`.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from leap.algorithm import prompts
from leap.algorithm.config import LeapConfig
from leap.algorithm.records import (
    OWN_KINDS,
    FinalRecord,
    PathAnswer,
    PathFinish,
    PathRound,
    RoundRecord,
    Segment,
    SegmentKind,
)
from leap.algorithm.routing import route
from leap.algorithm.seeds import derive_seed
from leap.benchmarks.problem import Problem
from leap.engines.base import Engine, GenerationRequest, GenerationResult

Beginnings = Sequence[Sequence[int]]


@dataclass
class PathState:
    """One path while a problem is being solved: its whole token sequence and counters."""

    index: int
    tokens: list[int]
    finished: bool = False
    finish_reason: PathFinish | None = None
    reasoning_tokens: int = 0
    summary_tokens: int = 0
    injected_tokens: int = 0
    own: list[Segment] = field(default_factory=list)  # reasoning segments, for scoring
    budget: int | None = None  # its own reasoning budget, when not the config's max_tokens


class RoundPolicy(ABC):
    """Solves one problem round by round on `engine`; see the module for the contract.

    `beginnings`, when given, holds one token prefix per starting path: the path starts
    from its prompt followed by that prefix (a `beginning` segment, never credited to it).
    """

    def __init__(
        self,
        engine: Engine,
        config: LeapConfig,
        problem: Problem,
        *,
        cache_prefix: str | None = None,
        records: Sequence[RoundRecord] = (),
        beginnings: Beginnings | None = None,
    ) -> None:
        self.engine = engine
        self.config = config
        self.problem = problem
        self._cache_prefix = cache_prefix or problem.id
        count = self.starting_paths()
        if beginnings is not None and len(beginnings) != count:
            raise ValueError(f"{len(beginnings)} beginnings given for {count} starting paths")
        self._beginnings = [list(b) for b in beginnings] if beginnings is not None else None
        self.prompt_ids = engine.chat_prompt([{"role": "user", "content": self.task_text()}])
        self.paths = [
            PathState(i, list(self.prompt_ids) + self._beginning(i)) for i in range(count)
        ]
        self.next_round = 0
        for record in records:
            self._apply(record)

    # -- what a method decides ----------------------------------------------------------

    def starting_paths(self) -> int:
        """How many paths round 0 starts with."""
        return self.config.starting_paths

    def task_text(self) -> str:
        """The user message that poses the problem to every path."""
        return prompts.task_text(self.problem, mention_peers=False)

    def communicates_after(self, round_index: int) -> bool:
        """Whether a LeaP block follows round `round_index` (it decides the paragraph trim)."""
        return False

    @abstractmethod
    def step(self) -> RoundRecord:
        """Run the next round."""

    @abstractmethod
    def finish(self) -> FinalRecord:
        """The final answers, once `done`."""

    # -- the loop -----------------------------------------------------------------------

    @property
    def done(self) -> bool:
        return all(p.finished for p in self.paths)

    def run(
        self,
        on_round: Callable[[RoundRecord], None] | None = None,
        max_rounds: int | None = None,
    ) -> FinalRecord | None:
        """Run rounds until `done`, then `finish()`.

        Returns None when `max_rounds` stopped it early (the policy can be continued).
        """
        rounds = 0
        while not self.done:
            if max_rounds is not None and rounds >= max_rounds:
                return None
            record = self.step()
            if on_round is not None:
                on_round(record)
            rounds += 1
        return self.finish()

    # -- reasoning ----------------------------------------------------------------------

    def reason(self, paths: Sequence[PathState], r: int, rows: dict[int, PathRound]) -> set[int]:
        """Up to T more reasoning tokens for `paths` (one engine call); returns the paths
        that opened a summary themselves (LeaP-T)."""
        results = self.engine.generate([self._reason_request(p, r) for p in paths])
        opened: set[int] = set()
        for path, result in zip(paths, results, strict=True):
            row = rows[path.index]
            row.reason_seed = self.seed(path, r, "reason")
            self._count_prompt(row, result)
            if self._take_reasoning(path, result, row):
                opened.add(path.index)
        return opened

    def reasoning_stops(self) -> tuple[str, ...]:
        return (self.config.think_end,)

    def round_tokens(self, round_index: int) -> int:
        """How many reasoning tokens round `round_index` may add to a path (before the
        budget's cap)."""
        return self.config.tokens_per_round

    def _reason_request(self, path: PathState, r: int) -> GenerationRequest:
        budget = self.budget_of(path) - path.reasoning_tokens
        return GenerationRequest(
            prompt_ids=list(path.tokens),
            max_new_tokens=min(self.round_tokens(r), budget),
            seed=self.seed(path, r, "reason"),
            sampling=self.config.sampling,
            stop=self.reasoning_stops(),
            cache_key=self.cache_key(path),
        )

    def _take_reasoning(self, path: PathState, result: GenerationResult, row: PathRound) -> bool:
        """Append a round's reasoning; return True when the model opened a summary itself."""
        ids = list(result.token_ids)
        path.reasoning_tokens += len(ids)
        opened = result.stop_reason == prompts.SUMMARY_OPEN
        ended_by_limit = result.finish_reason == "length" and not opened
        if result.stop_reason == self.config.think_end:
            self.end(path, "think_end")
        elif result.finish_reason == "stop" and result.stop_reason in self.engine.eos_token_ids:
            self.end(path, "eos")
        elif path.reasoning_tokens >= self.budget_of(path):
            self.end(path, "budget")
        kept, dropped = ids, []
        if ended_by_limit and not path.finished and self.config.trim_unfinished_paragraph:
            if self.communicates_after(self.next_round) and self.config.top_k > 0:
                kept, dropped = self._split_unfinished_paragraph(ids)
        reasoning = self.segment("reasoning", kept)
        row.segments.append(reasoning)
        path.own.append(reasoning)
        path.tokens.extend(kept)
        if dropped:
            row.segments.append(self.segment("discarded", dropped))
        return opened and not path.finished

    def _split_unfinished_paragraph(self, ids: list[int]) -> tuple[list[int], list[int]]:
        """Cut after the last blank line of this round's text; keep all if there is none.

        The text is each token's own text (`Engine.token_texts`, looked up rather than
        decoded one call per token) joined, so a running length says where each ends.
        """
        pieces = self.engine.token_texts(ids)
        cut = "".join(pieces).rfind("\n\n")
        if cut <= 0:
            return ids, []
        target, length = cut + 2, 0
        for count, piece in enumerate(pieces, start=1):
            length += len(piece)
            if length >= target:
                return ids[:count], ids[count:]
        return ids, []

    # -- communication ------------------------------------------------------------------

    def communicate(
        self,
        paths: Sequence[PathState],
        r: int,
        rows: dict[int, PathRound],
        opened: set[int],
        group: int = 0,
    ) -> None:
        """A LeaP block among `paths` (peer group `group` of the problem): each summarizes,
        the router picks its peers among the others of `paths`, and their summaries are
        injected."""
        requests = []
        for path in paths:
            if path.index not in opened:
                self.inject(path, rows[path.index], "cue", prompts.SUMMARY_CUE)
            seed = self.seed(path, r, "summary")
            rows[path.index].summary_seed = seed
            requests.append(
                GenerationRequest(
                    prompt_ids=list(path.tokens),
                    max_new_tokens=self.config.summary_max_tokens,
                    seed=seed,
                    sampling=self.config.sampling,
                    stop=(prompts.SUMMARY_CLOSE,),
                    cache_key=self.cache_key(path),
                )
            )
        results = self.engine.generate(requests)
        summaries = []
        for path, result in zip(paths, results, strict=True):
            row = rows[path.index]
            self._count_prompt(row, result)
            ids = [t for t in result.token_ids if t not in self.engine.eos_token_ids]
            path.summary_tokens += len(result.token_ids)
            row.segments.append(self.segment("summary", ids))
            path.tokens.extend(ids)
            text = self.engine.decode(ids)
            if result.stop_reason != prompts.SUMMARY_CLOSE:
                self.inject(path, row, "cue", prompts.SUMMARY_CLOSE)
            summaries.append(text.replace(prompts.SUMMARY_CLOSE, "").strip())
        routes = route(
            summaries,
            [True] * len(paths),
            self.config.top_k,
            self.config.router,
            self.config.similarity,
            seed=derive_seed(self.config.seed, self.problem.id, -1 - group, r, "route"),
        )
        for path, chosen in zip(paths, routes, strict=True):
            row = rows[path.index]
            peers = list(chosen.peers) if chosen else []
            row.peers = [paths[i].index for i in peers]
            row.similarities = [float(s) for s in chosen.similarities] if chosen else []
            block = prompts.peer_block([summaries[i] for i in peers], self.config.peer_format)
            self.inject(path, row, "peers", block)

    # -- answers ------------------------------------------------------------------------

    def answers(self, paths: Sequence[PathState], r: int) -> list[PathAnswer]:
        """Final answers of `paths`: after the thinking marker, or forced for paths that
        ran out of budget; a path that ended its turn (EOS) has its answer in its text."""
        answers: dict[int, PathAnswer] = {}
        requests, waiting = [], []
        for path in paths:
            forced = path.finish_reason == "budget"
            cue = []
            if forced:
                text = prompts.forced_answer_cue(self.config.think_end)
                cue = [self.segment("cue", self.engine.encode(text))]
            answers[path.index] = PathAnswer(
                path=path.index,
                segments=cue,
                forced=forced,
                finish_reason=path.finish_reason or "budget",
                own_text="",
            )
            if path.finish_reason == "eos":
                continue
            seed = self.seed(path, r, "answer")
            answers[path.index].seed = seed
            requests.append(
                GenerationRequest(
                    prompt_ids=path.tokens + [t for s in cue for t in s.token_ids],
                    max_new_tokens=self.config.answer_max_tokens,
                    seed=seed,
                    sampling=self.config.sampling,
                    cache_key=self.cache_key(path),
                )
            )
            waiting.append(path)
        results = self.engine.generate(requests) if requests else []
        for path, result in zip(waiting, results, strict=True):
            answer = answers[path.index]
            answer.segments.append(Segment("answer", list(result.token_ids), result.text))
            answer.answer_tokens = len(result.token_ids)
            answer.prompt_computed = result.prompt_tokens_computed
            answer.prompt_reused = result.prompt_tokens_reused
        for path in paths:
            answers[path.index].own_text = own_text(path.own, answers[path.index])
        return [answers[p.index] for p in paths]

    # -- records ------------------------------------------------------------------------

    def new_rows(self, paths: Iterable[PathState]) -> dict[int, PathRound]:
        return {p.index: PathRound(path=p.index, segments=[]) for p in paths}

    def round_record(
        self,
        r: int,
        active: Sequence[PathState],
        rows: dict[int, PathRound],
        times: tuple[float, float, float],
    ) -> RoundRecord:
        """Round `r`'s record of `active` (with their counters as they are now); `times`
        are when the round started, its generation ended and its communication ended."""
        started, generated_at, summarized_at = times
        for path in active:
            row = rows[path.index]
            row.finished, row.finish_reason = path.finished, path.finish_reason
            row.reasoning_tokens = path.reasoning_tokens
            row.summary_tokens = path.summary_tokens
            row.injected_tokens = path.injected_tokens
            if r == 0:
                start = [self.segment("prompt", self.prompt_ids)]
                if self._beginning(path.index):
                    start.append(self.segment("beginning", self._beginning(path.index)))
                row.segments[:0] = start
        return RoundRecord(
            problem_id=self.problem.id,
            round=r,
            paths=[rows[p.index] for p in active],
            wall_seconds=summarized_at - started,
            generate_seconds=generated_at - started,
            summary_seconds=summarized_at - generated_at,
        )

    def _apply(self, record: RoundRecord) -> None:
        """Replay a stored round onto the paths (used to resume)."""
        if record.round != self.next_round:
            raise ValueError(
                f"round {record.round} of problem {self.problem.id} does not follow round "
                f"{self.next_round - 1}"
            )
        for row in record.paths:
            path = self.paths[row.path]
            for segment in row.segments:
                self._check_start(segment, row.path)
                if segment.kind in ("prompt", "beginning", "discarded"):
                    continue  # the path was built with its prompt and beginning
                path.tokens.extend(segment.token_ids)
                if segment.kind == "reasoning":
                    path.own.append(segment)
            path.finished, path.finish_reason = row.finished, row.finish_reason
            path.reasoning_tokens = row.reasoning_tokens
            path.summary_tokens = row.summary_tokens
            path.injected_tokens = row.injected_tokens
        self.next_round += 1

    def _check_start(self, segment: Segment, path: int) -> None:
        expected = {"prompt": self.prompt_ids, "beginning": self._beginning(path)}
        if segment.kind in expected and list(segment.token_ids) != expected[segment.kind]:
            raise ValueError(
                f"the stored {segment.kind} of problem {self.problem.id} differs from the "
                f"{segment.kind} this run builds, so the run cannot continue exactly"
            )

    # -- small helpers ------------------------------------------------------------------

    def _beginning(self, index: int) -> list[int]:
        return self._beginnings[index] if self._beginnings is not None else []

    def inject(self, path: PathState, row: PathRound, kind: SegmentKind, text: str) -> None:
        ids = self.engine.encode(text)
        row.segments.append(Segment(kind, ids, text))
        path.tokens.extend(ids)
        path.injected_tokens += len(ids)

    def budget_of(self, path: PathState) -> int:
        """The path's reasoning budget: its own, else the config's `max_tokens`."""
        return path.budget if path.budget is not None else self.config.max_tokens

    def end(self, path: PathState, reason: PathFinish) -> None:
        path.finished, path.finish_reason = True, reason

    def _count_prompt(self, row: PathRound, result: GenerationResult) -> None:
        row.prompt_computed += result.prompt_tokens_computed
        row.prompt_reused += result.prompt_tokens_reused

    def seed(self, path: PathState, r: int, phase: str) -> int:
        return derive_seed(self.config.seed, self.problem.id, path.index, r, phase)

    def cache_key(self, path: PathState) -> str:
        return f"{self._cache_prefix}/path-{path.index}"

    def segment(self, kind: SegmentKind, ids: Sequence[int]) -> Segment:
        return Segment(kind, list(ids), self.engine.decode(list(ids)))

    @staticmethod
    def clock() -> float:
        return time.perf_counter()


def own_text(reasoning: Sequence[Segment], answer: PathAnswer) -> str:
    """The text scoring reads: what the path wrote itself, never cues, peer blocks or an
    inherited beginning."""
    parts = [s.text for s in reasoning if s.kind in OWN_KINDS]
    for segment in answer.segments:
        if segment.kind == "answer":
            opener = prompts.FORCED_ANSWER_OPENER if answer.forced else ""
            parts.append(opener + segment.text)
    return "".join(parts)
