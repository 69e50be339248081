"""Inference engines behind one interface (see `leap.engines.base`)."""

from leap.engines.base import (
    Engine,
    FinishReason,
    GenerationRequest,
    GenerationResult,
    SamplingParams,
)

__all__ = ["Engine", "FinishReason", "GenerationRequest", "GenerationResult", "SamplingParams"]
