"""A peer group: N reasoning paths of one problem that learn from each other (LeaP).

Round r: every active path reasons for up to T more tokens (one engine call for all of
them). Then, when the schedule says so, each still-active path summarizes its progress,
a router picks for it the top-k summaries of its active peers, and those are injected
into its context. Finished paths leave the pool. When no path is active, paths that ended
their thinking write a final answer, and paths that ran out of budget are made to commit
to one. Each completed round is handed to `on_round` before the next one starts, and a
group rebuilt from those records continues exactly where it stopped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
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
)
from leap.algorithm.routing import route
from leap.algorithm.seeds import derive_seed
from leap.benchmarks.problem import Problem
from leap.engines.base import Engine, GenerationRequest, GenerationResult


@dataclass
class _Path:
    index: int
    tokens: list[int]
    finished: bool = False
    finish_reason: PathFinish | None = None
    reasoning_tokens: int = 0
    summary_tokens: int = 0
    injected_tokens: int = 0
    own: list[Segment] = field(default_factory=list)  # reasoning segments, for scoring


class PeerGroup:
    """Solves one problem with `config.n_paths` paths on `engine`."""

    def __init__(
        self,
        engine: Engine,
        config: LeapConfig,
        problem: Problem,
        *,
        cache_prefix: str | None = None,
        records: Sequence[RoundRecord] = (),
    ) -> None:
        self.engine = engine
        self.config = config
        self.problem = problem
        self._cache_prefix = cache_prefix or problem.id
        self._think_end_ids = engine.encode(config.think_end)
        mention_peers = config.method in ("leap", "single")
        messages = [
            {"role": "user", "content": prompts.task_text(problem, mention_peers=mention_peers)}
        ]
        self.prompt_ids = engine.chat_prompt(messages)
        self.paths = [_Path(i, list(self.prompt_ids)) for i in range(config.n_paths)]
        self.next_round = 0
        for record in records:
            self._apply(record)

    # -- public -------------------------------------------------------------------------

    @property
    def done(self) -> bool:
        return all(p.finished for p in self.paths)

    def run(
        self,
        on_round: Callable[[RoundRecord], None] | None = None,
        max_rounds: int | None = None,
    ) -> FinalRecord | None:
        """Run rounds until every path is finished, then the final answers.

        Returns None when `max_rounds` stopped it early (the group can be continued).
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

    def step(self) -> RoundRecord:
        """Run one round: generate, then (if scheduled) summarize, route and inject."""
        r = self.next_round
        started = time.perf_counter()
        active = [p for p in self.paths if not p.finished]
        rows = {p.index: PathRound(path=p.index, segments=[]) for p in active}
        results = self.engine.generate([self._reason_request(p, r) for p in active])
        generated_at = time.perf_counter()
        opened_summary: set[int] = set()
        for path, result in zip(active, results, strict=True):
            row = rows[path.index]
            row.reason_seed = self._seed(path, r, "reason")
            self._count_prompt(row, result)
            if self._take_reasoning(path, result, row):
                opened_summary.add(path.index)
        still = [p for p in active if not p.finished]
        if still and self.config.top_k > 0 and self.config.communicates_after(r):
            self._communicate(still, r, rows, opened_summary)
        summarized_at = time.perf_counter()
        for path in active:
            row = rows[path.index]
            row.finished, row.finish_reason = path.finished, path.finish_reason
            row.reasoning_tokens = path.reasoning_tokens
            row.summary_tokens = path.summary_tokens
            row.injected_tokens = path.injected_tokens
        record = RoundRecord(
            problem_id=self.problem.id,
            round=r,
            paths=[rows[p.index] for p in active],
            wall_seconds=summarized_at - started,
            generate_seconds=generated_at - started,
            summary_seconds=summarized_at - generated_at,
        )
        if r == 0:
            for row in record.paths:
                row.segments.insert(0, self._segment("prompt", self.prompt_ids))
        self.next_round += 1
        return record

    def finish(self) -> FinalRecord:
        """Final answers: after the thinking marker, or forced for paths out of budget."""
        started = time.perf_counter()
        answers: dict[int, PathAnswer] = {}
        requests, waiting = [], []
        for path in self.paths:
            forced = path.finish_reason == "budget"
            cue = []
            if forced:
                cue = [
                    self._segment(
                        "cue", self.engine.encode(prompts.forced_answer_cue(self.config.think_end))
                    )
                ]
            answers[path.index] = PathAnswer(
                path=path.index,
                segments=cue,
                forced=forced,
                finish_reason=path.finish_reason or "budget",
                own_text="",
            )
            if path.finish_reason == "eos":
                continue  # the path ended its turn; its answer is in its reasoning
            seed = self._seed(path, self.next_round, "answer")
            answers[path.index].seed = seed
            prompt = path.tokens + [t for s in cue for t in s.token_ids]
            requests.append(
                GenerationRequest(
                    prompt_ids=prompt,
                    max_new_tokens=self.config.answer_max_tokens,
                    seed=seed,
                    sampling=self.config.sampling,
                    cache_key=self._cache_key(path),
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
        for path in self.paths:
            answers[path.index].own_text = own_text(path.own, answers[path.index])
        return FinalRecord(
            problem_id=self.problem.id,
            answers=[answers[p.index] for p in self.paths],
            wall_seconds=time.perf_counter() - started,
        )

    # -- one round, in parts ------------------------------------------------------------

    def _reason_request(self, path: _Path, r: int) -> GenerationRequest:
        budget = self.config.max_tokens - path.reasoning_tokens
        stop = [self.config.think_end]
        if self.config.method == "leap-t":
            stop.append(prompts.SUMMARY_OPEN)
        return GenerationRequest(
            prompt_ids=list(path.tokens),
            max_new_tokens=min(self.config.tokens_per_round, budget),
            seed=self._seed(path, r, "reason"),
            sampling=self.config.sampling,
            stop=tuple(stop),
            cache_key=self._cache_key(path),
        )

    def _take_reasoning(self, path: _Path, result: GenerationResult, row: PathRound) -> bool:
        """Append a round's reasoning; return True when the model opened a summary itself."""
        ids = list(result.token_ids)
        path.reasoning_tokens += len(ids)
        opened = result.stop_reason == prompts.SUMMARY_OPEN
        ended_by_limit = result.finish_reason == "length" and not opened
        if result.stop_reason == self.config.think_end:
            self._finish(path, "think_end")
        elif result.finish_reason == "stop" and result.stop_reason in self.engine.eos_token_ids:
            self._finish(path, "eos")
        elif path.reasoning_tokens >= self.config.max_tokens:
            self._finish(path, "budget")
        kept, dropped = ids, []
        if ended_by_limit and not path.finished and self.config.trim_unfinished_paragraph:
            if self.config.communicates_after(self.next_round) and self.config.top_k > 0:
                kept, dropped = self._split_unfinished_paragraph(ids)
        reasoning = self._segment("reasoning", kept)
        row.segments.append(reasoning)
        path.own.append(reasoning)
        path.tokens.extend(kept)
        if dropped:
            row.segments.append(self._segment("discarded", dropped))
        return opened and not path.finished

    def _communicate(
        self, still: list[_Path], r: int, rows: dict[int, PathRound], opened: set[int]
    ) -> None:
        requests = []
        for path in still:
            if path.index not in opened:
                self._inject(path, rows[path.index], "cue", prompts.SUMMARY_CUE)
            seed = self._seed(path, r, "summary")
            rows[path.index].summary_seed = seed
            requests.append(
                GenerationRequest(
                    prompt_ids=list(path.tokens),
                    max_new_tokens=self.config.summary_max_tokens,
                    seed=seed,
                    sampling=self.config.sampling,
                    stop=(prompts.SUMMARY_CLOSE,),
                    cache_key=self._cache_key(path),
                )
            )
        results = self.engine.generate(requests)
        summaries = []
        for path, result in zip(still, results, strict=True):
            row = rows[path.index]
            self._count_prompt(row, result)
            ids = [t for t in result.token_ids if t not in self.engine.eos_token_ids]
            path.summary_tokens += len(result.token_ids)
            row.segments.append(self._segment("summary", ids))
            path.tokens.extend(ids)
            text = self.engine.decode(ids)
            if result.stop_reason != prompts.SUMMARY_CLOSE:
                self._inject(path, row, "cue", prompts.SUMMARY_CLOSE)
            summaries.append(text.replace(prompts.SUMMARY_CLOSE, "").strip())
        routes = route(
            summaries,
            [True] * len(still),
            self.config.top_k,
            self.config.router,
            self.config.similarity,
            seed=derive_seed(self.config.seed, self.problem.id, -1, r, "route"),
        )
        for path, chosen in zip(still, routes, strict=True):
            row = rows[path.index]
            peers = list(chosen.peers) if chosen else []
            row.peers = [still[i].index for i in peers]
            row.similarities = [float(s) for s in chosen.similarities] if chosen else []
            block = prompts.peer_block([summaries[i] for i in peers])
            self._inject(path, row, "peers", block)

    # -- helpers ------------------------------------------------------------------------

    def _inject(self, path: _Path, row: PathRound, kind: str, text: str) -> None:
        ids = self.engine.encode(text)
        row.segments.append(Segment(kind, ids, text))  # type: ignore[arg-type]
        path.tokens.extend(ids)
        path.injected_tokens += len(ids)

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

    def _finish(self, path: _Path, reason: PathFinish) -> None:
        path.finished, path.finish_reason = True, reason

    def _count_prompt(self, row: PathRound, result: GenerationResult) -> None:
        row.prompt_computed += result.prompt_tokens_computed
        row.prompt_reused += result.prompt_tokens_reused

    def _seed(self, path: _Path, r: int, phase: str) -> int:
        return derive_seed(self.config.seed, self.problem.id, path.index, r, phase)

    def _cache_key(self, path: _Path) -> str:
        return f"{self._cache_prefix}/path-{path.index}"

    def _segment(self, kind: str, ids: list[int]) -> Segment:
        return Segment(kind, list(ids), self.engine.decode(ids))  # type: ignore[arg-type]

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
                if segment.kind == "prompt" and list(segment.token_ids) != self.prompt_ids:
                    raise ValueError(
                        f"the stored prompt of problem {self.problem.id} differs from the "
                        "prompt this version builds, so the run cannot continue exactly"
                    )
                if segment.kind in ("prompt", "discarded"):
                    continue
                path.tokens.extend(segment.token_ids)
                if segment.kind == "reasoning":
                    path.own.append(segment)
            path.finished, path.finish_reason = row.finished, row.finish_reason
            path.reasoning_tokens = row.reasoning_tokens
            path.summary_tokens = row.summary_tokens
            path.injected_tokens = row.injected_tokens
        self.next_round += 1


def own_text(reasoning: Sequence[Segment], answer: PathAnswer) -> str:
    """The text scoring reads: what the path wrote itself, never cues or peer blocks."""
    parts = [s.text for s in reasoning if s.kind in OWN_KINDS]
    for segment in answer.segments:
        if segment.kind == "answer":
            opener = prompts.FORCED_ANSWER_OPENER if answer.forced else ""
            parts.append(opener + segment.text)
    return "".join(parts)
