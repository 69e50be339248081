"""vLLM in the worker process: one engine shared by every problem solved there.

Solve tasks run in threads of one process and each calls `generate` for its own peer
group. A single background thread owns vLLM's `LLMEngine`: it takes the requests every
caller has queued, adds them to the engine, and steps it. Requests that arrive while
others are running join the running batch at the next step, so many problems are decoded
together (continuous batching) instead of one after another.

Prefix caching is on, and every continuation is sent as token ids (`TokensPrompt`), so a
path's next round finds its earlier context in the cache (in whole blocks: the unfinished
last block is recomputed). vLLM reports per request how many prompt tokens came from the
cache. vLLM is imported only when this engine is built: the rest of `leap` never needs it.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from leap.engines.base import GenerationRequest, GenerationResult
from leap.engines.models import DEFAULT_MODEL, leap_home, resolve_model
from leap.engines.options import VllmOptions
from leap.engines.tokenizer import ChatTokenizer, TokenizerText, first_line
from leap.errors import LeapError
from leap.stop import check_stop

_DTYPES = ("auto", "float32", "bfloat16", "float16")


@dataclass
class _Job:
    request: GenerationRequest
    done: threading.Event = field(default_factory=threading.Event)
    output: Any = None  # vllm.RequestOutput once finished
    error: str | None = None


class VllmEngine(TokenizerText):
    """vLLM's LLMEngine behind the `Engine` interface, safe to call from many threads."""

    name = "vllm"

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        dtype: str = "auto",
        options: VllmOptions | None = None,
    ) -> None:
        if dtype not in _DTYPES:
            raise LeapError(f"dtype {dtype!r} is not supported: use {', '.join(_DTYPES)}.")
        options = options or VllmOptions()
        _require_vllm()  # before the model is resolved (converting it would be wasted)
        folder = resolve_model(model)
        self.model_name = model
        self.text = ChatTokenizer(folder)
        self.tokenizer, self.eos_token_ids = self.text.tokenizer, self.text.eos_token_ids
        self._engine = _start_engine(folder, dtype, options)
        self._cond = threading.Condition()
        self._step_lock = threading.Lock()
        self._queue: list[tuple[str, _Job]] = []
        self._live: dict[str, _Job] = {}
        self._ids = itertools.count()
        self._closed = False
        self._broken: str | None = None
        self.peak_batch = 0  # most requests vLLM ran in one step so far (for tests/benches)
        self._loop = threading.Thread(target=self._run, name="vllm-engine-loop", daemon=True)
        self._loop.start()

    # -- generation ---------------------------------------------------------------------

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        jobs = [_Job(r) for r in requests]
        with self._cond:
            self._check_usable()
            for job in jobs:
                if job.request.max_new_tokens > 0:
                    self._queue.append((f"leap-{next(self._ids)}", job))
                else:
                    job.done.set()
            self._cond.notify_all()
        for job in jobs:
            while not job.done.wait(timeout=0.2):
                check_stop()  # the requests stay queued in vLLM; the process is ending
        failed = next((job.error for job in jobs if job.error), None)
        if failed:
            raise LeapError(failed)
        return [self._result(job) for job in jobs]

    def reset_cache(self) -> None:
        """Forget every cached prefix block; waits for the step in flight. Stays usable."""
        with self._cond:
            self._check_usable()
        with self._step_lock:
            self._engine.reset_prefix_cache()

    def close(self) -> None:
        """Stop the loop, fail what is still waiting, and shut vLLM's processes down."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
        self._loop.join()
        try:
            self._engine.engine_core.shutdown()
        except Exception:  # noqa: BLE001 - a core that already died has nothing to shut down
            pass

    # -- the loop -----------------------------------------------------------------------

    def _check_usable(self) -> None:
        if self._closed:
            raise LeapError("the vLLM engine was closed: create a new one.")
        if self._broken:
            raise LeapError(self._broken)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._live and not self._closed:
                    self._cond.wait()
                if self._closed:
                    self._fail_all("the vLLM engine was closed while requests were running.")
                    return
                arrived, self._queue = self._queue, []
            try:
                with self._step_lock:
                    for request_id, job in arrived:
                        self._add(request_id, job)
                    self.peak_batch = max(self.peak_batch, len(self._live))
                    outputs = self._engine.step() if self._live else []
            except Exception as exc:  # noqa: BLE001 - the engine core died or misbehaved
                with self._cond:
                    self._broken = (
                        f"the vLLM engine failed ({first_line(exc)}); the solve task fails "
                        "and the problem resumes from its last stored round on a new engine."
                    )
                    self._fail_all(self._broken)
                return
            for output in outputs:
                if output.finished:
                    job = self._live.pop(output.request_id, None)
                    if job is not None:
                        job.output = output
                        job.done.set()

    def _add(self, request_id: str, job: _Job) -> None:
        from vllm.inputs import TokensPrompt

        try:
            prompt = TokensPrompt(prompt_token_ids=[int(t) for t in job.request.prompt_ids])
            self._engine.add_request(request_id, prompt, _sampling_params(job.request))
        except Exception as exc:  # noqa: BLE001 - vLLM's verdict on this request (too long...)
            job.error = f"vLLM refused a request: {first_line(exc)}."
            job.done.set()
            return
        self._live[request_id] = job

    def _fail_all(self, reason: str) -> None:
        waiting = [job for _, job in self._queue] + list(self._live.values())
        self._queue.clear()
        self._live.clear()
        for job in waiting:
            job.error = reason
            job.done.set()

    # -- results ------------------------------------------------------------------------

    def _result(self, job: _Job) -> GenerationResult:
        request, out = job.request, job.output
        prompt_len = len(request.prompt_ids)
        if out is None:  # max_new_tokens <= 0: nothing to generate
            return GenerationResult([], "", "length", None, prompt_len, 0)
        completion = out.outputs[0]
        tokens = [int(t) for t in completion.token_ids]
        if completion.finish_reason == "stop":
            finish, stop = "stop", completion.stop_reason
            if stop is None and tokens:  # vLLM reports an end-of-sequence stop as None
                stop = tokens[-1]
        elif completion.finish_reason == "length":
            finish, stop = "length", None
        else:
            raise LeapError(
                f"vLLM ended a request with {completion.finish_reason!r}: the engine is "
                "overloaded or shutting down; the problem resumes from its last stored round."
            )
        cached = min(int(out.num_cached_tokens or 0), prompt_len)
        return GenerationResult(
            token_ids=tokens,
            text=self.text.visible_text(tokens),
            finish_reason=finish,
            stop_reason=stop,
            prompt_tokens_computed=prompt_len - cached,
            prompt_tokens_reused=cached,
        )


def _sampling_params(request: GenerationRequest):
    from vllm import SamplingParams
    from vllm.sampling_params import RequestOutputKind

    s = request.sampling
    return SamplingParams(
        # Only finished requests come back from a step, and only those with stop strings
        # are detokenized as they grow: the client side of a 32-sequence batch otherwise
        # rebuilds every request's output at every step, on the cores vLLM computes on.
        output_kind=RequestOutputKind.FINAL_ONLY,
        detokenize=bool(request.stop),
        temperature=s.temperature,
        top_p=s.top_p if s.temperature > 0 else 1.0,
        top_k=s.top_k,
        min_p=s.min_p,
        seed=request.seed & (2**63 - 1),
        max_tokens=request.max_new_tokens,
        stop=list(request.stop) or None,
        stop_token_ids=list(request.stop_token_ids) or None,
        include_stop_str_in_output=True,
        ignore_eos=request.ignore_eos,
        skip_special_tokens=True,
    )


def _require_vllm() -> None:
    try:
        import vllm  # noqa: F401
    except ImportError as exc:
        raise LeapError(
            f"the vllm engine needs vLLM, which does not import here ({first_line(exc)}): "
            "install the GPU profile (`pip install -e '.[gpu]'`) or use --engine transformers."
        ) from None


def _start_engine(folder: str, dtype: str, options: VllmOptions):
    # vLLM's caches stay under LEAP_HOME, and its INFO chatter stays out of the CLI.
    os.environ.setdefault("VLLM_CACHE_ROOT", str(leap_home() / "vllm"))
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
    _require_vllm()
    from vllm import EngineArgs
    from vllm.platforms import current_platform
    from vllm.v1.engine.llm_engine import LLMEngine

    settings: dict[str, Any] = {
        "model": folder,
        "dtype": dtype,
        "enable_prefix_caching": True,
        "tensor_parallel_size": options.tensor_parallel_size,
        # Graph capture/compilation takes minutes on a CPU and its cache does not reload.
        "enforce_eager": options.enforce_eager or current_platform.is_cpu(),
        "seed": 0,
    }
    if current_platform.is_cpu():
        # vLLM's CPU runner crashes when a seeded request's prefill is split over steps
        # ("CPU Generator does not use offset"): prefill every prompt in one step.
        settings["enable_chunked_prefill"] = False
    for name in ("gpu_memory_utilization", "max_model_len", "max_num_seqs", "block_size"):
        value = getattr(options, name)
        if value is not None:
            settings[name] = value
    try:
        return LLMEngine.from_engine_args(EngineArgs(**settings))
    except Exception as exc:  # noqa: BLE001 - any failure here means no usable engine
        raise LeapError(
            f"vLLM could not load model {folder}: {first_line(exc)}; check that it is a "
            "model vLLM supports and that the engine options fit this machine."
        ) from None
