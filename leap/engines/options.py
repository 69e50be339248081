"""Settings of the vLLM and OpenAI-compatible engines that say where and how fast, not what.

They live in the run spec beside `engine`, but outside its content hash: the same run may
resume on a server at another address or on a machine with more GPUs. The API key of a
server is never an option (it would be stored with the run): it comes from the
environment, `LEAP_OPENAI_API_KEY` or else `OPENAI_API_KEY`.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class EngineOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # vLLM in process
    tensor_parallel_size: int = Field(1, ge=1, description="GPUs one model is split over")
    gpu_memory_utilization: float | None = Field(
        None, gt=0, le=1, description="share of GPU memory vLLM may take (vLLM's default if unset)"
    )
    max_model_len: int | None = Field(None, gt=0, description="longest context in tokens")
    max_num_seqs: int | None = Field(None, gt=0, description="sequences vLLM runs at once")
    enforce_eager: bool = Field(False, description="skip CUDA graphs / compilation (always on CPU)")
    block_size: int | None = Field(
        None, gt=0, description="KV cache block, the prefix cache's unit (vLLM's default if unset)"
    )
    # OpenAI-compatible server
    base_url: str | None = Field(
        None, description="e.g. http://127.0.0.1:8000/v1; else LEAP_OPENAI_BASE_URL/OPENAI_BASE_URL"
    )
    served_model: str | None = Field(None, description="the model's name on the server")
    tokenizer: str | None = Field(None, description="local tokenizer folder or hub name")
    max_concurrency: int = Field(16, ge=1, description="requests in flight to the server")
    request_timeout: float = Field(600.0, gt=0, description="seconds per request")
    max_retries: int = Field(4, ge=0, description="retries on connection errors and 5xx")
