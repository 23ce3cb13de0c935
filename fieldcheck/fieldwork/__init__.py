"""Fieldwork: visit results submitted by couriers, sync and discoveries."""
