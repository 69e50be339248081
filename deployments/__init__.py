"""What a Prefect server and its GPU workers need: the pool, the GPU limits, the deployments."""
