"""The engine contract (`leap.engines.base`), as tests every engine's lane runs.

A lane subclasses `EngineContract` as `Test...` and gives two class-scoped fixtures:
`subject`, the engine under test, and `cache_traits`, what its prompt cache serves
(`CacheTraits`, or None for an engine that never reports a cached token). The main lane
runs it against the transformers engine and the openai engine (over a local server);
the vLLM lane (tests_vllm/) against vLLM in process and `vllm serve`.

Every test runs the real model: the class is marked slow.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from leap.engines.base import GenerationRequest, GenerationResult, SamplingParams

GREEDY = SamplingParams(temperature=0.0)
QUESTION = "Count from one to twenty in words, one per line."


@dataclass(frozen=True)
class CacheTraits:
    """What an engine's prompt cache serves, for the reuse assertions."""

    block: int = 1  # the cache keeps whole blocks of this many tokens
    shared: bool = False  # a prefix computed for one cache key serves every request
    resets: bool = True  # reset_cache() empties it (a server's cache is the server's)

    def whole(self, tokens: int) -> int:
        """What the cache can serve of `tokens` tokens computed before."""
        return tokens // self.block * self.block


def request(prompt, n=12, seed=1, key=None, **extra) -> GenerationRequest:
    return GenerationRequest(
        prompt_ids=list(prompt), max_new_tokens=n, seed=seed, cache_key=key, **extra
    )


def assert_reused(
    result: GenerationResult, asked: GenerationRequest, seen: int, traits: CacheTraits | None
) -> None:
    """`seen`: tokens of `asked`'s prompt computed before under its cache key."""
    prompt = len(asked.prompt_ids)
    assert result.prompt_tokens_reused + result.prompt_tokens_computed == prompt
    expected = traits.whole(seen) if traits is not None else 0
    assert result.prompt_tokens_reused == expected, (result.prompt_tokens_reused, seen)


def first_reuse_bound(traits: CacheTraits | None, prompt: list[int]) -> int:
    """The most a first request may reuse: another key's copy of its prompt, if shared."""
    return traits.whole(len(prompt)) if traits is not None and traits.shared else 0


