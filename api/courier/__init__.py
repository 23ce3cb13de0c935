"""Endpoints of the phone app: profile, sync, photos, results, discoveries."""
