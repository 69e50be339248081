"""Which option a multiple-choice answer commits to; the rules are in docs/scoring.md.

Three kinds of evidence, by rank:
1. ``boxed``: a box whose content reads as one option: ``\\boxed{C}``, ``\\boxed{(c)}``,
   ``\\boxed{C) 4.5 eV}``, ``\\boxed{\\text{Option C}}``, or exactly one option's text.
2. ``answer-line``: an answer label with the letter: "Answer: C", "**Final answer:** (B)",
   "ANSWER: $C$", an "Answer" heading over the letter, or a last line that is only a label.
3. ``phrase``: a committed sentence: "the correct option is B", "so the answer is (C)",
   "C is the correct answer", "I'll go with D", "..., so C."
A bare label mentioned while reasoning ("(A) ...", "A is wrong") is no evidence at all.
The choice is the LAST piece of committed evidence in the text, whatever its kind (the
rank only names the method when two kinds read one letter at one place); hedged phrases
("the answer is probably B") and questions ("the answer is B?") count only when there is
no committed evidence. Statements that are negated ("the answer is not A"), conditional
("if the answer is B"), another solver's ("Peer 2 says the answer is B"), examples ("for
example \\boxed{B}") or lists of letters ("A or B") are no evidence.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from leap.scoring.boxes import boxes

ChoiceMethod = Literal["boxed", "answer-line", "phrase"]
# When two kinds read the same letter at the same place, the higher rank names the method.
_RANK: dict[ChoiceMethod, int] = {"phrase": 0, "answer-line": 1, "boxed": 2}

# ---- a letter outside a box: wrappers around it, and what may follow it ----
# Words and marks that may stand between an anchor ("the answer is") and the letter.
_HEDGES = r"probably|likely|most\s+likely|possibly|perhaps|maybe|presumably"
_FILLERS = (
    r"for\s+sure|definitely|clearly|certainly|surely|indeed|therefore|thus|then|hence|"
    r"still|actually|really|undoubtedly|obviously|in\s+fact|now|finally|simply|just|"
    r"option|choice|letter"
)
_LEAD = re.compile(
    r"(?:\s|[*_$\"'“‘(\[:,]|\\\(|\\(?:text|textbf|mathrm|mathbf|textrm|bf)\s*\{|"
    rf"\b(?i:{_FILLERS}|{_HEDGES})\b)*"
)
_HEDGE = re.compile(rf"\b(?:{_HEDGES})\b", re.IGNORECASE)
_LETTER = re.compile(r"([A-Z])(?![A-Za-z0-9])")
_CLOSE = re.compile(r"(?:[)\]*_$\"'”’}]|\\\))*")
# "not A but C" after an anchor: the letter after "but" is the one stated.
_NOT_BUT = re.compile(
    r"\s*(?i:not)\s+(?:(?i:option|choice)\s+)?[(\[*_$\"']*[A-Z][)\]*_$\"']*\s*+,?\s*+"
    r"(?i:but)(?:\s+(?i:rather|instead))?"
)
_NEGATION = re.compile(r"\s*(?:not|never|no\s+longer)\b", re.IGNORECASE)
# A second letter right after the first means a list, not a choice: "A or B", "(B), (C)".
_ANOTHER_LETTER = re.compile(
    r"\s*(?:,|/|&|\b(?i:and|or|vs\.?)\b)\s*(?:(?i:option|choice)\s+)?[(\[*_$\"']*"
    r"([A-Z])(?![A-Za-z0-9])"
)
_CONDITION_AFTER = re.compile(
    r"\s+(?:if|only|unless|when|provided|assuming|would|could|might)\b", re.IGNORECASE
)
_STRICT_END = re.compile(r"[ \t]*+(?:[.!;]|\n|$)")
_QUESTION_MARK = re.compile(r"[ \t]*\?")
# After "Answer: A" these words still read as a committed letter ("A because ..."); any
# other lowercase word after a capital A or I means prose ("A ball is dropped").
_CONNECTIVES = frozenset(
    "and as because but for given is since so then therefore thus was which with".split()
)
_NEXT_WORD = re.compile(r"[ \t]+([a-z]+)")

# ---- anchors: where a stated choice begins ----
_ANSWER_LABEL = re.compile(
    r"\b(?:(?:final|correct|my|best)\s+)?(?:answer|choice|option|selection)"
    r"(?:\s*(?:\*\*|__|\*|_))?(?:\s*:|\s+is\s*:|\s+[-–—]\s)",
    re.IGNORECASE,
)
_ANSWER_HEADING = re.compile(
    r"^[ \t#>*_]*(?:(?:final|correct)\s+)?answer[ \t*_:]*\n\s*", re.IGNORECASE | re.MULTILINE
)
# Matched against a stripped line; each run of marks is one character class, so a long
# line of spaces cannot make the match backtrack.
_LABEL_ONLY_LINE = re.compile(
    r"[>#*_-]*\s*(?:(?i:option|choice)\s+)?[(\[$*_]*(?:\\(?:text|textbf|mathrm)\{)?"
    r"([A-Z])[}$)\].*_\s]*"
)
_ANSWER_IS = re.compile(
    r"\b(?:answer|(?:correct|right|best|final|only|valid|true|my|our)\s+(?:option|choice))"
    r"(?:\s+(?:is|would\s+be|will\s+be|must\s+be|should\s+be|has\s+to\s+be)\b|\s*=)",
    re.IGNORECASE,
)
_I_CHOOSE = re.compile(
    r"\b(?:I|we)(?:'ll|'d|\s+will|\s+would|\s+shall)?\s+"
    r"(?:(?:go|stick)\s+with|choose|pick|select|opt\s+for)\b",
    re.IGNORECASE,
)
_SO = re.compile(
    r"\b(?:so|therefore|thus|hence|consequently)\b[,:]?"
    r"(?:\s+(?:it's|it\s+is|it\s+must\s+be|we\s+(?:get|have|choose|pick)|I\s+(?:get|choose|pick)))?",
    re.IGNORECASE,
)
_LETTER_IS_CORRECT = re.compile(
    r"(?<![\w\\(\[*_$\"'])(?:(?i:option|choice)\s+)?[(\[*_$\"']*([A-Z])[)\]*_$\"']*\s+"
    r"(?i:is|must\s+be|should\s+be)\s+(?i:the\s+)?(?i:(?:only|final|single)\s+)?"
    r"(?i:correct|right|best|answer)\b(?:\s+(?i:answer|option|choice|one))?"
)
_LETTER_IS_CORRECT_END = re.compile(
    r"[ \t]*+(?:[.!;:]|\n|$|,?[ \t]*+(?:because|since|as|so)\b)", re.IGNORECASE
)

# Text just before an anchor or a box that makes it an example, not an answer.
_EXAMPLE_BEFORE = re.compile(
    r"(?:for\s+example|for\s+instance|e\.g\.?|such\s+as|form|format)[\s,:$(\"'“‘]*$",
    re.IGNORECASE,
)
# What earlier words do to a statement, checked in this order: another solver's claim
# (after the last comma) is not this path's answer ("Peer 2's answer is B", "they say")...
_REPORTED_BEFORE = re.compile(
    r"\baccording\s+to\b|\b(?:peers?|solvers?|others?|they|he|she)\b(?:\s+\d+)?(?:'s\b|(?<=s)'(?!\w)|"
    r"(?:\s+\w+){0,3}?\s+(?:says?|said|claims?|claimed|suggests?|suggested|thinks?|thought|"
    r"believes?|believed|argues?|argued|writes?|wrote|proposes?|proposed|concludes?|concluded|"
    r"gets?|got|picks?|picked|chooses?|chose)\b)",
    re.IGNORECASE,
)
# ... and neither is a line that recaps a peer ("Peer 3: the answer is D");
_REPORTED_LINE = re.compile(r"[ \t>*_#-]*(?:peer|solver)\s*\d*\s*[*_]*[:)]", re.IGNORECASE)
# a condition or a doubt in the same clause makes a phrase hypothetical ("if ..., B");
_HYPOTHETICAL_BEFORE = re.compile(
    r"\b(?:if|whether|suppose|supposing|assume|assuming|unless|doubt|wonder|unsure|"
    r"not\s+sure|don't\s+think|do\s+not\s+think)\b",
    re.IGNORECASE,
)
# a hedge right before it (after the last comma) makes it tentative ("maybe the answer is B").
_HEDGE_BEFORE = re.compile(
    r"\b(?:maybe|perhaps|possibly|probably|likely|might|guess|suspect|seems|tentatively|"
    r"(?:verify|check|confirm|make\s+sure)\s+that)\b",
    re.IGNORECASE,
)
_CLAUSE_BREAK = re.compile(r"[.!?:;\n]")
_PHRASE_BREAK = re.compile(r"[.!?:;,\n]")

# ---- box content ----
_BOX_COMMAND = re.compile(
    r"\\(?:text|textbf|textrm|textit|mathrm|mathbf|mathit|emph|mbox|bf|rm|it)\b\s*"
)
_BOX_SPACE = re.compile(r"\\[,;: !]|\\q?quad\b|~")
_BOX_LETTER = re.compile(
    r"\s*+(?:(?:option|choice|answer)\s*+:?\s*+)?[(\[]?\s*+([a-j])\s*+(?P<close>[)\]])?\s*+"
    r"(?P<delim>[.:\-–—])?(?P<rest>.*)",
    re.IGNORECASE | re.DOTALL,
)


@dataclass(frozen=True)
class Choice:
    """The option letter an answer commits to, and the kind of evidence that said so."""

    letter: str
    method: ChoiceMethod


@dataclass(frozen=True)
class _Evidence:
    position: int
    letter: str
    method: ChoiceMethod
    committed: bool


def extract_choice(text: str, letters: str = "ABCD", options: Sequence[str] = ()) -> str | None:
    """Return the option letter `text` commits to, or None (see `find_choice`)."""
    found = find_choice(text, letters, options)
    return found.letter if found else None


def find_choice(text: str, letters: str = "ABCD", options: Sequence[str] = ()) -> Choice | None:
    """The option `text` commits to, with how it was found; None when it commits to none.

    `letters` are the valid labels ("ABCD"); `options` (optional) are the option texts in
    the same order, so a box holding exactly one option's text counts as that option.
    Outside boxes a letter must be uppercase.
    """
    evidence = sorted(
        [*_boxed(text, letters, options), *_answer_lines(text, letters), *_phrases(text, letters)],
        key=lambda item: (item.position, _RANK[item.method]),
    )
    committed = [item for item in evidence if item.committed]
    chosen = (committed or evidence or [None])[-1]
    return Choice(chosen.letter, chosen.method) if chosen else None


def _boxed(text: str, letters: str, options: Sequence[str]) -> list[_Evidence]:
    found = []
    for box in boxes(text):
        if box is None or _EXAMPLE_BEFORE.search(text, max(0, box.start - 30), box.start):
            continue
        letter = _letter_in_box(box.content, letters, options)
        qualifier = _qualifier_before(text, box.start)
        if letter is not None and qualifier != "reported":
            found.append(_Evidence(box.start, letter, "boxed", committed=qualifier is None))
    return found


def _letter_in_box(content: str, letters: str, options: Sequence[str] = ()) -> str | None:
    """The option a box's content names: its letter (any case), or one option's exact text."""
    plain = _plain(content)
    match = _BOX_LETTER.fullmatch(plain)
    if match is not None and match.group(1).upper() in letters:
        letter = match.group(1).upper()
        rest = match.group("rest").strip()
        if not rest:
            return letter
        another = _ANOTHER_LETTER.match(rest.upper())
        if another is not None and another.group(1) in letters:
            return None  # "A and C", "(B), (D)": a list, not a choice
        delimited = bool(match.group("close") or match.group("delim"))
        if delimited or rest.startswith("(") or _same_text(rest, _option(options, letter)):
            return letter
    return _option_with_text(content, letters, options)


def _answer_lines(text: str, letters: str) -> list[_Evidence]:
    found = []
    for anchor in (*_ANSWER_LABEL.finditer(text), *_ANSWER_HEADING.finditer(text)):
        if _EXAMPLE_BEFORE.search(text, max(0, anchor.start() - 30), anchor.start()):
            continue
        stated = _stated_letter(text, anchor.end(), letters)
        if stated is not None and _qualifier_before(text, anchor.start()) != "reported":
            found.append(_Evidence(stated[0], stated[1], "answer-line", stated[2]))
    body = text.rstrip()
    last_line = body.rsplit("\n", 1)[-1]
    match = _LABEL_ONLY_LINE.fullmatch(last_line.strip())
    if match is not None and match.group(1) in letters:
        position = len(body) - len(last_line.lstrip()) + match.start(1)
        found.append(_Evidence(position, match.group(1), "answer-line", committed=True))
    return found


def _phrases(text: str, letters: str) -> list[_Evidence]:
    found = []
    for pattern, strict in ((_ANSWER_IS, False), (_I_CHOOSE, False), (_SO, True)):
        for anchor in pattern.finditer(text):
            if _EXAMPLE_BEFORE.search(text, max(0, anchor.start() - 30), anchor.start()):
                continue
            qualifier = _qualifier_before(text, anchor.start())
            if qualifier in ("reported", "hypothetical"):
                continue
            stated = _stated_letter(text, anchor.end(), letters, strict=strict)
            if stated is not None:
                position, letter, committed = stated
                found.append(_Evidence(position, letter, "phrase", committed and qualifier is None))
    for match in _LETTER_IS_CORRECT.finditer(text):
        letter = match.group(1)
        if letter not in letters or not _LETTER_IS_CORRECT_END.match(text, match.end()):
            continue
        qualifier = _qualifier_before(text, match.start())
        if qualifier not in ("reported", "hypothetical"):
            found.append(_Evidence(match.start(1), letter, "phrase", qualifier is None))
    return found


def _qualifier_before(
    text: str, position: int
) -> Literal["reported", "hypothetical", "hedged"] | None:
    """What the words before `position` in its clause make of a statement there."""
    start = max(0, position - 160)
    line_start = text.rfind("\n", start, position) + 1 or start
    phrase = text[_last_break(_PHRASE_BREAK, text, start, position) : position]
    if _REPORTED_BEFORE.search(phrase) or _REPORTED_LINE.match(text, line_start, position):
        return "reported"
    if _HYPOTHETICAL_BEFORE.search(
        text, _last_break(_CLAUSE_BREAK, text, start, position), position
    ):
        return "hypothetical"
    if _HEDGE_BEFORE.search(phrase):
        return "hedged"
    return None


def _last_break(pattern: re.Pattern[str], text: str, start: int, position: int) -> int:
    ends = [match.end() for match in pattern.finditer(text, start, position)]
    return ends[-1] if ends else start


def _stated_letter(
    text: str, start: int, letters: str, *, strict: bool = False
) -> tuple[int, str, bool] | None:
    """The letter stated right after an anchor ending at `start`: (position, letter,
    committed), or None when what follows is not a clean single letter.

    `strict` (for "so C"-style endings) accepts the letter only at the end of a sentence.
    """
    but = _NOT_BUT.match(text, start)
    if but is not None:
        start = but.end()
    elif _NEGATION.match(text, start):
        return None
    lead = _LEAD.match(text, start)
    assert lead is not None  # the pattern accepts the empty string
    letter_match = _LETTER.match(text, lead.end())
    if letter_match is None or letter_match.group(1) not in letters:
        return None
    letter = letter_match.group(1)
    close = _CLOSE.match(text, letter_match.end())
    assert close is not None
    end = close.end()
    follower = _ANOTHER_LETTER.match(text, end)
    if follower is not None and follower.group(1) in letters:
        return None
    if _CONDITION_AFTER.match(text, end):
        return None
    committed = _HEDGE.search(lead.group()) is None and not _QUESTION_MARK.match(text, end)
    if strict:
        ok = _STRICT_END.match(text, end) is not None
    else:
        delimited = bool(close.group().strip("*_$\"'”’")) or lead.group().rstrip().endswith("(")
        following = _NEXT_WORD.match(text, end)
        prose = following is not None and following.group(1) not in _CONNECTIVES
        ok = delimited or letter not in "AI" or not prose
    return (letter_match.start(1), letter, committed) if ok else None


def _plain(content: str) -> str:
    """Box content without text commands, braces, dollars and LaTeX spacing."""
    plain = _BOX_COMMAND.sub("", content)
    plain = _BOX_SPACE.sub(" ", plain)
    for mark in ("\\{", "\\}", "{", "}", "$"):
        plain = plain.replace(mark, "")
    return plain.strip()


def _normalized(text: str) -> str:
    return re.sub(r"\s+", "", _plain(text)).rstrip(".")


def _same_text(a: str, b: str | None) -> bool:
    return b is not None and bool(_normalized(a)) and _normalized(a) == _normalized(b)


def _option(options: Sequence[str], letter: str) -> str | None:
    index = ord(letter) - ord("A")
    return options[index] if index < len(options) else None


def _option_with_text(content: str, letters: str, options: Sequence[str]) -> str | None:
    """The letter of the one option whose text is `content`; None for none or several."""
    matches = [
        letter
        for letter, option in zip(letters, options, strict=False)
        if _same_text(content, option)
    ]
    return matches[0] if len(matches) == 1 else None
