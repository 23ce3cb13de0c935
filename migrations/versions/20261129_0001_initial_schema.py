"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import geoalchemy2
import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.create_geospatial_table('businesses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('origin', sa.Enum('registry', 'field', name='business_origin', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('address', sa.Text(), nullable=True),
    sa.Column('town', sa.String(length=32), nullable=True),
    sa.Column('uscc', sa.String(length=18), nullable=True),
    sa.Column('location', Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry'), nullable=True),
    sa.Column('location_precision', sa.Enum('address', 'township', 'ambiguous', 'unlocated', 'visit', name='location_precision', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('location_source', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_businesses'))
    )
    op.create_geospatial_index('idx_businesses_location', 'businesses', ['location'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_index(op.f('ix_businesses_town'), 'businesses', ['town'], unique=False)
    op.create_index(op.f('ix_businesses_uscc'), 'businesses', ['uscc'], unique=False)
    op.create_table('campaigns',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('state', sa.Enum('draft', 'planned', 'active', 'closed', name='campaign_state', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('scope', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('rules', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('starts_on', sa.Date(), nullable=True),
    sa.Column('ends_on', sa.Date(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaigns')),
    sa.UniqueConstraint('name', name=op.f('uq_campaigns_name'))
    )
    op.create_geospatial_table('territories',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('area', Geometry(geometry_type='MULTIPOLYGON', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.Column('station', Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry'), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_territories')),
    sa.UniqueConstraint('code', name=op.f('uq_territories_code'))
    )
    op.create_geospatial_index('idx_territories_area', 'territories', ['area'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_geospatial_index('idx_territories_station', 'territories', ['station'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('display_name', sa.String(length=128), nullable=False),
    sa.Column('role', sa.Enum('admin', 'supervisor', 'courier', 'official', name='user_role', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('bureau', sa.Enum('tax', 'commerce', name='user_bureau', native_enum=False, create_constraint=True, length=32), nullable=True),
    sa.Column('may_see_id_numbers', sa.Boolean(), nullable=False),
    sa.Column('password_hash', sa.String(length=256), nullable=True),
    sa.Column('phone', sa.String(length=32), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("(role = 'official') = (bureau IS NOT NULL)", name=op.f('ck_users_official_has_bureau')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('username', name=op.f('uq_users_username'))
    )
    op.create_table('audit_events',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('object_type', sa.String(length=32), nullable=True),
    sa.Column('object_id', sa.String(length=64), nullable=True),
    sa.Column('client_address', sa.String(length=64), nullable=True),
    sa.Column('details', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_audit_events_actor_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_events'))
    )
    op.create_index(op.f('ix_audit_events_action'), 'audit_events', ['action'], unique=False)
    op.create_index(op.f('ix_audit_events_actor_id'), 'audit_events', ['actor_id'], unique=False)
    op.create_index(op.f('ix_audit_events_at'), 'audit_events', ['at'], unique=False)
    op.create_table('campaign_supervisors',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('added_by_id', sa.Integer(), nullable=True),
    sa.Column('added_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['added_by_id'], ['users.id'], name=op.f('fk_campaign_supervisors_added_by_id_users')),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_campaign_supervisors_campaign_id_campaigns'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_campaign_supervisors_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'campaign_id', name=op.f('pk_campaign_supervisors'))
    )
    op.create_index(op.f('ix_campaign_supervisors_campaign_id'), 'campaign_supervisors', ['campaign_id'], unique=False)
    op.create_geospatial_table('couriers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('staff_no', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('phone', sa.String(length=32), nullable=True),
    sa.Column('territory_id', sa.Integer(), nullable=True),
    sa.Column('station', Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry'), nullable=True),
    sa.ForeignKeyConstraint(['territory_id'], ['territories.id'], name=op.f('fk_couriers_territory_id_territories')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_couriers_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_couriers')),
    sa.UniqueConstraint('staff_no', name=op.f('uq_couriers_staff_no')),
    sa.UniqueConstraint('user_id', name=op.f('uq_couriers_user_id'))
    )
    op.create_geospatial_index('idx_couriers_station', 'couriers', ['station'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_index(op.f('ix_couriers_territory_id'), 'couriers', ['territory_id'], unique=False)
    op.create_table('enrolment_codes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_enrolment_codes_created_by_id_users')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_enrolment_codes_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_enrolment_codes')),
    sa.UniqueConstraint('code_hash', name=op.f('uq_enrolment_codes_code_hash'))
    )
    op.create_index(op.f('ix_enrolment_codes_user_id'), 'enrolment_codes', ['user_id'], unique=False)
    op.create_geospatial_table('findings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('business_id', sa.Integer(), nullable=False),
    sa.Column('verdict', sa.Enum('operating', 'operating_changed', 'relocated', 'closed', 'shell', 'not_found', 'unresolved', name='verdict', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('basis', sa.Text(), nullable=False),
    sa.Column('settled', sa.Boolean(), nullable=False),
    sa.Column('result_ids', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('photo_ids', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('reviewer_ids', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('corrections', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('verified_location', Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry'), nullable=True),
    sa.Column('first_visit_on', sa.Date(), nullable=True),
    sa.Column('last_visit_on', sa.Date(), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['business_id'], ['businesses.id'], name=op.f('fk_findings_business_id_businesses')),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_findings_campaign_id_campaigns')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_findings')),
    sa.UniqueConstraint('campaign_id', 'business_id', name=op.f('uq_findings_campaign_id_business_id'))
    )
    op.create_geospatial_index('idx_findings_verified_location', 'findings', ['verified_location'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_index(op.f('ix_findings_business_id'), 'findings', ['business_id'], unique=False)
    op.create_index(op.f('ix_findings_campaign_id'), 'findings', ['campaign_id'], unique=False)
    op.create_table('jobs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('state', sa.Enum('queued', 'running', 'succeeded', 'failed', name='job_state', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('phase', sa.String(length=64), nullable=False),
    sa.Column('done', sa.Integer(), nullable=False),
    sa.Column('total', sa.Integer(), nullable=True),
    sa.Column('params', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('result', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_jobs_created_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_jobs'))
    )
    op.create_index(op.f('ix_jobs_kind'), 'jobs', ['kind'], unique=False)
    op.create_geospatial_table('photos',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('phash', sa.String(length=16), nullable=True),
    sa.Column('storage_key', sa.String(length=255), nullable=False),
    sa.Column('thumbnail_key', sa.String(length=255), nullable=True),
    sa.Column('mime_type', sa.String(length=32), nullable=False),
    sa.Column('size_bytes', sa.Integer(), nullable=False),
    sa.Column('width', sa.Integer(), nullable=False),
    sa.Column('height', sa.Integer(), nullable=False),
    sa.Column('exif_location', Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry'), nullable=True),
    sa.Column('exif_altitude', sa.Double(), nullable=True),
    sa.Column('exif_local_time', sa.DateTime(), nullable=True),
    sa.Column('exif_taken_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('exif_time_offset', sa.String(length=8), nullable=True),
    sa.Column('orientation', sa.Integer(), nullable=True),
    sa.Column('make', sa.String(length=64), nullable=True),
    sa.Column('model', sa.String(length=64), nullable=True),
    sa.Column('metadata_warnings', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('uploaded_by_id', sa.Integer(), nullable=False),
    sa.Column('uploaded_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['uploaded_by_id'], ['users.id'], name=op.f('fk_photos_uploaded_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_photos')),
    sa.UniqueConstraint('sha256', name=op.f('uq_photos_sha256'))
    )
    op.create_geospatial_index('idx_photos_exif_location', 'photos', ['exif_location'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_index(op.f('ix_photos_phash'), 'photos', ['phash'], unique=False)
    op.create_index(op.f('ix_photos_uploaded_by_id'), 'photos', ['uploaded_by_id'], unique=False)
    op.create_table('refresh_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('family_id', sa.Uuid(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('rotated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_refresh_tokens_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_refresh_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_refresh_tokens_token_hash'))
    )
    op.create_index(op.f('ix_refresh_tokens_family_id'), 'refresh_tokens', ['family_id'], unique=False)
    op.create_index(op.f('ix_refresh_tokens_user_id'), 'refresh_tokens', ['user_id'], unique=False)
    op.create_geospatial_table('discoveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('courier_id', sa.Integer(), nullable=False),
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('body_hash', sa.String(length=64), nullable=False),
    sa.Column('business_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('address', sa.Text(), nullable=True),
    sa.Column('operator', sa.Text(), nullable=True),
    sa.Column('phone', sa.String(length=32), nullable=True),
    sa.Column('position', Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry'), nullable=True),
    sa.Column('position_crs', sa.Enum('wgs84', 'gcj02', 'bd09', name='input_crs', native_enum=False, create_constraint=True, length=32), nullable=True),
    sa.Column('reported_lon', sa.Double(), nullable=True),
    sa.Column('reported_lat', sa.Double(), nullable=True),
    sa.Column('accuracy_m', sa.Double(), nullable=True),
    sa.Column('fix_time', sa.DateTime(timezone=True), nullable=True),
    sa.Column('captured_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.Column('evidence_pending', sa.Boolean(), nullable=False),
    sa.Column('evidence_complete_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('accuracy_m IS NULL OR accuracy_m >= 0', name=op.f('ck_discoveries_accuracy_m')),
    sa.ForeignKeyConstraint(['business_id'], ['businesses.id'], name=op.f('fk_discoveries_business_id_businesses')),
    sa.ForeignKeyConstraint(['courier_id'], ['couriers.id'], name=op.f('fk_discoveries_courier_id_couriers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_discoveries')),
    sa.UniqueConstraint('courier_id', 'client_id', name=op.f('uq_discoveries_courier_id_client_id'))
    )
    op.create_geospatial_index('idx_discoveries_position', 'discoveries', ['position'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_index(op.f('ix_discoveries_business_id'), 'discoveries', ['business_id'], unique=False)
    op.create_index(op.f('ix_discoveries_courier_id'), 'discoveries', ['courier_id'], unique=False)
    op.create_table('exports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('bureau', sa.String(length=16), nullable=False),
    sa.Column('format', sa.Enum('csv', 'xlsx', 'geojson', name='export_format', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('encoding', sa.String(length=16), nullable=True),
    sa.Column('filters', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=True),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('job_id', sa.Integer(), nullable=True),
    sa.Column('state', sa.Enum('running', 'succeeded', 'failed', name='export_state', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('path', sa.Text(), nullable=True),
    sa.Column('rows', sa.Integer(), nullable=True),
    sa.Column('size_bytes', sa.BigInteger(), nullable=True),
    sa.Column('sha256', sa.String(length=64), nullable=True),
    sa.Column('link_token_hash', sa.String(length=64), nullable=True),
    sa.Column('links_expire_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_exports_actor_id_users')),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_exports_campaign_id_campaigns')),
    sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], name=op.f('fk_exports_job_id_jobs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_exports')),
    sa.UniqueConstraint('link_token_hash', name=op.f('uq_exports_link_token_hash'))
    )
    op.create_index(op.f('ix_exports_actor_id'), 'exports', ['actor_id'], unique=False)
    op.create_index(op.f('ix_exports_job_id'), 'exports', ['job_id'], unique=False)
    op.create_table('import_batches',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('tax', 'commerce', 'gazetteer', name='import_kind', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('state', sa.Enum('running', 'succeeded', 'failed', 'duplicate', name='import_state', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('rows_read', sa.Integer(), nullable=False),
    sa.Column('rows_imported', sa.Integer(), nullable=False),
    sa.Column('rows_rejected', sa.Integer(), nullable=False),
    sa.Column('summary', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('job_id', sa.Integer(), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_import_batches_created_by_id_users')),
    sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], name=op.f('fk_import_batches_job_id_jobs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_import_batches'))
    )
    op.create_index(op.f('ix_import_batches_sha256'), 'import_batches', ['sha256'], unique=False)
    op.create_table('photo_uploads',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('uploaded_by_id', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('content_type', sa.String(length=32), nullable=False),
    sa.Column('size_bytes', sa.Integer(), nullable=False),
    sa.Column('staging_key', sa.String(length=255), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('photo_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['photo_id'], ['photos.id'], name=op.f('fk_photo_uploads_photo_id_photos')),
    sa.ForeignKeyConstraint(['uploaded_by_id'], ['users.id'], name=op.f('fk_photo_uploads_uploaded_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_photo_uploads'))
    )
    op.create_index(op.f('ix_photo_uploads_sha256'), 'photo_uploads', ['sha256'], unique=False)
    op.create_index(op.f('ix_photo_uploads_uploaded_by_id'), 'photo_uploads', ['uploaded_by_id'], unique=False)
    op.create_table('sync_heads',
    sa.Column('courier_id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['courier_id'], ['couriers.id'], name=op.f('fk_sync_heads_courier_id_couriers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('courier_id', name=op.f('pk_sync_heads'))
    )
    op.create_table('visits',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('business_id', sa.Integer(), nullable=False),
    sa.Column('courier_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.Enum('first', 'recheck', name='visit_kind', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('checks_visit_id', sa.Integer(), nullable=True),
    sa.Column('state', sa.Enum('planned', 'assigned', 'submitted', 'accepted', 'rejected', 'recheck_ordered', 'withdrawn', name='visit_state', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('planned_day', sa.Integer(), nullable=True),
    sa.Column('route_order', sa.Integer(), nullable=True),
    sa.Column('coarse_location', sa.Boolean(), nullable=False),
    sa.Column('sync_seq', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['business_id'], ['businesses.id'], name=op.f('fk_visits_business_id_businesses')),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_visits_campaign_id_campaigns')),
    sa.ForeignKeyConstraint(['checks_visit_id'], ['visits.id'], name=op.f('fk_visits_checks_visit_id_visits')),
    sa.ForeignKeyConstraint(['courier_id'], ['couriers.id'], name=op.f('fk_visits_courier_id_couriers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_visits'))
    )
    op.create_index(op.f('ix_visits_business_id'), 'visits', ['business_id'], unique=False)
    op.create_index(op.f('ix_visits_campaign_id'), 'visits', ['campaign_id'], unique=False)
    op.create_index(op.f('ix_visits_courier_id'), 'visits', ['courier_id'], unique=False)
    op.create_table('discovery_photos',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('discovery_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('storefront', 'licence', 'doorplate', 'interior', 'other', name='photo_kind', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('photo_sha256', sa.String(length=64), nullable=False),
    sa.Column('photo_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['discovery_id'], ['discoveries.id'], name=op.f('fk_discovery_photos_discovery_id_discoveries'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['photo_id'], ['photos.id'], name=op.f('fk_discovery_photos_photo_id_photos')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_discovery_photos')),
    sa.UniqueConstraint('discovery_id', 'photo_sha256', name=op.f('uq_discovery_photos_discovery_id_photo_sha256'))
    )
    op.create_index(op.f('ix_discovery_photos_discovery_id'), 'discovery_photos', ['discovery_id'], unique=False)
    op.create_index(op.f('ix_discovery_photos_photo_id'), 'discovery_photos', ['photo_id'], unique=False)
    op.create_index(op.f('ix_discovery_photos_photo_sha256'), 'discovery_photos', ['photo_sha256'], unique=False)
    op.create_geospatial_table('gazetteer_addresses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('address', sa.Text(), nullable=False),
    sa.Column('town', sa.String(length=32), nullable=False),
    sa.Column('road', sa.String(length=64), nullable=False),
    sa.Column('number', sa.String(length=16), nullable=False),
    sa.Column('location', Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['batch_id'], ['import_batches.id'], name=op.f('fk_gazetteer_addresses_batch_id_import_batches')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_gazetteer_addresses'))
    )
    op.create_geospatial_index('idx_gazetteer_addresses_location', 'gazetteer_addresses', ['location'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_index('ix_gazetteer_addresses_road_number', 'gazetteer_addresses', ['road', 'number'], unique=False)
    op.create_index(op.f('ix_gazetteer_addresses_town'), 'gazetteer_addresses', ['town'], unique=False)
    op.create_table('import_issues',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.Column('row_number', sa.Integer(), nullable=True),
    sa.Column('column', sa.String(length=64), nullable=True),
    sa.Column('value', sa.Text(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('severity', sa.Enum('error', 'warning', name='issue_severity', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['import_batches.id'], name=op.f('fk_import_issues_batch_id_import_batches'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_import_issues'))
    )
    op.create_index(op.f('ix_import_issues_batch_id'), 'import_issues', ['batch_id'], unique=False)
    op.create_table('source_records',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.Column('bureau', sa.Enum('tax', 'commerce', name='source_bureau', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('row_number', sa.Integer(), nullable=False),
    sa.Column('source_key', sa.String(length=64), nullable=False),
    sa.Column('raw', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('fields', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('uscc', sa.String(length=18), nullable=True),
    sa.Column('tin', sa.String(length=32), nullable=True),
    sa.Column('reg_no', sa.String(length=32), nullable=True),
    sa.Column('org_code', sa.String(length=9), nullable=True),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('name_key', sa.Text(), nullable=False),
    sa.Column('address', sa.Text(), nullable=True),
    sa.Column('address_key', sa.Text(), nullable=True),
    sa.Column('town', sa.String(length=32), nullable=True),
    sa.Column('road', sa.String(length=64), nullable=True),
    sa.Column('number', sa.String(length=16), nullable=True),
    sa.Column('reg_status', sa.String(length=32), nullable=True),
    sa.Column('is_current', sa.Boolean(), nullable=False),
    sa.Column('business_id', sa.Integer(), nullable=True),
    sa.Column('link_reason', sa.String(length=32), nullable=True),
    sa.Column('link_score', sa.Double(), nullable=True),
    sa.ForeignKeyConstraint(['batch_id'], ['import_batches.id'], name=op.f('fk_source_records_batch_id_import_batches')),
    sa.ForeignKeyConstraint(['business_id'], ['businesses.id'], name=op.f('fk_source_records_business_id_businesses'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_source_records'))
    )
    op.create_index(op.f('ix_source_records_batch_id'), 'source_records', ['batch_id'], unique=False)
    op.create_index('ix_source_records_bureau_key_current', 'source_records', ['bureau', 'source_key', 'is_current'], unique=False)
    op.create_index(op.f('ix_source_records_business_id'), 'source_records', ['business_id'], unique=False)
    op.create_index(op.f('ix_source_records_org_code'), 'source_records', ['org_code'], unique=False)
    op.create_index('ix_source_records_road_number', 'source_records', ['road', 'number'], unique=False)
    op.create_index(op.f('ix_source_records_uscc'), 'source_records', ['uscc'], unique=False)
    op.create_table('sync_entries',
    sa.Column('courier_id', sa.Integer(), nullable=False),
    sa.Column('visit_id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('withdrawn', sa.Boolean(), nullable=False),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['courier_id'], ['couriers.id'], name=op.f('fk_sync_entries_courier_id_couriers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['visit_id'], ['visits.id'], name=op.f('fk_sync_entries_visit_id_visits'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('courier_id', 'visit_id', name=op.f('pk_sync_entries')),
    sa.UniqueConstraint('courier_id', 'seq', name=op.f('uq_sync_entries_courier_id_seq'))
    )
    op.create_index(op.f('ix_sync_entries_visit_id'), 'sync_entries', ['visit_id'], unique=False)
    op.create_geospatial_table('visit_results',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('visit_id', sa.Integer(), nullable=False),
    sa.Column('courier_id', sa.Integer(), nullable=False),
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('body_hash', sa.String(length=64), nullable=False),
    sa.Column('outcome', sa.Enum('operating', 'operating_changed', 'relocated', 'closed', 'shell', 'not_found', 'refused', 'unreachable', name='outcome', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('not_found_reason', sa.Enum('address_missing', 'unknown_at_address', name='not_found_reason', native_enum=False, create_constraint=True, length=32), nullable=True),
    sa.Column('position', Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry'), nullable=True),
    sa.Column('position_crs', sa.Enum('wgs84', 'gcj02', 'bd09', name='input_crs', native_enum=False, create_constraint=True, length=32), nullable=True),
    sa.Column('reported_lon', sa.Double(), nullable=True),
    sa.Column('reported_lat', sa.Double(), nullable=True),
    sa.Column('accuracy_m', sa.Double(), nullable=True),
    sa.Column('fix_time', sa.DateTime(timezone=True), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('captured_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('corrections', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('phone_attempts', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.Column('late', sa.Boolean(), nullable=False),
    sa.Column('late_reason', sa.Enum('reassigned', 'withdrawn', 'closed', name='late_reason', native_enum=False, create_constraint=True, length=32), nullable=True),
    sa.Column('evidence_pending', sa.Boolean(), nullable=False),
    sa.Column('evidence_complete_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("(outcome = 'not_found') = (not_found_reason IS NOT NULL)", name=op.f('ck_visit_results_not_found_has_reason')),
    sa.CheckConstraint('accuracy_m IS NULL OR accuracy_m >= 0', name=op.f('ck_visit_results_accuracy_m')),
    sa.CheckConstraint('late = (late_reason IS NOT NULL)', name=op.f('ck_visit_results_late_has_reason')),
    sa.ForeignKeyConstraint(['courier_id'], ['couriers.id'], name=op.f('fk_visit_results_courier_id_couriers')),
    sa.ForeignKeyConstraint(['visit_id'], ['visits.id'], name=op.f('fk_visit_results_visit_id_visits')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_visit_results')),
    sa.UniqueConstraint('courier_id', 'client_id', name=op.f('uq_visit_results_courier_id_client_id'))
    )
    op.create_geospatial_index('idx_visit_results_position', 'visit_results', ['position'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_index(op.f('ix_visit_results_courier_id'), 'visit_results', ['courier_id'], unique=False)
    op.create_index('ix_visit_results_evidence_pending', 'visit_results', ['id'], unique=False, postgresql_where=sa.text('evidence_pending'))
    op.create_index('ix_visit_results_late', 'visit_results', ['id'], unique=False, postgresql_where=sa.text('late'))
    op.create_index(op.f('ix_visit_results_visit_id'), 'visit_results', ['visit_id'], unique=False)
    op.create_table('flags',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('result_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('measured', sa.Double(), nullable=True),
    sa.Column('threshold', sa.Double(), nullable=True),
    sa.Column('unit', sa.String(length=16), nullable=True),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('details', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['result_id'], ['visit_results.id'], name=op.f('fk_flags_result_id_visit_results'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_flags'))
    )
    op.create_index(op.f('ix_flags_kind'), 'flags', ['kind'], unique=False)
    op.create_index(op.f('ix_flags_result_id'), 'flags', ['result_id'], unique=False)
    op.create_table('result_amendments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('result_id', sa.Integer(), nullable=False),
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('body_hash', sa.String(length=64), nullable=False),
    sa.Column('base_version', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('changes', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('previous', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['result_id'], ['visit_results.id'], name=op.f('fk_result_amendments_result_id_visit_results'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_result_amendments')),
    sa.UniqueConstraint('result_id', 'client_id', name=op.f('uq_result_amendments_result_id_client_id'))
    )
    op.create_index(op.f('ix_result_amendments_result_id'), 'result_amendments', ['result_id'], unique=False)
    op.create_table('result_photos',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('result_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('storefront', 'licence', 'doorplate', 'interior', 'other', name='photo_kind', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('photo_sha256', sa.String(length=64), nullable=False),
    sa.Column('photo_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['photo_id'], ['photos.id'], name=op.f('fk_result_photos_photo_id_photos')),
    sa.ForeignKeyConstraint(['result_id'], ['visit_results.id'], name=op.f('fk_result_photos_result_id_visit_results'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_result_photos')),
    sa.UniqueConstraint('result_id', 'photo_sha256', name=op.f('uq_result_photos_result_id_photo_sha256'))
    )
    op.create_index(op.f('ix_result_photos_photo_id'), 'result_photos', ['photo_id'], unique=False)
    op.create_index(op.f('ix_result_photos_photo_sha256'), 'result_photos', ['photo_sha256'], unique=False)
    op.create_index(op.f('ix_result_photos_result_id'), 'result_photos', ['result_id'], unique=False)
    op.create_table('review_decisions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('result_id', sa.Integer(), nullable=False),
    sa.Column('decision', sa.Enum('accept', 'reject', 'recheck', name='review_decision', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('reviewer_id', sa.Integer(), nullable=True),
    sa.Column('bulk', sa.Boolean(), nullable=False),
    sa.Column('decisive', sa.Boolean(), nullable=False),
    sa.Column('result_version', sa.Integer(), nullable=False),
    sa.Column('recheck_visit_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('superseded_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['recheck_visit_id'], ['visits.id'], name=op.f('fk_review_decisions_recheck_visit_id_visits')),
    sa.ForeignKeyConstraint(['result_id'], ['visit_results.id'], name=op.f('fk_review_decisions_result_id_visit_results')),
    sa.ForeignKeyConstraint(['reviewer_id'], ['users.id'], name=op.f('fk_review_decisions_reviewer_id_users')),
    sa.ForeignKeyConstraint(['superseded_by_id'], ['review_decisions.id'], name=op.f('fk_review_decisions_superseded_by_id_review_decisions'), initially='DEFERRED', deferrable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_review_decisions'))
    )
    op.create_index(op.f('ix_review_decisions_result_id'), 'review_decisions', ['result_id'], unique=False)
    op.create_index(op.f('ix_review_decisions_reviewer_id'), 'review_decisions', ['reviewer_id'], unique=False)
    op.create_index('uq_review_decisions_current', 'review_decisions', ['result_id'], unique=True, postgresql_where=sa.text('superseded_by_id IS NULL'))


def downgrade() -> None:
    op.drop_index('uq_review_decisions_current', table_name='review_decisions', postgresql_where=sa.text('superseded_by_id IS NULL'))
    op.drop_index(op.f('ix_review_decisions_reviewer_id'), table_name='review_decisions')
    op.drop_index(op.f('ix_review_decisions_result_id'), table_name='review_decisions')
    op.drop_table('review_decisions')
    op.drop_index(op.f('ix_result_photos_result_id'), table_name='result_photos')
    op.drop_index(op.f('ix_result_photos_photo_sha256'), table_name='result_photos')
    op.drop_index(op.f('ix_result_photos_photo_id'), table_name='result_photos')
    op.drop_table('result_photos')
    op.drop_index(op.f('ix_result_amendments_result_id'), table_name='result_amendments')
    op.drop_table('result_amendments')
    op.drop_index(op.f('ix_flags_result_id'), table_name='flags')
    op.drop_index(op.f('ix_flags_kind'), table_name='flags')
    op.drop_table('flags')
    op.drop_index(op.f('ix_visit_results_visit_id'), table_name='visit_results')
    op.drop_index('ix_visit_results_late', table_name='visit_results', postgresql_where=sa.text('late'))
    op.drop_index('ix_visit_results_evidence_pending', table_name='visit_results', postgresql_where=sa.text('evidence_pending'))
    op.drop_index(op.f('ix_visit_results_courier_id'), table_name='visit_results')
    op.drop_geospatial_index('idx_visit_results_position', table_name='visit_results', postgresql_using='gist', column_name='position')
    op.drop_geospatial_table('visit_results')
    op.drop_index(op.f('ix_sync_entries_visit_id'), table_name='sync_entries')
    op.drop_table('sync_entries')
    op.drop_index(op.f('ix_source_records_uscc'), table_name='source_records')
    op.drop_index('ix_source_records_road_number', table_name='source_records')
    op.drop_index(op.f('ix_source_records_org_code'), table_name='source_records')
    op.drop_index(op.f('ix_source_records_business_id'), table_name='source_records')
    op.drop_index('ix_source_records_bureau_key_current', table_name='source_records')
    op.drop_index(op.f('ix_source_records_batch_id'), table_name='source_records')
    op.drop_table('source_records')
    op.drop_index(op.f('ix_import_issues_batch_id'), table_name='import_issues')
    op.drop_table('import_issues')
    op.drop_index(op.f('ix_gazetteer_addresses_town'), table_name='gazetteer_addresses')
    op.drop_index('ix_gazetteer_addresses_road_number', table_name='gazetteer_addresses')
    op.drop_geospatial_index('idx_gazetteer_addresses_location', table_name='gazetteer_addresses', postgresql_using='gist', column_name='location')
    op.drop_geospatial_table('gazetteer_addresses')
    op.drop_index(op.f('ix_discovery_photos_photo_sha256'), table_name='discovery_photos')
    op.drop_index(op.f('ix_discovery_photos_photo_id'), table_name='discovery_photos')
    op.drop_index(op.f('ix_discovery_photos_discovery_id'), table_name='discovery_photos')
    op.drop_table('discovery_photos')
    op.drop_index(op.f('ix_visits_courier_id'), table_name='visits')
    op.drop_index(op.f('ix_visits_campaign_id'), table_name='visits')
    op.drop_index(op.f('ix_visits_business_id'), table_name='visits')
    op.drop_table('visits')
    op.drop_table('sync_heads')
    op.drop_index(op.f('ix_photo_uploads_uploaded_by_id'), table_name='photo_uploads')
    op.drop_index(op.f('ix_photo_uploads_sha256'), table_name='photo_uploads')
    op.drop_table('photo_uploads')
    op.drop_index(op.f('ix_import_batches_sha256'), table_name='import_batches')
    op.drop_table('import_batches')
    op.drop_index(op.f('ix_exports_job_id'), table_name='exports')
    op.drop_index(op.f('ix_exports_actor_id'), table_name='exports')
    op.drop_table('exports')
    op.drop_index(op.f('ix_discoveries_courier_id'), table_name='discoveries')
    op.drop_index(op.f('ix_discoveries_business_id'), table_name='discoveries')
    op.drop_geospatial_index('idx_discoveries_position', table_name='discoveries', postgresql_using='gist', column_name='position')
    op.drop_geospatial_table('discoveries')
    op.drop_index(op.f('ix_refresh_tokens_user_id'), table_name='refresh_tokens')
    op.drop_index(op.f('ix_refresh_tokens_family_id'), table_name='refresh_tokens')
    op.drop_table('refresh_tokens')
    op.drop_index(op.f('ix_photos_uploaded_by_id'), table_name='photos')
    op.drop_index(op.f('ix_photos_phash'), table_name='photos')
    op.drop_geospatial_index('idx_photos_exif_location', table_name='photos', postgresql_using='gist', column_name='exif_location')
    op.drop_geospatial_table('photos')
    op.drop_index(op.f('ix_jobs_kind'), table_name='jobs')
    op.drop_table('jobs')
    op.drop_index(op.f('ix_findings_campaign_id'), table_name='findings')
    op.drop_index(op.f('ix_findings_business_id'), table_name='findings')
    op.drop_geospatial_index('idx_findings_verified_location', table_name='findings', postgresql_using='gist', column_name='verified_location')
    op.drop_geospatial_table('findings')
    op.drop_index(op.f('ix_enrolment_codes_user_id'), table_name='enrolment_codes')
    op.drop_table('enrolment_codes')
    op.drop_index(op.f('ix_couriers_territory_id'), table_name='couriers')
    op.drop_geospatial_index('idx_couriers_station', table_name='couriers', postgresql_using='gist', column_name='station')
    op.drop_geospatial_table('couriers')
    op.drop_index(op.f('ix_campaign_supervisors_campaign_id'), table_name='campaign_supervisors')
    op.drop_table('campaign_supervisors')
    op.drop_index(op.f('ix_audit_events_at'), table_name='audit_events')
    op.drop_index(op.f('ix_audit_events_actor_id'), table_name='audit_events')
    op.drop_index(op.f('ix_audit_events_action'), table_name='audit_events')
    op.drop_table('audit_events')
    op.drop_table('users')
    op.drop_geospatial_index('idx_territories_station', table_name='territories', postgresql_using='gist', column_name='station')
    op.drop_geospatial_index('idx_territories_area', table_name='territories', postgresql_using='gist', column_name='area')
    op.drop_geospatial_table('territories')
    op.drop_table('campaigns')
    op.drop_index(op.f('ix_businesses_uscc'), table_name='businesses')
    op.drop_index(op.f('ix_businesses_town'), table_name='businesses')
    op.drop_geospatial_index('idx_businesses_location', table_name='businesses', postgresql_using='gist', column_name='location')
    op.drop_geospatial_table('businesses')
