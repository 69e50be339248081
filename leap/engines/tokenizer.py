"""Tokenizer text conversions shared by the engines, and a tokenizer on its own (vLLM, a server)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Any

from leap.errors import LeapError


class TokenizerText:
    """encode/decode/chat_prompt over `self.tokenizer` and `self.eos_token_ids`.

    Shared by every engine: they all speak token ids and need the same text conversions.
    """

    tokenizer: Any
    eos_token_ids: tuple[int, ...]

    def encode(self, text: str) -> list[int]:
        return list(self.tokenizer.encode(text, add_special_tokens=False))

    def decode(self, token_ids: Sequence[int]) -> str:
        return self.tokenizer.decode(list(token_ids), skip_special_tokens=True)

    def token_texts(self, token_ids: Sequence[int]) -> list[str]:
        """`decode([t])` of each token, remembered per id: a round's worth costs lookups."""
        known = self._token_texts
        missing = list({int(t) for t in token_ids} - known.keys())
        if missing:
            texts = self.tokenizer.batch_decode([[t] for t in missing], skip_special_tokens=True)
            known.update(zip(missing, texts, strict=True))
        return [known[int(t)] for t in token_ids]

    @cached_property
    def _token_texts(self) -> dict[int, str]:
        return {}

    def chat_prompt(self, messages: list[dict[str, str]]) -> list[int]:
        encoded = self.tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, tokenize=True
        )
        ids = encoded["input_ids"] if hasattr(encoded, "keys") else encoded
        return [int(i) for i in ids]

    def visible_text(self, token_ids: Sequence[int]) -> str:
        """Text of generated ids, without a closing end-of-sequence token."""
        ids = list(token_ids)
        if ids and ids[-1] in self.eos_token_ids:
            ids = ids[:-1]
        return self.decode(ids)


class ChatTokenizer(TokenizerText):
    """encode/decode/chat_prompt and the end-of-sequence ids of one model, via transformers."""

    def __init__(self, name_or_folder: str) -> None:
        from transformers import AutoTokenizer, GenerationConfig

        try:
            self.tokenizer = AutoTokenizer.from_pretrained(name_or_folder)
        except Exception as exc:  # noqa: BLE001 - any failure means no usable tokenizer
            raise LeapError(
                f"could not load the tokenizer of {name_or_folder}: {first_line(exc)}; pass a "
                "model folder or hub name that holds tokenizer files."
            ) from None
        eos: list[int] = []
        try:
            found = GenerationConfig.from_pretrained(name_or_folder).eos_token_id
            eos.extend(found if isinstance(found, list) else [found])
        except Exception:  # noqa: BLE001 - a model without generation_config.json is fine
            pass
        eos.append(self.tokenizer.eos_token_id)
        self.eos_token_ids = tuple(sorted({int(i) for i in eos if i is not None}))


def first_line(exc: BaseException, limit: int = 200) -> str:
    """The first line of an exception's message (or its type), cut to `limit` characters."""
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:limit]
