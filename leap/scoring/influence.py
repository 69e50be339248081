"""Peer influence and reflection markers, derived from a problem's stored rounds alone.

One `InfluenceRow` per problem x round x path active in that round. Nothing here changes
the records; the rows are stored as `results/analysis.parquet` (docs/analysis.md).

The path's current answer at the end of a round (`answer_before` of that round's row):
1. the answer its summary of that round states, when it wrote one that states one
   (`find_answer` on the summary text, which takes a box first: the last ``\\boxed{}``, or
   the final run of boxes for a gold answer with parts; for choices, the boxed letter);
2. else, when the path finished in that round and has a final answer, that answer
   (`find_answer` on the final record's `own_text`, which is what scoring reads);
3. else the answer `find_answer` reads in everything the path wrote itself so far (its
   reasoning and, for moa, answer segments; never prompts, cues or peer blocks);
4. else none.
`answer_after` is the path's current answer at the end of its next round, or, after its
last round, its final answer (none when it has no final answer: leap-s's dropped paths).

A peer block is received when the row's `peers` is not empty (the path was shown at least
one peer summary at the end of the round). The peers' answers are the answers their
summaries of the same round state (rule 1 only: a peer's reasoning was never shown), none
for a summary that states no answer. With `same` = `answers_equivalent(a, b, kind)`
(none never equals anything), the block's category is, checked in this order:
- `none`: there is no `answer_after` (whatever `answer_before` was): nothing to compare;
- `kept`: `same(answer_after, answer_before)`;
- `adopted`: `same(answer_after, p)` for some shown peer answer p (so it differs from
  `answer_before`); "no answer before, a shown peer's answer after" is `adopted`;
- `moved`: any other `answer_after`: an answer no shown peer stated and that differs from
  `answer_before` ("no answer before, an answer no peer stated after" is `moved`).
A row without a peer block has category None. `agreed_before` says whether
`answer_before` equals a shown peer's answer (the paper's "consistent" versus
"unaffected" among kept paths).

`answer_changed` marks where answers change in the budget: the row's `answer_before` is
an answer that differs from the path's latest earlier answer (its first answer is not a
change); `token_position` (cumulative reasoning tokens at the end of the round) places it.

Reflection markers: matches of `REFLECTION_MARKERS` (case-insensitive, whole words) in
the round's reasoning segments; a marker split across two rounds is not counted.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from leap.algorithm.records import OWN_KINDS, FinalRecord, PathRound, RoundRecord
from leap.benchmarks.problem import Problem
from leap.scoring.answers import answers_equivalent, find_answer

Category = Literal["kept", "adopted", "moved", "none"]
CATEGORIES: tuple[Category, ...] = ("kept", "adopted", "moved", "none")
Source = Literal["summary", "final", "reasoning", "none"]

# (name, pattern): whole words, case-insensitive. "but" counts only at a sentence start:
# the start of a line, or after ".", "!" or "?" and white space.
REFLECTION_MARKERS: tuple[tuple[str, str], ...] = (
    ("wait", r"\bwait\b"),
    ("hmm", r"\bhmm+\b"),
    ("aha", r"\baha\b"),
    ("alternatively", r"\balternatively\b"),
    ("let me check", r"\blet me (?:re-?|double-)?check\b"),
    ("but (sentence start)", r"(?:^[ \t]*|[.!?][\"')\]]?\s+)but\b"),
)
_REFLECTION = re.compile(
    "|".join(f"(?:{pattern})" for _, pattern in REFLECTION_MARKERS), re.IGNORECASE | re.MULTILINE
)


@dataclass(frozen=True, slots=True)
class InfluenceRow:
    """One path in one round: its answer around the round's peer block, and its markers."""

    problem_id: str
    round: int
    path: int
    token_position: int  # the path's cumulative reasoning tokens at the end of the round
    answer_before: str | None  # its current answer at the end of the round
    answer_source: Source  # where answer_before was read: summary, final, reasoning, none
    answer_after: str | None  # its current answer after its next round, or its final answer
    answer_changed: bool  # answer_before differs from its latest earlier answer
    peers_shown: list[int]  # paths whose summaries it was shown after this round
    peer_answers: list[str | None]  # the answers those summaries state, in the same order
    agreed_before: bool  # answer_before equals one of peer_answers
    category: Category | None  # kept, adopted, moved, none; None without a peer block
    reflections: int  # reflection markers in the round's reasoning


@dataclass(frozen=True, slots=True)
class PositionShare:
    """The peer blocks received at one token position (or in one bucket of positions)."""

    position: int  # the bucket's upper end, in cumulative reasoning tokens
    kept: int
    adopted: int
    moved: int
    none: int

    @property
    def blocks(self) -> int:
        return self.kept + self.adopted + self.moved + self.none

    @property
    def influenced_share(self) -> float:
        """Share of the blocks after which the path adopted or moved."""
        return (self.adopted + self.moved) / self.blocks if self.blocks else 0.0

    @property
    def adopted_share(self) -> float:
        return self.adopted / self.blocks if self.blocks else 0.0


def count_reflections(text: str) -> int:
    """How many reflection markers (`REFLECTION_MARKERS`) `text` holds."""
    return sum(1 for _ in _REFLECTION.finditer(text))


