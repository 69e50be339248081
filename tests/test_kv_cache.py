"""The ragged KV cache and the engine's attention masks (pure tensor logic)."""

from __future__ import annotations

import torch

from leap.engines.transformers.kv_cache import RaggedCache, attention_mask


def write(cache: RaggedCache, starts: list[int], states: torch.Tensor):
    cache.starts = torch.tensor(starts)
    return cache.update(states, -states, 0)


def test_each_row_continues_from_its_own_length() -> None:
    cache = RaggedCache(layers=1, rows=2)
    first = torch.arange(1, 7, dtype=torch.float32).reshape(2, 1, 3, 1)  # 3 new per row
    write(cache, [0, 0], first)
    # row 0 kept 1 token (its prompt dropped the rest), row 1 all 3; both get 2 more
    second = torch.tensor([10.0, 11.0, 20.0, 21.0]).reshape(2, 1, 2, 1)
    keys, values = write(cache, [1, 3], second)
    assert keys.shape[-2] == 5  # the longest row: 3 + 2
    assert keys[0, 0, :3, 0].tolist() == [1.0, 10.0, 11.0]
    assert keys[1, 0, :5, 0].tolist() == [4.0, 5.0, 6.0, 20.0, 21.0]
    assert torch.equal(values[1, 0, :5], -keys[1, 0, :5])


def test_buffers_grow_and_keep_what_they_held() -> None:
    cache = RaggedCache(layers=1, rows=1)
    written = []
    length = 0
    for n in (5, 300, 1, 700):
        piece = torch.randn(1, 2, n, 4)
        keys, _ = write(cache, [length], piece)
        written.append(piece)
        length += n
        assert torch.equal(keys[..., :length, :], torch.cat(written, dim=-2))


def test_load_rows_places_each_row_from_column_zero() -> None:
    cache = RaggedCache(layers=1, rows=3)
    row = torch.ones(1, 2, 4, 3)
    cache.load_rows([[(row, row * 2)], None, [(row[:, :, :2] * 3, row[:, :, :2])]])
    keys = cache.layers[0].keys
    assert keys.shape == (3, 2, 4, 3)
    assert keys[0].eq(1).all() and keys[2, :, :2].eq(3).all()
    assert torch.equal(cache.layers[0].row(2, 2)[0], row[:, :, :2] * 3)


def test_attention_mask_is_causal_per_row_and_never_empty() -> None:
    mask = attention_mask(torch.tensor([3, 0]), queries=2)
    assert mask.shape == (2, 1, 2, 5)
    assert mask[0, 0, 0].tolist() == [True, True, True, True, False]
    assert mask[0, 0, 1].tolist() == [True, True, True, True, True]
    # an empty row: its first query sees only its own column
    assert mask[1, 0, 0].tolist() == [True, False, False, False, False]
    assert mask[1, 0, 1].tolist() == [True, True, False, False, False]
