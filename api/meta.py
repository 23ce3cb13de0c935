"""Liveness and readiness probes for the load balancer."""

from __future__ import annotations

import marshmallow as ma
import sqlalchemy as sa
from flask import Response

from api.errors import problem_response
from api.extensions import Blueprint, Schema, db_session

blp = Blueprint("meta", __name__, description="Process and database health")


class HealthSchema(Schema):
    status = ma.fields.String(required=True, metadata={"description": "ok"})


@blp.get("/healthz")
@blp.process_only
@blp.response(200, HealthSchema)
def healthz() -> dict[str, str]:
    """The process is up"""
    return {"status": "ok"}


@blp.get("/readyz")
@blp.response(200, HealthSchema)
@blp.alt_response(503, description="The database cannot be reached")
def readyz() -> dict[str, str] | Response:
    """The process can reach its database"""
    try:
        db_session().execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError:
        return problem_response(
            503,
            code="database_unavailable",
            detail="the database cannot be reached",
            headers={"Retry-After": "5"},
        )
    return {"status": "ok"}
