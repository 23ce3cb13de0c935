"""Cleaned registries for the bureaus: actions, rows, files, exports, campaign report."""
