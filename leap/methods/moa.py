"""Mixture of agents (`moa`): layers of agents, each layer reading the previous one's answers.

`config.layers` = L layers (L >= 2) of `config.n_paths` = A agents, the last layer being
one aggregator:

- layer 1 answers the bare problem: A independent samples;
- every later layer gives each of its agents the problem followed by the final answers
  of the layer before, numbered "Solver 1", "Solver 2", ... (`prompts.moa_task_text`),
  asking it to judge them critically and give its own answer;
- the last layer is one agent, the aggregator (`prompts.moa_aggregator_text`), whose
  answer is the method's only answer.

What a layer shows of an agent is its final answer: the text it wrote after the thinking
marker, with the box opener put back in front of a forced answer (an agent out of budget
is made to commit to one, as in `RoundPolicy.answers`). An agent that ended its turn with
EOS wrote no separate answer; the next layer sees the last `answer_max_tokens` tokens of
its reasoning (led by "..." when that cuts it), which is where such a path states its
answer.

Mapping to the store (DESIGN.md, "Methods"): layer l is round l. Agent a of layer l is path
l*A + a, so the aggregator is path (L-1)*A and path indices never repeat across layers;
the paths of a layer exist only from its round on. Inside a round every agent of the layer
reasons in one request of up to `max_tokens` (one `engine.generate` call for the layer),
then writes its answer. Its row holds, in order: `prompt` (its own prompt, which for a
later layer includes the previous answers; for layer 1 followed by its `beginning` when
the run gives one), `reasoning`, then the answer's segments (`cue` for a forced answer,
`answer`). Row counters: `reasoning_tokens` as in every method, `injected_tokens` 0 (the
previous answers are part of the prompt, not injected), and `prompt_computed` /
`prompt_reused` cover both of the round's requests, reasoning and answer, so the
`PathAnswer`s carry 0 there and no prompt token is counted twice.

`finish()` generates nothing: it packages the aggregator's answer stored in the last
round, so a run stopped after its last round resumes to the same `FinalRecord`. A policy
built with the records of layers 0..l-1 rebuilds every layer's paths and answers from
them (checking each stored prompt against the one this code builds) and goes on with
layer l. Beginnings, when a run gives them, prefix the A agents of layer 1 only.
"""

from __future__ import annotations

from collections.abc import Sequence

from leap.algorithm import prompts
from leap.algorithm.config import LeapConfig
from leap.algorithm.records import FinalRecord, PathAnswer, PathRound, RoundRecord
from leap.benchmarks.problem import Problem
from leap.engines.base import Engine, GenerationRequest
from leap.methods.base import Beginnings, PathState, RoundPolicy, own_text

__all__ = ["MixtureOfAgents"]

_ANSWER_KINDS = ("cue", "answer")


