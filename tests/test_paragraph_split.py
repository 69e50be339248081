"""Trimming a round's unfinished paragraph on the real tokenizer: each token's own text,
looked up instead of decoded one call per token, puts the cut where it always was."""

from __future__ import annotations

import pytest

from leap.algorithm.config import LeapConfig
from leap.benchmarks.problem import Problem
from leap.engines.tokenizer import ChatTokenizer
from leap.methods.peers import PeerGroup

TEXTS = [
    "First step: 17 + 25.\n\nSecond step: carry the one.\n\nSo the answer is",
    "No blank line at all, just one long paragraph that goes on and on",
    "\n\nA blank line first, and never another one after it",
    "Ends right after a blank line.\n\n",
    "Three newlines\n\n\nthen the rest",
    "a\n\n\n\nb\n \nc\n\n d",
    "Unicode 中文数学 😀 ∑ x² done.\n\n続きの段落 🎲🧮 without an end",
    "\\[ x = \\frac{1}{2} \\]\n\nThen \\boxed{42",
    "🧮🧮\n\n🧮",
]


@pytest.fixture(scope="module")
def tokenizer(model_folder) -> ChatTokenizer:
    return ChatTokenizer(str(model_folder))


def one_token_at_a_time(tokenizer, ids: list[int]) -> tuple[list[int], list[int]]:
    """The cut as it was made before: every token decoded by its own call."""
    pieces = [tokenizer.decode([t]) for t in ids]
    text = "".join(pieces)
    cut = text.rfind("\n\n")
    if cut <= 0:
        return ids, []
    length = 0
    for count, piece in enumerate(pieces, start=1):
        length += len(piece)
        if length >= cut + 2:
            return ids[:count], ids[count:]
    return ids, []


def cases(tokenizer) -> list[list[int]]:
    ids = [tokenizer.encode(text) for text in TEXTS]
    # An end-of-sequence token in the middle has no text of its own.
    eos = tokenizer.eos_token_ids[0]
    first = ids[0]
    ids.append(first[:9] + [eos] + first[9:] + [eos])
    return ids


@pytest.mark.slow
def test_the_cut_is_the_one_token_at_a_time_cut(tokenizer):
    group = PeerGroup(tokenizer, LeapConfig(), Problem(id="p", question="1 + 1?", answer="2"))
    cuts = 0
    for ids in cases(tokenizer):
        expected = one_token_at_a_time(tokenizer, ids)
        assert group._split_unfinished_paragraph(ids) == expected, tokenizer.decode(ids)
        cuts += bool(expected[1])
    assert cuts >= 5  # most cases really cut something


@pytest.mark.slow
def test_token_texts_are_each_tokens_own_decoding(tokenizer):
    ids = list(range(0, len(tokenizer.tokenizer), 97)) + list(tokenizer.eos_token_ids)
    assert tokenizer.token_texts(ids) == [tokenizer.decode([t]) for t in ids]
    assert tokenizer.token_texts(ids[::-1]) == [tokenizer.decode([t]) for t in ids[::-1]]
