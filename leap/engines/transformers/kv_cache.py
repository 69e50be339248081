"""A batched KV cache whose rows grow independently, and the attention masks that go with it.

Each row of the batch keeps its real tokens contiguous from column 0: a row of length n
has its keys and values in columns 0..n-1, and whatever lies to the right of that is
scratch. A forward pass of W new positions writes row r's new keys and values at columns
n_r..n_r+W-1 (its own end, not a column shared by all rows), so rows of different lengths
never leave gaps inside one another: a row that was padded, or whose prompt dropped text
it had cached, simply continues from its real length and overwrites the scratch.

Why not transformers' `DynamicCache`: it appends every step with `torch.cat` (a copy of
the whole cache per layer per step) and at one column for all rows, so padding piles up
inside the shorter rows and every later decode step attends over it. LeaP's rows differ
in length all the time (peer blocks, summaries that stop at different points, trimmed
paragraphs); with a shared append column that padding made LeaP pay for much longer
contexts than it has.

The engine passes its own 4-D boolean mask, which transformers uses as is; SDPA then
takes its packed grouped-query path for one-token decode steps.
"""

from __future__ import annotations

import torch
from transformers.cache_utils import Cache, DynamicLayer

# Spare columns added when a buffer is full: half the needed width, at least this many.
_MIN_GROWTH = 256


class RaggedLayer(DynamicLayer):
    """One layer's keys and values, [rows, heads, columns, dim], each row left-aligned."""

    def __init__(self, owner: RaggedCache) -> None:
        super().__init__()
        self._owner = owner
        self._key_buffer: torch.Tensor | None = None
        self._value_buffer: torch.Tensor | None = None

    def update(
        self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        starts = self._owner.starts
        width = key_states.shape[-2]
        needed = int(starts.max()) + width
        if self._key_buffer is None or needed > self._key_buffer.shape[-2]:
            self._grow(key_states, value_states, needed)
        # Row r's new positions go to columns starts[r]..starts[r]+width-1. Advanced indexing
        # on rows and columns writes only those slots; `scatter_` with an expanded index
        # was measured to copy the whole buffer on every call (26x slower at 2K columns).
        columns = starts[:, None] + torch.arange(width, device=starts.device)[None, :]
        row_index = torch.arange(len(starts), device=starts.device)[:, None].expand_as(columns)
        # The indexed view is [rows, width, heads, dim]; the states are [rows, heads, width, dim].
        self._key_buffer[row_index, :, columns] = key_states.transpose(1, 2)  # type: ignore[index]
        self._value_buffer[row_index, :, columns] = value_states.transpose(1, 2)  # type: ignore[index]
        self.keys = self._key_buffer[..., :needed, :]  # type: ignore[index]
        self.values = self._value_buffer[..., :needed, :]  # type: ignore[index]
        return self.keys, self.values

    def _grow(self, key_states: torch.Tensor, value_states: torch.Tensor, needed: int) -> None:
        capacity = needed + max(_MIN_GROWTH, needed // 2)
        old_keys, old_values = self._key_buffer, self._value_buffer
        rows, heads, _, dim = key_states.shape
        self._key_buffer = key_states.new_zeros((rows, heads, capacity, dim))
        self._value_buffer = value_states.new_zeros((rows, heads, capacity, dim))
        if old_keys is not None and old_values is not None:
            kept = old_keys.shape[-2]
            self._key_buffer[..., :kept, :] = old_keys
            self._value_buffer[..., :kept, :] = old_values

    def row(self, index: int, length: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Copies of one row's first `length` keys and values, [1, heads, length, dim]."""
        assert self._key_buffer is not None and self._value_buffer is not None
        keys = self._key_buffer[index : index + 1, :, :length].clone()
        return keys, self._value_buffer[index : index + 1, :, :length].clone()

    def crop(self, tokens_to_remove: int) -> None:
        raise NotImplementedError("rows shrink by their length in the engine, not by cropping")

    def batch_repeat_interleave(self, repeats: int) -> None:
        raise NotImplementedError("the engine assembles batches itself")

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        raise NotImplementedError("the engine assembles batches itself")


class RaggedCache(Cache):
    """The cache of one batch; set `starts` (each row's real length) before every forward."""

    def __init__(self, layers: int, rows: int) -> None:
        super().__init__(layers=[RaggedLayer(self) for _ in range(layers)])
        self.starts = torch.zeros(rows, dtype=torch.long)

    def load_rows(self, rows: list[list[tuple[torch.Tensor, torch.Tensor]] | None]) -> None:
        """Fill the cache from per-row copies (`None` for a row with nothing cached)."""
        lengths = [r[0][0].shape[-2] if r else 0 for r in rows]
        template = next((r for r in rows if r), None)
        if template is None:
            return
        self.starts = torch.zeros(len(rows), dtype=torch.long)
        for layer_index, layer in enumerate(self.layers):
            k_like, v_like = template[layer_index]
            width = max(lengths)
            keys = k_like.new_zeros((len(rows), k_like.shape[1], width, k_like.shape[3]))
            values = v_like.new_zeros((len(rows), v_like.shape[1], width, v_like.shape[3]))
            for row, cached in enumerate(rows):
                if cached:
                    keys[row, :, : lengths[row]] = cached[layer_index][0][0]
                    values[row, :, : lengths[row]] = cached[layer_index][1][0]
            layer.update(keys, values)


def attention_mask(starts: torch.Tensor, queries: int) -> torch.Tensor:
    """The 4-D boolean mask for a forward of `queries` positions per row.

    Row r's query i sits at column starts[r] + i and sees every column up to and including
    its own: the row's cached tokens, then its new ones. Padding queries (past a row's
    real new tokens) see scratch too; their outputs are never used or kept, and each sees
    at least its own column, so no query is fully masked (that would produce NaN).
    """
    width = int(starts.max()) + queries
    own = starts[:, None] + torch.arange(queries, device=starts.device)[None, :]  # [rows, q]
    columns = torch.arange(width, device=starts.device)
    return (columns[None, None, :] <= own[:, :, None]).unsqueeze(1)  # [rows, 1, q, width]