class MixtureOfAgents(RoundPolicy):
    """Solves one problem with `config.layers` layers of `config.n_paths` agents."""

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
        # The final answer of every path so far; set before the base replays `records`.
        self.layer_answers: dict[int, PathAnswer] = {}
        super().__init__(
            engine,
            config,
            problem,
            cache_prefix=cache_prefix,
            records=records,
            beginnings=beginnings,
        )

    # -- layers -------------------------------------------------------------------------

    @property
    def aggregator(self) -> int:
        """The path index of the last layer's one agent."""
        return (self.config.layers - 1) * self.config.n_paths

    def layer_indices(self, layer: int) -> range:
        """The path indices of layer `layer` (0-based)."""
        start = layer * self.config.n_paths
        return range(start, start + (1 if layer == self.config.layers - 1 else self.config.n_paths))

    def layer_text(self, layer: int) -> str:
        """The user message of every agent of `layer` (layer 0: the bare problem)."""
        if layer == 0:
            return self.task_text()
        shown = [self.shown_answer(i) for i in self.layer_indices(layer - 1)]
        if layer == self.config.layers - 1:
            return prompts.moa_aggregator_text(self.problem, shown)
        return prompts.moa_task_text(self.problem, shown)

    def shown_answer(self, index: int) -> str:
        """What the next layer reads of path `index`: its final answer (see the module)."""
        answer = self.layer_answers[index]
        written = [s.text for s in answer.segments if s.kind == "answer"]
        if written:
            opener = prompts.FORCED_ANSWER_OPENER if answer.forced else ""
            return (opener + "".join(written)).strip()
        eos = set(self.engine.eos_token_ids)
        ids = [t for s in self.paths[index].own for t in s.token_ids if t not in eos]
        tail = ids[-self.config.answer_max_tokens :]
        return (("..." if len(tail) < len(ids) else "") + self.engine.decode(tail)).strip()

    def _start_layer(self, layer: int) -> list[PathState]:
        """The agents of `layer`, created from their prompt (layer 0's exist from the start)."""
        if layer == 0:
            return self.paths[: self.config.n_paths]
        prompt = self.engine.chat_prompt([{"role": "user", "content": self.layer_text(layer)}])
        agents = [PathState(i, list(prompt)) for i in self.layer_indices(layer)]
        self.paths.extend(agents)
        return agents

    # -- the round contract -------------------------------------------------------------

    @property
    def done(self) -> bool:
        return self.next_round >= self.config.layers

    def step(self) -> RoundRecord:
        """Run the next layer: its agents reason (one request each, all in one call), then
        each writes its final answer."""
        if self.done:
            raise RuntimeError(f"all {self.config.layers} layers of problem {self.problem.id} ran")
        r = self.next_round
        started = self.clock()
        agents = self._start_layer(r)
        rows = self.new_rows(agents)
        if r > 0:  # layer 0's prompt (and beginning) is added by `round_record`
            for path in agents:
                rows[path.index].segments.append(self.segment("prompt", path.tokens))
        self.reason(agents, r, rows)
        for path in agents:
            if not path.finished:  # one request up to max_tokens always ends the thinking
                self.end(path, "budget")
        for path, answer in zip(agents, self.answers(agents, r), strict=True):
            row = rows[path.index]
            row.segments.extend(answer.segments)
            row.prompt_computed += answer.prompt_computed
            row.prompt_reused += answer.prompt_reused
        ended = self.clock()
        record = self.round_record(r, agents, rows, (started, ended, ended))
        for path, row in zip(agents, record.paths, strict=True):
            self._take_answer(path, row, r)
        self.next_round += 1
        return record

    def finish(self) -> FinalRecord:
        """The aggregator's answer, as its last round stored it; nothing is generated."""
        if not self.done:
            raise RuntimeError(
                f"problem {self.problem.id} is at layer {self.next_round + 1} of "
                f"{self.config.layers}; finish() needs every layer run"
            )
        return FinalRecord(self.problem.id, [self.layer_answers[self.aggregator]])

    def _reason_request(self, path: PathState, r: int) -> GenerationRequest:
        """The whole reasoning budget in one request (tokens_per_round is not used)."""
        return GenerationRequest(
            prompt_ids=list(path.tokens),
            max_new_tokens=self.config.max_tokens - path.reasoning_tokens,
            seed=self.seed(path, r, "reason"),
            sampling=self.config.sampling,
            stop=self.reasoning_stops(),
            cache_key=self.cache_key(path),
        )

    def _take_answer(self, path: PathState, row: PathRound, r: int) -> None:
        """Append the answer segments of `row` to `path` and keep its `PathAnswer`, built
        from the row alone, so a run and its resumption hold the same answer."""
        segments = [s for s in row.segments if s.kind in _ANSWER_KINDS]
        for segment in segments:
            path.tokens.extend(segment.token_ids)
        reason = path.finish_reason or "budget"
        answer = PathAnswer(
            path=path.index,
            segments=segments,
            forced=reason == "budget",
            finish_reason=reason,
            own_text="",
            answer_tokens=sum(len(s.token_ids) for s in segments if s.kind == "answer"),
            seed=None if reason == "eos" else self.seed(path, r, "answer"),
        )
        answer.own_text = own_text(path.own, answer)
        self.layer_answers[path.index] = answer

    def _apply(self, record: RoundRecord) -> None:
        """Replay a stored layer: rebuild its agents from the prompt this code builds (which
        the stored one must equal), their reasoning, and their answers."""
        r = record.round
        if r != self.next_round or self.done:
            raise ValueError(
                f"round {r} of problem {self.problem.id} does not follow round "
                f"{self.next_round - 1} of {self.config.layers} layers"
            )
        agents = self._start_layer(r)
        stored = [row.path for row in record.paths]
        if stored != [p.index for p in agents]:
            raise ValueError(
                f"round {r} of problem {self.problem.id} holds paths {stored}, but layer "
                f"{r + 1} of this run has paths {[p.index for p in agents]}"
            )
        for path, row in zip(agents, record.paths, strict=True):
            self._check_layer_start(row, path, r)
            for segment in row.segments:
                if segment.kind == "reasoning":
                    path.tokens.extend(segment.token_ids)
                    path.own.append(segment)
            path.finished, path.finish_reason = row.finished, row.finish_reason
            path.reasoning_tokens = row.reasoning_tokens
            path.summary_tokens = row.summary_tokens
            path.injected_tokens = row.injected_tokens
            self._take_answer(path, row, r)
        self.next_round += 1

    def _check_layer_start(self, row: PathRound, path: PathState, r: int) -> None:
        if r == 0:
            for segment in row.segments:
                self._check_start(segment, row.path)
            return
        prompt = [s.token_ids for s in row.segments if s.kind in ("prompt", "beginning")]
        if prompt != [path.tokens]:
            raise ValueError(
                f"the stored prompt of path {row.path} of problem {self.problem.id} differs "
                "from the prompt this run builds from the previous layer's answers, so the "
                "run cannot continue exactly"
            )