def stated_answer(summary: str, problem: Problem) -> str | None:
    """The answer a summary states: what `find_answer` reads in it (a box first)."""
    return find_answer(summary, problem)


def _texts(row: PathRound, kinds: Iterable[str]) -> str | None:
    """The text of the row's segments of `kinds`, None when it has none."""
    parts = [s.text for s in row.segments if s.kind in kinds]
    return "".join(parts) if parts else None


@dataclass
class _State:
    """One path's row with what was read off it, before its next row is known."""

    record: RoundRecord
    row: PathRound
    answer: str | None
    source: Source
    changed: bool
    reflections: int


def influence_rows(
    problem: Problem, rounds: Sequence[RoundRecord], final: FinalRecord | None
) -> list[InfluenceRow]:
    """The analysis rows of one problem, in round order, then path order within a round."""

    def same(a: str | None, b: str | None) -> bool:
        return answers_equivalent(a, b, problem.kind)

    finals = {a.path: find_answer(a.own_text, problem) for a in (final.answers if final else [])}
    own: dict[int, str] = {}
    latest: dict[int, str] = {}  # each path's latest non-empty answer so far
    stated: dict[tuple[int, int], str | None] = {}  # (round, path) -> its summary's answer
    states: list[_State] = []
    for record in rounds:
        for row in sorted(record.paths, key=lambda r: r.path):
            own[row.path] = own.get(row.path, "") + (_texts(row, OWN_KINDS) or "")
            summary = _texts(row, ("summary",))
            stated[record.round, row.path] = (
                None if summary is None else stated_answer(summary, problem)
            )
            answer, source = _current(problem, row, stated[record.round, row.path], finals, own)
            before = latest.get(row.path)
            changed = answer is not None and before is not None and not same(answer, before)
            if answer is not None:
                latest[row.path] = answer
            reflections = count_reflections(_texts(row, ("reasoning",)) or "")
            states.append(_State(record, row, answer, source, changed, reflections))
    afters: list[str | None] = []
    following = dict(finals)  # each path's answer after the row being looked at
    for state in reversed(states):
        afters.append(following.get(state.row.path))
        following[state.row.path] = state.answer
    out = []
    for state, after in zip(states, reversed(afters), strict=True):
        path = state.row.path
        peers = list(state.row.peers)
        peer_answers = [stated.get((state.record.round, p)) for p in peers]
        agreed = any(same(state.answer, p) for p in peer_answers)
        out.append(
            InfluenceRow(
                problem_id=problem.id,
                round=state.record.round,
                path=path,
                token_position=state.row.reasoning_tokens,
                answer_before=state.answer,
                answer_source=state.source,
                answer_after=after,
                answer_changed=state.changed,
                peers_shown=peers,
                peer_answers=peer_answers,
                agreed_before=agreed,
                category=categorize(state.answer, after, peer_answers, same) if peers else None,
                reflections=state.reflections,
            )
        )
    return out


def _current(
    problem: Problem,
    row: PathRound,
    summary_answer: str | None,
    finals: dict[int, str | None],
    own: dict[int, str],
) -> tuple[str | None, Source]:
    """The path's current answer at the end of the row's round, and where it was read."""
    if summary_answer is not None:
        return summary_answer, "summary"
    if row.finished and finals.get(row.path) is not None:
        return finals[row.path], "final"
    answer = find_answer(own[row.path], problem)
    return (answer, "reasoning") if answer is not None else (None, "none")


def categorize(
    before: str | None,
    after: str | None,
    peer_answers: Sequence[str | None],
    same: Callable[[str | None, str | None], bool],
) -> Category:
    """The category of one peer block (see the module docstring for the rules)."""
    if after is None:
        return "none"
    if same(after, before):
        return "kept"
    if any(same(after, p) for p in peer_answers):
        return "adopted"
    return "moved"


def influence_counts(rows: Iterable[InfluenceRow]) -> dict[str, int] | None:
    """Peer blocks by category; None when no path was shown a peer summary."""
    counts = dict.fromkeys(CATEGORIES, 0)
    for row in rows:
        if row.category is not None:
            counts[row.category] += 1
    return counts if any(counts.values()) else None


def influence_by_position(
    rows: Iterable[InfluenceRow], max_buckets: int = 12
) -> list[PositionShare]:
    """Peer blocks by token position: one bucket per distinct position when there are at
    most `max_buckets`, else equal buckets of a round width, each named by its upper end."""
    blocks = [row for row in rows if row.category is not None]
    if not blocks:
        return []
    positions = sorted({row.token_position for row in blocks})
    width = 0
    if len(positions) > max_buckets:
        width = _round_width(positions[-1] / max_buckets)
    tally: dict[int, dict[str, int]] = {}
    for row in blocks:
        key = row.token_position
        if width:
            key = max(1, math.ceil(key / width)) * width
        tally.setdefault(key, dict.fromkeys(CATEGORIES, 0))[str(row.category)] += 1
    return [PositionShare(position, **counts) for position, counts in sorted(tally.items())]


def _round_width(value: float) -> int:
    """The smallest 1, 2 or 5 x 10^e that is at least `value` (and at least 1)."""
    scale = 10 ** math.floor(math.log10(max(value, 1.0)))
    for factor in (1, 2, 5, 10):
        if value <= factor * scale:
            return int(factor * scale)
    return int(10 * scale)  # pragma: no cover - the loop ends at 10 x scale
