"""Scoring: answer extraction and equivalence, and the metrics computed from them."""
