"""In-process transformers engine that never recomputes a token it has already seen, and
batches the calls of several threads together.

The engine keeps ONE live batch: a KV cache whose rows are sequences (one row per
`cache_key`). A LeaP round continues the same paths, so the next call finds every path's
earlier context in the cache and only feeds what was appended since (the injected
tokens). Rows grow independently (see `leap.engines.transformers.kv_cache`): each keeps its
real tokens contiguous, position ids continue each row's own count, and a row computes
exactly what it would compute alone.

Continuous batching: `generate` may be called from several threads at once (one peer
group per problem). Each call queues its requests; whichever caller finds nobody running
the batch becomes the leader and runs decode steps for EVERY row in the batch until its own
call is done, then hands over to a caller still waiting. At each step boundary:

- rows that finished leave while other rows still generate: each is copied into its
  key's row cache and the batch's last row moves into its slot;
- the queued calls join: their rows are appended after the rows generating (from their
  row caches) and prefilled call by call, in forwards of their own (the generating rows
  wait for those passes).

So a change of membership copies only the rows that leave, move or join, never the
whole batch. When the last rows finish they stay in the live batch: the next call with
the same keys (a single caller's next round) starts without any copy; a call with other
keys, joining an idle batch, gets a batch assembled for it.

Each request samples with its own `torch.Generator`, so a row's tokens do not depend on
which rows share its batch (in float32 they are identical: `tests/test_engine_batching.py`).
"""

from __future__ import annotations

import itertools
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from leap.engines.base import GenerationRequest, GenerationResult
from leap.engines.models import DEFAULT_MODEL, resolve_model
from leap.engines.tokenizer import TokenizerText
from leap.engines.transformers.kv_cache import RaggedCache, RowState, attention_mask
from leap.engines.transformers.sampling import sample_next
from leap.errors import LeapError
from leap.stop import check_stop

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}

Reason = tuple[str, str | int | None]


def pick_cpu_dtype() -> torch.dtype:
    """bfloat16 where the CPU computes it natively (about twice float32's speed here)."""
    try:
        if torch.ops.mkldnn._is_mkldnn_bf16_supported():
            return torch.bfloat16
    except (AttributeError, RuntimeError):
        pass
    return torch.float32


@dataclass
class _RowCache:
    """One sequence's cache, compact: `layers[i]` holds keys/values of `tokens`, in order."""

    tokens: list[int]
    layers: RowState


@dataclass(eq=False)
class _Call:
    """One `generate` call: its requests and, once admitted, one `_Row` per request."""

    requests: Sequence[GenerationRequest]
    rows: list[_Row] = field(default_factory=list)
    left: int = 0  # rows still generating
    done: bool = False
    error: BaseException | None = None


@dataclass(eq=False)
class _Row:
    """One request being generated: its key, its own random generator, its output so far."""

    call: _Call
    request: GenerationRequest
    key: str
    generator: torch.Generator
    stop_ids: frozenset[int]
    reused: int = 0
    output: list[int] = field(default_factory=list)
    reason: Reason | None = None


@dataclass
class _Batch:
    keys: list[str]
    tokens: list[list[int]]  # per row, the real tokens whose keys/values the cache holds
    cache: RaggedCache
    work: list[_Row | None]  # the request a row generates for; None: idle, kept for its cache
    logits: torch.Tensor | None = None  # per row, the logits of its next token


