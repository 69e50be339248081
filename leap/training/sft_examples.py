"""One stored path laid out as a LeaP-T training example: the sequence a model that
summarizes on its own would write, and which of its tokens carry loss.

A path's stored segments become pieces, in order:

| stored segment                          | in the example                       | loss |
|-----------------------------------------|--------------------------------------|------|
| prompt                                  | the `leap-t` prompt (no peer note)   | no   |
| beginning (inherited from another run)  | as stored                            | no   |
| reasoning                               | as stored                            | yes  |
| discarded (trailing paragraph dropped)  | left out, as in the path's sequence  | -    |
| summary cue (system opens the summary)  | `SUMMARY_SELF_OPEN`, as the model's  | yes  |
| summary                                 | as stored                            | yes  |
| closing cue (system closed the summary) | as stored                            | no   |
| peer block, no-peer cue                 | as stored                            | no   |
| forced-answer cue                       | as stored                            | no   |
| answer                                  | as stored                            | yes  |

Only what the path wrote itself carries loss, plus the summary opener: a LeaP-T model
opens `<summarize>` itself, so it must learn to. Token ids stay the stored ones (the
engine continued by token ids), except the prompt and the opener, which the run model's
tokenizer encodes the way the engine does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import pyarrow as pa

from leap.algorithm import prompts
from leap.algorithm.records import PathAnswer, PathRound, Segment


class Tokenizer(Protocol):
    """What laying out an example needs of the run model's tokenizer (an engine has it)."""

    def encode(self, text: str) -> list[int]: ...

    def decode(self, token_ids: Sequence[int]) -> str: ...

    def chat_prompt(self, messages: list[dict[str, str]]) -> list[int]: ...


@dataclass(frozen=True, slots=True)
class Piece:
    """A stretch of an example: what it is, its tokens and text, whether it carries loss."""

    kind: str
    token_ids: list[int]
    text: str
    trained: bool


@dataclass(frozen=True, slots=True)
class SummaryFacts:
    """One summary of a path: its tokens and whether the model wrote `</summarize>` itself."""

    tokens: int
    closed_by_model: bool


@dataclass(frozen=True, slots=True)
class Span:
    """Characters `start:end` of an example's text: one piece."""

    start: int
    end: int
    trained: bool
    kind: str


@dataclass(frozen=True, slots=True)
class SftExample:
    """One row of `data.parquet` (`EXAMPLE_SCHEMA`)."""

    run_id: str
    problem_id: str
    path: int
    model: str  # the model whose tokenizer made input_ids (the source runs' model)
    input_ids: list[int]
    loss_mask: list[int]  # 1 where the token carries loss
    text: str  # every piece's text, special tokens included
    spans: list[Span]  # one per piece, covering `text` in order
    user_message: str  # the leap-t task text, for a trainer that applies its own template
    n_tokens: int
    n_trained: int
    correct: bool
    forced_answer: bool
    summaries: int


_SPAN = pa.struct(
    [("start", pa.int32()), ("end", pa.int32()), ("trained", pa.bool_()), ("kind", pa.string())]
)
EXAMPLE_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("problem_id", pa.string()),
        ("path", pa.int32()),
        ("model", pa.string()),
        ("input_ids", pa.list_(pa.int32())),
        ("loss_mask", pa.list_(pa.int8())),
        ("text", pa.string()),
        ("spans", pa.list_(_SPAN)),
        ("user_message", pa.string()),
        ("n_tokens", pa.int32()),
        ("n_trained", pa.int32()),
        ("correct", pa.bool_()),
        ("forced_answer", pa.bool_()),
        ("summaries", pa.int32()),
    ]
)


def path_segments(rows: Sequence[PathRound], answer: PathAnswer) -> list[Segment]:
    """A path's segments in sequence order: its rows', then its final answer's (unless,
    as in methods that answer inside a round, its rows already hold the answer)."""
    segments = [s for row in rows for s in row.segments]
    if not any(s.kind == "answer" for s in segments):
        segments += answer.segments
    return segments


def summaries_of(segments: Sequence[Segment]) -> list[SummaryFacts]:
    """Every summary of a path. The system closes a summary the model left open (budget
    spent, or end of sequence) with a `SUMMARY_CLOSE` cue right after it."""
    facts = []
    for i, segment in enumerate(segments):
        if segment.kind == "summary":
            following = segments[i + 1] if i + 1 < len(segments) else None
            closed_by_system = (
                following is not None
                and following.kind == "cue"
                and following.text == prompts.SUMMARY_CLOSE
            )
            facts.append(SummaryFacts(len(segment.token_ids), not closed_by_system))
    return facts


def leap_t_prompt(tokenizer: Tokenizer, user_message: str) -> list[int]:
    """The prompt ids of the `leap-t` method: its task text through the chat template, as
    `RoundPolicy` builds every path's prompt."""
    return tokenizer.chat_prompt([{"role": "user", "content": user_message}])


def lay_out(
    segments: Sequence[Segment], prompt_ids: list[int], tokenizer: Tokenizer
) -> list[Piece]:
    """The pieces of an example from a path's segments (see the module's table)."""
    pieces: list[Piece] = []

    def add(kind: str, ids: Sequence[int], trained: bool) -> None:
        if ids:
            pieces.append(Piece(kind, list(ids), tokenizer.decode(ids), trained))

    for i, segment in enumerate(segments):
        ids, kind = segment.token_ids, segment.kind
        following = segments[i + 1] if i + 1 < len(segments) else None
        if kind == "prompt":
            add("prompt", prompt_ids, False)
        elif kind == "discarded":
            continue
        elif kind in ("reasoning", "summary", "answer"):
            add(kind, ids, True)
        elif kind == "cue" and following is not None and following.kind == "summary":
            before = pieces[-1].text if pieces else ""
            add("summary_open", tokenizer.encode(opener_after(before)), True)
        elif kind == "cue" and segment.text == prompts.SUMMARY_CLOSE:
            add("summary_close", ids, False)
        else:  # beginning, peers, and the other cues (a forced answer's)
            add(kind, ids, False)
    return pieces


def opener_after(text: str) -> str:
    """`SUMMARY_SELF_OPEN` without the line breaks `text` already ends with."""
    opener = prompts.SUMMARY_SELF_OPEN
    wanted = len(opener) - len(opener.lstrip("\n"))
    present = len(text) - len(text.rstrip("\n"))
    return opener[min(wanted, present) :]


def spans_of(pieces: Sequence[Piece]) -> tuple[str, list[Span]]:
    """The example's text and each piece's span in it."""
    spans, position = [], 0
    for piece in pieces:
        end = position + len(piece.text)
        spans.append(Span(position, end, piece.trained, piece.kind))
        position = end
    return "".join(p.text for p in pieces), spans


def loss_mask_of(pieces: Sequence[Piece]) -> list[int]:
    return [int(p.trained) for p in pieces for _ in p.token_ids]
