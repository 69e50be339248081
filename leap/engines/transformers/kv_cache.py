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

A forward may cover only a contiguous range of the rows (`first_row` and `len(starts)`):
the engine prefills the rows that join a running batch that way, without feeding padding
to the rows already generating.

The engine passes its own 4-D boolean mask, which transformers uses as is; SDPA then
takes its packed grouped-query path for one-token decode steps.
"""

from __future__ import annotations

import torch
from transformers.cache_utils import Cache, DynamicLayer

# Spare columns added when a buffer is full: half the needed width, at least this many.
_MIN_GROWTH = 256


class RaggedLayer(DynamicLayer):
    """One layer's keys and values, [rows, heads, columns, dim], each row left-aligned.

    The buffers have room for `owner.rows` rows; a forward covers a contiguous range of them.
    """

    def __init__(self, owner: RaggedCache) -> None:
        super().__init__()
        self._owner = owner
        self._key_buffer: torch.Tensor | None = None
        self._value_buffer: torch.Tensor | None = None

    def update(
        self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs
    ) -> tuple[torch.Tensor, torch.Tensor]:
        starts, first = self._owner.starts, self._owner.first_row
        width = key_states.shape[-2]
        needed = int(starts.max()) + width
        key_buffer, value_buffer = self._room(key_states, value_states, needed)
        # The rows this forward covers: a view, so writing into it writes the buffer.
        keys = key_buffer[first : first + len(starts)]
        values = value_buffer[first : first + len(starts)]
        # Row r's new positions go to columns starts[r]..starts[r]+width-1. Advanced indexing
        # on rows and columns writes only those slots; `scatter_` with an expanded index
        # was measured to copy the whole buffer on every call (26x slower at 2K columns).
        columns = starts[:, None] + torch.arange(width, device=starts.device)[None, :]
        row_index = torch.arange(len(starts), device=starts.device)[:, None].expand_as(columns)
        # The indexed view is [rows, width, heads, dim]; the states are [rows, heads, width, dim].
        keys[row_index, :, columns] = key_states.transpose(1, 2)
        values[row_index, :, columns] = value_states.transpose(1, 2)
        self.keys = keys[..., :needed, :]
        self.values = values[..., :needed, :]
        return self.keys, self.values

    def _room(
        self, k_like: torch.Tensor, v_like: torch.Tensor, columns: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The buffers, (re)allocated so that they hold `owner.rows` rows of `columns`
        columns at least; a reallocation copies what they held and adds room to grow.

        Zeros, not `empty`: masked scratch columns still meet the values in attention
        (weight 0 times garbage could be NaN).
        """
        if not self.is_initialized:
            self.lazy_initialization(k_like, v_like)
        old_keys, old_values = self._key_buffer, self._value_buffer
        rows = self._owner.rows
        if old_keys is not None and old_values is not None:
            if old_keys.shape[0] >= rows and old_keys.shape[-2] >= columns:
                return old_keys, old_values
            columns = max(columns, old_keys.shape[-2])
        if old_keys is None or columns > old_keys.shape[-2]:
            columns += max(_MIN_GROWTH, columns // 2)
        shape = (rows, k_like.shape[1], columns, k_like.shape[3])
        self._key_buffer, self._value_buffer = k_like.new_zeros(shape), v_like.new_zeros(shape)
        if old_keys is not None and old_values is not None:
            held_rows, held_columns = old_keys.shape[0], old_keys.shape[-2]
            self._key_buffer[:held_rows, :, :held_columns] = old_keys
            self._value_buffer[:held_rows, :, :held_columns] = old_values
        return self._key_buffer, self._value_buffer

    def put(self, index: int, keys: torch.Tensor, values: torch.Tensor) -> None:
        """Write one row's keys and values ([1, heads, length, dim]) into row `index`."""
        length = keys.shape[-2]
        key_buffer, value_buffer = self._room(keys, values, length)
        key_buffer[index, :, :length] = keys[0]
        value_buffer[index, :, :length] = values[0]

    def move(self, source: int, target: int, length: int) -> None:
        """Copy row `source`'s first `length` columns into row `target`."""
        assert self._key_buffer is not None and self._value_buffer is not None
        self._key_buffer[target, :, :length] = self._key_buffer[source, :, :length]
        self._value_buffer[target, :, :length] = self._value_buffer[source, :, :length]

    def row(
        self, index: int, length: int, *, copy: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One row's first `length` keys and values, [1, heads, length, dim]: copies, or
        views of the buffers (valid until the next write) with `copy=False`."""
        assert self._key_buffer is not None and self._value_buffer is not None
        keys = self._key_buffer[index : index + 1, :, :length]
        values = self._value_buffer[index : index + 1, :, :length]
        return (keys.clone(), values.clone()) if copy else (keys, values)

    def crop(self, tokens_to_remove: int) -> None:
        raise NotImplementedError("rows shrink by their length in the engine, not by cropping")

    def batch_repeat_interleave(self, repeats: int) -> None:
        raise NotImplementedError("the engine assembles batches itself")

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        raise NotImplementedError("the engine assembles batches itself")


RowState = list[tuple[torch.Tensor, torch.Tensor]]  # one row's (keys, values) per layer


class RaggedCache(Cache):
    """The cache of one batch, with room for `rows` rows.

    Before every forward set `starts` (the real length of each row the forward covers)
    and `first_row` (the first of those rows; 0 when it covers them from the first).
    """

    def __init__(self, layers: int, rows: int) -> None:
        super().__init__(layers=[RaggedLayer(self) for _ in range(layers)])
        self.rows = rows
        self.starts = torch.zeros(rows, dtype=torch.long)
        self.first_row = 0

    def reserve(self, rows: int) -> None:
        """Room for at least `rows` rows (doubling, so that rows joining one by one
        copy the buffers only a few times); buffers grow at their next write."""
        if rows > self.rows:
            self.rows = max(rows, 2 * self.rows)

    def put_row(self, index: int, state: RowState) -> None:
        """Write one row's state (per layer, [1, heads, length, dim] each) into row `index`."""
        for layer, (keys, values) in zip(self.layers, state, strict=True):
            layer.put(index, keys, values)  # type: ignore[attr-defined]

    def move_row(self, source: int, target: int, length: int) -> None:
        """Copy row `source`'s first `length` columns into row `target`, in every layer."""
        for layer in self.layers:
            layer.move(source, target, length)  # type: ignore[attr-defined]

    def row(self, index: int, length: int, *, copy: bool = True) -> RowState:
        """Row `index`'s first `length` keys and values in every layer (see `RaggedLayer.row`)."""
        return [layer.row(index, length, copy=copy) for layer in self.layers]  # type: ignore[attr-defined]

    def load_rows(self, rows: list[RowState | None]) -> None:
        """Fill rows 0, 1, ... from per-row states (`None` for a row with nothing cached);
        they are copied, so they may be views of another cache."""
        present = [state for state in rows if state]
        if not present:
            return
        self.reserve(len(rows))
        width = max(state[0][0].shape[-2] for state in present)
        for layer_index, layer in enumerate(self.layers):
            k_like, v_like = present[0][layer_index]
            layer._room(k_like, v_like, width)  # type: ignore[attr-defined]  # one allocation
        for index, state in enumerate(rows):
            if state:
                self.put_row(index, state)
        for layer in self.layers:
            layer.keys = layer._key_buffer[: len(rows), :, :width]  # type: ignore[attr-defined]
            layer.values = layer._value_buffer[: len(rows), :, :width]  # type: ignore[attr-defined]


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