class TransformersEngine(TokenizerText):
    """A causal LM from transformers, on the CPU by default, with per-path KV reuse and
    continuous batching of concurrent calls."""

    name = "transformers"

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        dtype: str = "auto",
        device: str = "cpu",
        threads: int | None = None,
        prefill_chunk: int = 512,
        max_cached_rows: int = 64,
    ) -> None:
        if dtype != "auto" and dtype not in _DTYPES:
            raise LeapError(f"dtype {dtype!r} is not supported: use auto, {', '.join(_DTYPES)}.")
        folder = resolve_model(model)
        torch.set_num_threads(threads or os.cpu_count() or 1)
        self.dtype = pick_cpu_dtype() if dtype == "auto" else _DTYPES[dtype]
        self.device = torch.device(device)
        self.model_name = model
        self.tokenizer, self.model = _load(folder, self.dtype, self.device)
        eos = self.model.generation_config.eos_token_id
        eos_ids = eos if isinstance(eos, list) else [eos]
        if self.tokenizer.eos_token_id is not None:
            eos_ids.append(self.tokenizer.eos_token_id)
        self.eos_token_ids = tuple(sorted({int(i) for i in eos_ids if i is not None}))
        self._pad_id = self.eos_token_ids[0] if self.eos_token_ids else 0
        self._decoder = self.model.get_decoder()
        self._lm_head = self.model.get_output_embeddings()
        self._prefill_chunk = prefill_chunk
        self._max_cached_rows = max_cached_rows
        # Only the leader touches the batch, the row caches and the rows' state. The
        # condition guards the queue, `_leading`, `_admitted` and every call's `done`.
        self._batch: _Batch | None = None
        self._rows: OrderedDict[str, _RowCache] = OrderedDict()
        self._cond = threading.Condition()
        self._queue: list[_Call] = []  # calls waiting to join the batch
        self._admitted: list[_Call] = []  # calls with rows in the batch, not done
        self._leading = False
        self._anonymous = itertools.count()
        self._closing = False
        self._closed = False
        # Measures of batching: the most rows sampled in one decode step, and forwards run.
        self.peak_batch = 0
        self.forward_passes = 0

    def reset_cache(self) -> None:
        """Forget every kept row cache and idle row; the engine stays usable.

        Rows that calls in flight are generating keep their state (their calls go on).
        """
        with self._cond:
            while self._leading:
                self._cond.wait()
            self._rows.clear()
            batch = self._batch
            if batch is None or not any(batch.work):
                self._batch = None
                return
            for row, work in enumerate(batch.work):
                if work is None:  # forgotten: never served to a later call, never kept
                    batch.keys[row] = self._anonymous_key()

    def close(self) -> None:
        """Let the calls in flight finish, then release the model and its caches;
        `generate` afterwards is a LeapError."""
        with self._cond:
            self._closing = True
            while self._leading or self._queue or self._admitted:
                self._cond.wait()
            self._batch = None
            self._rows.clear()
            self._closed = True
            self.model = self._decoder = self._lm_head = None

    # -- generation ---------------------------------------------------------------------

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        if not requests:
            return []
        call = _Call(requests)
        with self._cond:
            if self._closing:
                raise LeapError("the transformers engine was closed: create a new one.")
            self._queue.append(call)
        while self._wait_or_lead(call):
            try:
                self._lead(call)
            finally:
                with self._cond:
                    self._leading = False
                    self._cond.notify_all()
        if call.error is not None:
            raise call.error
        return [
            GenerationResult(
                token_ids=row.output,
                text=self.visible_text(row.output),
                finish_reason=row.reason[0],  # type: ignore[index,arg-type]
                stop_reason=row.reason[1],  # type: ignore[index]
                prompt_tokens_computed=len(row.request.prompt_ids) - row.reused,
                prompt_tokens_reused=row.reused,
            )
            for row in call.rows
        ]

    def _wait_or_lead(self, call: _Call) -> bool:
        """Wait until `call` is done (False) or nobody runs the batch (True: lead it)."""
        with self._cond:
            while self._leading and not call.done:
                self._cond.wait()
            if call.done:
                return False
            self._leading = True
            return True

    def _lead(self, call: _Call) -> None:
        """Run steps for every row in the batch until `call` is done."""
        try:
            with torch.inference_mode():
                while not call.done:
                    self._step()
        except BaseException as exc:
            self._fail(exc, call)

    def _fail(self, exc: BaseException, call: _Call) -> None:
        """Every unfinished call in the batch, and the leader's own, fails with `exc` (a stop
        request stops them all). The batch is dropped: a forward may have left it half written."""
        with self._cond:
            if call in self._queue:
                self._queue.remove(call)
            for failed in {*self._admitted, call}:
                if not failed.done:
                    failed.error, failed.done = exc, True
            self._admitted.clear()
            self._batch = None
            self._cond.notify_all()

    def _step(self) -> None:
        """One step boundary (finished rows leave, queued calls join), then one decode step."""
        check_stop()
        with self._cond:
            joining, self._queue = self._queue, []
            self._admitted.extend(joining)
        batch = self._batch
        if batch is not None and any(batch.work) and None in batch.work:
            self._leave(batch)
        if joining:
            self._join(joining)
        self._decode_step()

    # -- membership ---------------------------------------------------------------------

    def _leave(self, batch: _Batch) -> None:
        """Idle rows leave a batch whose other rows go on: each is kept as a row cache and
        the batch's last row moves into its place (a copy of the rows that move, only)."""
        for i in reversed(range(len(batch.keys))):
            if batch.work[i] is not None:
                continue
            self._keep(batch, i)
            last = len(batch.keys) - 1
            if i != last:
                batch.cache.move_row(last, i, len(batch.tokens[last]))
                batch.logits[i] = batch.logits[last]  # type: ignore[index]
                for seq in (batch.keys, batch.tokens, batch.work):
                    seq[i] = seq[last]  # type: ignore[index]
            for seq in (batch.keys, batch.tokens, batch.work):
                seq.pop()  # type: ignore[attr-defined]
            batch.logits = batch.logits[:last]  # type: ignore[index]

    def _join(self, joining: list[_Call]) -> None:
        """The rows of `joining` join the batch after the rows already in it, and are
        prefilled there. With no row generating, the batch is made of them alone."""
        batch = self._batch
        live = batch is not None and any(batch.work)
        in_use = {batch.keys[i] for i, w in enumerate(batch.work) if w} if live else set()  # type: ignore[union-attr]
        new_rows: list[_Row] = []
        for call in joining:
            call.rows = [self._new_row(call, request, in_use) for request in call.requests]
            call.left = len(call.rows)
            new_rows.extend(call.rows)
        keys = [row.key for row in new_rows]
        if batch is None or not live:
            if batch is None or batch.keys != keys:  # the same keys in order: reused in place
                batch = self._assemble(batch, keys)
            batch.work, batch.logits = [], None
        first = len(batch.keys) if batch.work else 0
        if first:  # appended after the rows generating; their states from the row caches
            batch.cache.reserve(first + len(new_rows))
            for index, key in enumerate(keys, start=first):
                cached = self._rows.pop(key, None)
                batch.keys.append(key)
                batch.tokens.append(list(cached.tokens) if cached else [])
                if cached:
                    batch.cache.put_row(index, cached.layers)
        batch.work.extend(new_rows)
        self._batch = batch
        # Call by call: no row is padded to another call's prompt, and each call's prefill
        # is the forward it would get alone.
        pieces = [] if batch.logits is None else [batch.logits]
        for call in joining:
            prompts = [row.request.prompt_ids for row in call.rows]
            reused, logits = self._feed_prompts(batch, first, prompts)
            pieces.append(logits)
            for index, (row, hit) in enumerate(zip(call.rows, reused, strict=True), start=first):
                row.reused = hit
                if row.request.max_new_tokens <= 0:
                    row.reason = ("length", None)
                    self._finish(batch, index)
            first += len(call.rows)
        batch.logits = torch.cat(pieces)

    def _new_row(self, call: _Call, request: GenerationRequest, in_use: set[str]) -> _Row:
        key = request.cache_key
        if key is None or key in in_use:  # a key can name only one row at a time
            key = self._anonymous_key()
        in_use.add(key)
        stop_ids = set(request.stop_token_ids)
        if not request.ignore_eos:
            stop_ids |= set(self.eos_token_ids)
        return _Row(
            call=call,
            request=request,
            key=key,
            generator=torch.Generator().manual_seed(request.seed & (2**63 - 1)),
            stop_ids=frozenset(stop_ids),
        )

    def _anonymous_key(self) -> str:
        return f"\0anonymous-{next(self._anonymous)}"

    def _assemble(self, old: _Batch | None, keys: list[str]) -> _Batch:
        """A batch of rows `keys`, each from where its state lies: an idle row of `old`, a
        row cache, or nowhere (empty). Rows of `old` left out are kept as row caches."""
        place = {key: i for i, key in enumerate(old.keys)} if old else {}
        states: list[RowState | None] = []
        tokens: list[list[int]] = []
        for key in keys:
            i = place.pop(key, None)
            cached = self._rows.pop(key, None)
            if old is not None and i is not None:
                states.append(old.cache.row(i, len(old.tokens[i]), copy=False))
                tokens.append(old.tokens[i])
            else:
                states.append(cached.layers if cached else None)
                tokens.append(list(cached.tokens) if cached else [])
        for i in place.values():
            self._keep(old, i)  # type: ignore[arg-type]
        cache = RaggedCache(self.model.config.num_hidden_layers, len(keys))
        cache.load_rows([state if t else None for state, t in zip(states, tokens, strict=True)])
        return _Batch(keys=list(keys), tokens=tokens, cache=cache, work=[])

    def _keep(self, batch: _Batch, row: int) -> None:
        """Copy a row leaving `batch` into its key's row cache (the oldest caches go first)."""
        key = batch.keys[row]
        if key.startswith("\0anonymous") or not batch.tokens[row]:
            return
        state = batch.cache.row(row, len(batch.tokens[row]))
        self._rows[key] = _RowCache(tokens=list(batch.tokens[row]), layers=state)
        self._rows.move_to_end(key)
        while len(self._rows) > self._max_cached_rows:
            self._rows.popitem(last=False)

    # -- model work ---------------------------------------------------------------------

    def _feed_prompts(
        self, batch: _Batch, first: int, prompts: Sequence[Sequence[int]]
    ) -> tuple[list[int], torch.Tensor]:
        """Bring rows `first`, `first + 1`, ... up to their prompts (the rows before them
        take no part); return reused counts and next-token logits."""
        reused: list[int] = []
        tails: list[list[int]] = []
        for offset, prompt in enumerate(prompts):
            prompt = list(prompt)
            have = batch.tokens[first + offset]
            shared = _common_prefix(have, prompt)
            # The last prompt token must be fed to get the next-token logits.
            shared = min(shared, len(prompt) - 1)
            # A prompt that drops cached text: the row continues from the shared prefix
            # and overwrites the rest.
            del have[shared:]
            reused.append(shared)
            tails.append(prompt[shared:])
        last_hidden: list[torch.Tensor | None] = [None] * len(prompts)
        start = 0
        longest = max(len(t) for t in tails)
        while start < longest:
            check_stop()
            chunk = [t[start : start + self._prefill_chunk] for t in tails]
            hidden = self._forward(batch, chunk, first)
            for row, piece in enumerate(chunk):
                if piece and start + len(piece) == len(tails[row]):
                    last_hidden[row] = hidden[row, len(piece) - 1]
            start += self._prefill_chunk
        return reused, self._logits(torch.stack(last_hidden))  # type: ignore[arg-type]

    def _forward(
        self, batch: _Batch, pieces: Sequence[Sequence[int]], first: int = 0
    ) -> torch.Tensor:
        """Append `pieces[i]` to row `first + i` (rows may get nothing); return hidden states."""
        rows, width = len(pieces), max(len(p) for p in pieces)
        ids = torch.full((rows, width), self._pad_id, dtype=torch.long)
        starts = torch.tensor([len(t) for t in batch.tokens[first : first + rows]])
        positions = starts[:, None] + torch.arange(width)[None, :]
        for row, piece in enumerate(pieces):
            if piece:
                ids[row, : len(piece)] = torch.tensor(piece, dtype=torch.long)
                batch.tokens[first + row].extend(piece)
        batch.cache.starts = starts.to(self.device)
        batch.cache.first_row = first
        self.forward_passes += 1
        out = self._decoder(
            input_ids=ids.to(self.device),
            attention_mask=attention_mask(batch.cache.starts, width),
            position_ids=positions.to(self.device),
            past_key_values=batch.cache,
            use_cache=True,
        )
        return out.last_hidden_state

    def _logits(self, hidden: torch.Tensor) -> torch.Tensor:
        return self._lm_head(hidden).float()

    def _decode_step(self) -> None:
        """Sample one token for every generating row, then feed the rows that go on."""
        batch = self._batch
        if batch is None:
            return
        live = [i for i, work in enumerate(batch.work) if work is not None]
        if not live:
            return
        self.peak_batch = max(self.peak_batch, len(live))
        rows: list[_Row] = [batch.work[i] for i in live]  # type: ignore[misc]
        tokens = sample_next(
            batch.logits[live],  # type: ignore[index]
            [row.request.sampling for row in rows],
            [row.generator for row in rows],
        )
        feed: list[list[int]] = [[] for _ in batch.work]
        for i, row, token in zip(live, rows, tokens, strict=True):
            row.output.append(token)
            row.reason = self._stop_reason(row.request, row.output, row.stop_ids)
            if row.reason is None:
                feed[i] = [token]
            else:
                self._finish(batch, i)
        if any(feed):
            hidden = self._forward(batch, feed)
            batch.logits = self._logits(hidden[:, -1])

    def _finish(self, batch: _Batch, i: int) -> None:
        """Row `i` is done: it turns idle, and its call returns when it was the last one."""
        row = batch.work[i]
        assert row is not None
        batch.work[i] = None
        row.call.left -= 1
        if row.call.left == 0:
            with self._cond:
                row.call.done = True
                self._admitted.remove(row.call)
                self._cond.notify_all()

    def _stop_reason(
        self, request: GenerationRequest, out: list[int], stop_ids: frozenset[int]
    ) -> Reason | None:
        token = out[-1]
        if token in stop_ids:
            return ("stop", token)
        if request.stop:
            # Only the newest tokens can complete a stop string that was not there before.
            window = max(len(s) for s in request.stop) + 2
            tail = self.tokenizer.decode(out[-window:], skip_special_tokens=False)
            for stop in request.stop:
                if stop in tail:
                    return ("stop", stop)
        if len(out) >= request.max_new_tokens:
            return ("length", None)
        return None


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


def _load(folder: str, dtype: torch.dtype, device: torch.device):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(folder)
        # SDPA with the engine's own boolean 4-D masks (see leap.engines.transformers.kv_cache).
        model = AutoModelForCausalLM.from_pretrained(
            folder, dtype=dtype, attn_implementation="sdpa"
        )
    except Exception as exc:  # noqa: BLE001 - any failure here means an unusable model
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise LeapError(
            f"could not load model {folder}: {reason[:200]}; check that it is a complete "
            "Hugging Face causal language model folder or hub name."
        ) from None
    model.to(device)
    model.eval()
    return tokenizer, model
