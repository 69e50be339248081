"""Lane-wide constants for the vLLM tests."""

BLOCK = 32  # vLLM on a CPU takes KV blocks in multiples of 32 tokens: the finest prefix cache
