"""Dispatch: segment neighbours, assignment of visits to couriers, day plans and route order."""
