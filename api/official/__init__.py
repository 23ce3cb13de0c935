"""Endpoints of the bureaus' officials: their cleaned registry and its evidence."""
