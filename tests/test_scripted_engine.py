"""The scripted engine keeps the engine contract, so PeerGroup cases built on it are fair."""

from __future__ import annotations

import inspect

import pytest
from scripted_engine import EOS, EOS_TEXT, ScriptedEngine, ScriptTooShort, queues

from leap.engines.base import Engine, GenerationRequest
from leap.errors import LeapError


def say(text: str) -> ScriptedEngine:
    return ScriptedEngine(lambda call: text)


def ask(max_new_tokens: int = 8, **extra) -> GenerationRequest:
    return GenerationRequest(prompt_ids=[ord("?")], max_new_tokens=max_new_tokens, seed=1, **extra)


def test_it_has_every_member_of_the_engine_protocol():
    members = set(Engine.__annotations__) | {n for n in vars(Engine) if not n.startswith("_")}
    assert {"generate", "encode", "decode", "chat_prompt", "close"} <= members
    engine = say("")
    for name in members:
        assert hasattr(engine, name), name
        wanted = getattr(Engine, name, None)
        if callable(wanted):
            assert inspect.signature(getattr(ScriptedEngine, name)).parameters.keys() == (
                inspect.signature(wanted).parameters.keys()
            ), name


def test_tokens_are_characters():
    engine = say("")
    assert engine.encode("ab\n") == [97, 98, 10]
    assert engine.decode([97, EOS, 98]) == "ab"
    assert engine.token_texts([97, 10, EOS]) == ["a", "\n", ""]
    prompt = engine.decode(engine.chat_prompt([{"role": "user", "content": "Hi?"}]))
    assert prompt.startswith("<|user|>\nHi?\n") and prompt.endswith("<|assistant|>\n")


@pytest.mark.parametrize(
    ("output", "extra", "tokens", "finish", "reason"),
    [
        ("abcdefghijk", {}, "abcdefgh", "length", None),
        ("ab</x>cd", {"stop": ("</x>",)}, "ab</x>", "stop", "</x>"),
        # The first stop string to complete wins, whatever order the request lists them in.
        ("a<y>b</x>", {"stop": ("</x>", "<y>")}, "a<y>", "stop", "<y>"),
        ("ab</x>", {"stop": ("</x>",), "max_new_tokens": 4}, "ab</", "length", None),
        ("abc;def", {"stop_token_ids": (ord(";"),)}, "abc;", "stop", ord(";")),
        ("ab" + EOS_TEXT + "cd", {}, "ab" + EOS_TEXT, "stop", EOS),
        (
            "ab" + EOS_TEXT + "cdefgh",
            {"ignore_eos": True},
            "ab" + EOS_TEXT + "cdefg",
            "length",
            None,
        ),
        ("abc", {"max_new_tokens": 0}, "", "length", None),
    ],
)
def test_limits_end_the_scripted_output(output, extra, tokens, finish, reason):
    request = ask(**{"max_new_tokens": 8, **extra})
    result = say(output).generate([request])[0]
    assert result.token_ids == [ord(c) for c in tokens]
    assert result.text == tokens.replace(EOS_TEXT, "")
    assert (result.finish_reason, result.stop_reason) == (finish, reason)


def test_a_script_that_ends_too_soon_is_a_test_mistake():
    with pytest.raises(ScriptTooShort, match="ended after 3 of up to 8"):
        say("abc").generate([ask()])


def test_queues_answer_each_key_in_turn_and_refuse_extra_requests():
    engine = ScriptedEngine(queues({"k": ["a" + EOS_TEXT, "b" + EOS_TEXT]}))
    texts = [engine.generate([ask(cache_key="k")])[0].text for _ in range(2)]
    assert texts == ["a", "b"]
    with pytest.raises(ScriptTooShort, match="no output for request 2 of 'k'"):
        engine.generate([ask(cache_key="k")])


def test_continuations_reuse_what_was_fed_and_reset_forgets_it():
    engine = say("xyz")
    first = GenerationRequest(prompt_ids=[1, 2, 3], max_new_tokens=3, seed=0, cache_key="k")
    result = engine.generate([first])[0]
    assert (result.prompt_tokens_computed, result.prompt_tokens_reused) == (3, 0)
    # The prompt, the output less its last token (never fed), then two injected tokens.
    longer = [1, 2, 3, *result.token_ids, 7, 8]
    again = GenerationRequest(prompt_ids=longer, max_new_tokens=3, seed=0, cache_key="k")
    result = engine.generate([again])[0]
    assert (result.prompt_tokens_computed, result.prompt_tokens_reused) == (3, 5)
    engine.reset_cache()
    result = engine.generate([again])[0]
    assert (result.prompt_tokens_computed, result.prompt_tokens_reused) == (8, 0)
    anonymous = GenerationRequest(prompt_ids=longer, max_new_tokens=3, seed=0)
    assert engine.generate([anonymous])[0].prompt_tokens_reused == 0


def test_a_closed_engine_refuses_to_generate():
    engine = say("a")
    engine.generate([ask(1)])
    engine.close()
    with pytest.raises(LeapError, match="closed"):
        engine.generate([ask(1)])
