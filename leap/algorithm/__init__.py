"""The LeaP algorithm as data and pure functions: config, records, prompts, routing, seeds,
and the peer group that drives an engine round by round. No I/O happens here."""
