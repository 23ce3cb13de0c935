"""Endpoints of the campaign office: accounts, imports, planning, progress."""
