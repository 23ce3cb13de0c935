"""Supervisor review of visit results, and the verdicts (findings) derived from them."""
