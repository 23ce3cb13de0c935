"""Endpoints of supervisors: results to review, and the photos behind them."""
