"""Logging in, refreshing and revoking tokens, enrolling a courier's phone."""
