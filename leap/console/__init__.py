"""The `leap` command: the only package of `leap` that may start flows or touch deployments."""
