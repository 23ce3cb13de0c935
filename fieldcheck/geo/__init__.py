"""Coordinate systems, gazetteer matching and spatial helpers."""
