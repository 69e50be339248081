"""The in-process transformers engine: the engine, its ragged KV cache, its sampler."""
