"""In-process transformers engine that never recomputes a token it has already seen.

The engine keeps ONE live batch: a KV cache whose rows are the sequences of the last call
(one row per `cache_key`). A LeaP round continues the same paths, so the next call finds
every path's earlier context in the cache and only feeds what was appended since (the
injected tokens). Rows grow independently (see `leap.engines.transformers.kv_cache`): each keeps its
real tokens contiguous, position ids continue each row's own count, and a row computes
exactly what it would compute alone.

When a call asks for a different set of keys (another problem, or fewer paths), the live
batch is split into compact per-key row caches, and the new batch is assembled from them;
rows with no cached state start empty.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from leap.engines.base import GenerationRequest, GenerationResult
from leap.engines.models import DEFAULT_MODEL, resolve_model
from leap.engines.tokenizer import TokenizerText
from leap.engines.transformers.kv_cache import RaggedCache, attention_mask
from leap.engines.transformers.sampling import sample_next
from leap.errors import LeapError
from leap.stop import check_stop

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


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
    layers: list[tuple[torch.Tensor, torch.Tensor]]


@dataclass
class _Batch:
    keys: list[str]
    tokens: list[list[int]]  # per row, the real tokens whose keys/values the cache holds
    cache: RaggedCache


class TransformersEngine(TokenizerText):
    """A causal LM from transformers, on the CPU by default, with per-path KV reuse."""

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
        self._batch: _Batch | None = None
        self._rows: OrderedDict[str, _RowCache] = OrderedDict()
        self._lock = threading.Lock()
        self._anonymous = itertools.count()
        self._closed = False

    def reset_cache(self) -> None:
        """Forget the live batch and every kept row cache; the engine stays usable."""
        with self._lock:
            self._batch = None
            self._rows.clear()

    def close(self) -> None:
        """Release the model and its caches; `generate` afterwards is a LeapError."""
        with self._lock:
            self._batch = None
            self._rows.clear()
            self._closed = True
            self.model = self._decoder = self._lm_head = None

    # -- generation ---------------------------------------------------------------------

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        if not requests:
            return []
        with self._lock, torch.inference_mode():
            if self._closed:
                raise LeapError("the transformers engine was closed: create a new one.")
            keys = self._request_keys(requests)
            batch = self._batch_for(keys)
            reused, logits = self._feed_prompts(batch, [r.prompt_ids for r in requests])
            outputs, reasons = self._decode(batch, requests, logits)
            self._batch = batch
        results = []
        rows = zip(requests, outputs, reasons, reused, strict=True)
        for request, out, (finish, stop), hit in rows:
            results.append(
                GenerationResult(
                    token_ids=out,
                    text=self.visible_text(out),
                    finish_reason=finish,
                    stop_reason=stop,
                    prompt_tokens_computed=len(request.prompt_ids) - hit,
                    prompt_tokens_reused=hit,
                )
            )
        return results

    def _request_keys(self, requests: Sequence[GenerationRequest]) -> list[str]:
        keys: list[str] = []
        for request in requests:
            key = request.cache_key
            if key is None or key in keys:
                key = f"\0anonymous-{next(self._anonymous)}"
            keys.append(key)
        return keys

    def _batch_for(self, keys: list[str]) -> _Batch:
        """The live batch if it holds exactly these keys, else one assembled from row caches."""
        if self._batch is not None and self._batch.keys == keys:
            return self._batch
        if self._batch is not None:
            self._split(self._batch)
            self._batch = None
        rows = [self._rows.pop(key, None) for key in keys]
        return self._assemble(keys, rows)

    def _split(self, batch: _Batch) -> None:
        for row, key in enumerate(batch.keys):
            if key.startswith("\0anonymous") or not batch.tokens[row]:
                continue
            length = len(batch.tokens[row])
            kept = [layer.row(row, length) for layer in batch.cache.layers]
            self._rows[key] = _RowCache(tokens=list(batch.tokens[row]), layers=kept)
            self._rows.move_to_end(key)
        while len(self._rows) > self._max_cached_rows:
            self._rows.popitem(last=False)

    def _assemble(self, keys: list[str], rows: list[_RowCache | None]) -> _Batch:
        cache = RaggedCache(self.model.config.num_hidden_layers, len(keys))
        cache.load_rows([r.layers if r and r.tokens else None for r in rows])
        return _Batch(keys=keys, tokens=[list(r.tokens) if r else [] for r in rows], cache=cache)

    def _feed_prompts(
        self, batch: _Batch, prompts: Sequence[Sequence[int]]
    ) -> tuple[list[int], torch.Tensor]:
        """Bring every row's cache up to its prompt; return reused counts and next-token logits."""
        reused: list[int] = []
        tails: list[list[int]] = []
        for row, prompt in enumerate(prompts):
            prompt = list(prompt)
            have = batch.tokens[row]
            shared = _common_prefix(have, prompt)
            # The last prompt token must be fed to get the next-token logits.
            shared = min(shared, len(prompt) - 1)
            # A prompt that drops cached text: the row continues from the shared prefix
            # and overwrites the rest.
            del batch.tokens[row][shared:]
            reused.append(shared)
            tails.append(prompt[shared:])
        last_hidden: list[torch.Tensor | None] = [None] * len(prompts)
        start = 0
        longest = max(len(t) for t in tails)
        while start < longest:
            check_stop()
            chunk = [t[start : start + self._prefill_chunk] for t in tails]
            hidden = self._forward(batch, chunk)
            for row, piece in enumerate(chunk):
                if piece and start + len(piece) == len(tails[row]):
                    last_hidden[row] = hidden[row, len(piece) - 1]
            start += self._prefill_chunk
        return reused, self._logits(torch.stack(last_hidden))  # type: ignore[arg-type]

    def _forward(self, batch: _Batch, pieces: Sequence[Sequence[int]]) -> torch.Tensor:
        """Append `pieces[row]` to each row (rows may get nothing); return hidden states."""
        rows, width = len(pieces), max(len(p) for p in pieces)
        ids = torch.full((rows, width), self._pad_id, dtype=torch.long)
        starts = torch.tensor([len(t) for t in batch.tokens], dtype=torch.long)
        positions = starts[:, None] + torch.arange(width)[None, :]
        for row, piece in enumerate(pieces):
            if piece:
                ids[row, : len(piece)] = torch.tensor(piece, dtype=torch.long)
                batch.tokens[row].extend(piece)
        batch.cache.starts = starts.to(self.device)
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

    def _decode(
        self, batch: _Batch, requests: Sequence[GenerationRequest], logits: torch.Tensor
    ) -> tuple[list[list[int]], list[tuple[str, str | int | None]]]:
        generators = [torch.Generator().manual_seed(r.seed & (2**63 - 1)) for r in requests]
        outputs: list[list[int]] = [[] for _ in requests]
        reasons: list[tuple[str, str | int | None] | None] = [None] * len(requests)
        for row, request in enumerate(requests):
            if request.max_new_tokens <= 0:
                reasons[row] = ("length", None)
        stop_ids = [
            set(r.stop_token_ids) | (set() if r.ignore_eos else set(self.eos_token_ids))
            for r in requests
        ]
        while True:
            check_stop()
            live = [row for row, reason in enumerate(reasons) if reason is None]
            if not live:
                break
            tokens = sample_next(
                logits[live], [requests[r].sampling for r in live], [generators[r] for r in live]
            )
            feed: list[list[int]] = [[] for _ in requests]
            for row, token in zip(live, tokens, strict=True):
                outputs[row].append(token)
                reasons[row] = self._stop_reason(requests[row], outputs[row], stop_ids[row])
                if reasons[row] is None:
                    feed[row] = [token]
            if not any(feed):
                break
            hidden = self._forward(batch, feed)
            logits = self._logits(hidden[:, -1])
        return outputs, reasons  # type: ignore[return-value]

    def _stop_reason(
        self, request: GenerationRequest, out: list[int], stop_ids: set[int]
    ) -> tuple[str, str | int | None] | None:
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