@pytest.mark.slow
class EngineContract:
    # Tokens each path writes before a continuation: enough that a cache of whole blocks
    # serves at least 90% of it (a lane with a per-token cache may take fewer).
    continuation_tokens = 200

    @pytest.fixture(scope="class")
    @classmethod
    def prompt(cls, subject) -> list[int]:
        return subject.chat_prompt([{"role": "user", "content": QUESTION}])

    def test_continuation_is_served_from_the_cache(self, subject, cache_traits, prompt):
        subject.reset_cache()
        n = self.continuation_tokens
        first = subject.generate(
            [request(prompt, n=n, key=f"k/{i}", seed=i, ignore_eos=True) for i in range(3)]
        )
        assert all(len(r.token_ids) == n for r in first)
        assert all(r.prompt_tokens_reused + r.prompt_tokens_computed == len(prompt) for r in first)
        assert all(r.prompt_tokens_reused <= first_reuse_bound(cache_traits, prompt) for r in first)
        injected = subject.encode("\n\nA note from a peer: check the last step.\n\n")
        follow = [
            request(list(prompt) + r.token_ids + injected, key=f"k/{i}", seed=10 + i)
            for i, r in enumerate(first)
        ]
        second = subject.generate(follow)
        for earlier, result, asked in zip(first, second, follow, strict=True):
            # Everything before the injection was computed, except the last sampled token
            # (never fed back during its own request).
            seen = len(prompt) + len(earlier.token_ids) - 1
            assert_reused(result, asked, seen, cache_traits)
            if cache_traits is not None:
                assert result.prompt_tokens_reused >= 0.9 * seen

    def test_cached_and_fresh_continuations_are_identical(self, subject, cache_traits, prompt):
        subject.reset_cache()
        first = subject.generate(
            [request(prompt, key=f"c/{i}", seed=i, ignore_eos=True) for i in range(2)]
        )
        follow = [
            request(list(prompt) + r.token_ids + subject.encode(" Next:"), key=f"c/{i}", seed=5 + i)
            for i, r in enumerate(first)
        ]
        cached = subject.generate(follow)
        if cache_traits is not None:
            assert all(r.prompt_tokens_reused > 0 for r in cached)
        subject.reset_cache()
        fresh = subject.generate(follow)
        if cache_traits is None or cache_traits.resets:
            # After the reset only what the requests share can be served from the cache.
            assert all(
                r.prompt_tokens_reused <= first_reuse_bound(cache_traits, prompt) for r in fresh
            )
        assert [r.token_ids for r in cached] == [r.token_ids for r in fresh]

    def test_different_key_order_and_subsets_keep_caches(self, subject, cache_traits, prompt):
        subject.reset_cache()
        keys = ["o/0", "o/1", "o/2"]
        first = subject.generate([request(prompt, key=k, seed=i) for i, k in enumerate(keys)])
        # Ask for two of them in the reverse order: both still continue from their caches.
        order = (2, 0)
        follow = [request(list(prompt) + first[i].token_ids, key=keys[i], seed=20) for i in order]
        results = subject.generate(follow)
        for i, result, asked in zip(order, results, follow, strict=True):
            assert_reused(result, asked, len(prompt) + len(first[i].token_ids) - 1, cache_traits)

    def test_prompt_that_drops_cached_text_reuses_only_the_shared_prefix(
        self, subject, cache_traits, prompt
    ):
        subject.reset_cache()
        first = subject.generate([request(prompt, key="t/0", n=16, ignore_eos=True)])[0]
        kept = list(prompt) + first.token_ids[:6]
        edited = request(kept + subject.encode(" instead,"), key="t/0", seed=4)
        result = subject.generate([edited])[0]
        assert_reused(result, edited, len(kept), cache_traits)
        subject.reset_cache()
        fresh = subject.generate([edited])[0]
        assert fresh.token_ids == result.token_ids

    def test_seed_decides_the_sample_not_the_batch(self, subject, prompt):
        alone = subject.generate([request(prompt, seed=7)])[0]
        batch = subject.generate(
            [request(prompt, seed=3), request(prompt, seed=7), request(prompt, seed=9)]
        )
        assert batch[1].token_ids == alone.token_ids
        assert batch[0].token_ids != batch[1].token_ids or batch[2].token_ids != batch[1].token_ids

    def test_seeds_reproduce(self, subject, prompt):
        asked = [request(prompt, n=30, seed=s, ignore_eos=True) for s in (4, 5)]
        once, again = subject.generate(asked), subject.generate(asked)
        assert [r.token_ids for r in once] == [r.token_ids for r in again]
        assert once[0].token_ids != once[1].token_ids

    def test_length_limit(self, subject, prompt):
        result = subject.generate([request(prompt, n=5, ignore_eos=True)])[0]
        assert result.finish_reason == "length" and result.stop_reason is None
        assert len(result.token_ids) == 5
        nothing = subject.generate([request(prompt, n=0)])[0]
        assert nothing.token_ids == [] and nothing.finish_reason == "length"

    def test_end_of_sequence_is_a_stop_with_its_token(self, subject):
        short = subject.chat_prompt([{"role": "user", "content": "Say only the word yes."}])
        result = subject.generate([request(short, n=60, sampling=GREEDY)])[0]
        assert result.finish_reason == "stop", result.text
        assert result.stop_reason in subject.eos_token_ids
        assert result.token_ids[-1] == result.stop_reason
        assert subject.decode(result.token_ids).strip() == result.text.strip()

    def test_stop_string_ends_generation_and_is_kept(self, subject, prompt):
        full = subject.generate([request(prompt, n=40, sampling=GREEDY, ignore_eos=True)])[0]
        words = full.text.split()
        assert len(words) > 4, full.text
        stop = words[3]
        result = subject.generate([request(prompt, n=40, sampling=GREEDY, stop=(stop,))])[0]
        assert result.finish_reason == "stop" and result.stop_reason == stop
        assert stop in result.text[-len(stop) - 4 :]
        assert len(result.token_ids) < len(full.token_ids)
        assert result.token_ids == full.token_ids[: len(result.token_ids)]

    def test_stop_token_ends_generation(self, subject, prompt):
        full = subject.generate([request(prompt, n=20, sampling=GREEDY, ignore_eos=True)])[0]
        stop_id = full.token_ids[4]
        cut = full.token_ids.index(stop_id)
        result = subject.generate(
            [request(prompt, n=20, sampling=GREEDY, stop_token_ids=(stop_id,))]
        )[0]
        assert result.finish_reason == "stop" and result.stop_reason == stop_id
        assert result.token_ids == full.token_ids[: cut + 1]
