"""The rows of a bureau's cleaned registry, streamed from one SQL query.

One row per current source record of the bureau, in the bureau's own row order, then one row
per business the bureau's list lacks but the campaign found operating (a courier's discovery,
or a business registered with the other bureau only). Everything that can be computed by the
database is (text extraction, joins, dates as ISO text); Python adds the action, masking and
links.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from fieldcheck.exports.actions import (
    ACTIONS,
    VERDICT_LABELS,
    Situation,
    action_label,
    recommend,
)
from fieldcheck.geo.crs import from_wgs84

# Rows fetched per round trip of the server-side cursor.
YIELD_PER = 5000
# Tax numbers of these kinds are a natural person's resident ID number (DOMAIN.md §1.4).
PERSONAL_TIN_KINDS = frozenset({"ric", "ric_plus_seq"})
# How the location of a row was obtained.
LOCATION_SOURCE_LABELS = {
    "visit": "实地核实",
    "address": "门牌地址",
    "township": "乡镇中心（粗略）",
    "ambiguous": "地址不唯一（粗略）",
    "unlocated": "未定位",
    None: "未定位",
}
# Whether work under way may still change the verdict (None: no verdict).
SETTLED_LABELS = {True: "是", False: "否（仍有走访或复核未完成）", None: None}
OTHER_BUREAU_NOTE = {"tax": "仅在市场监管部门登记", "commerce": "仅在税务部门登记"}
DISCOVERY_NOTE = "快递员实地发现，名单中无此户"
DUPLICATE_NOTE = "同一经营主体在本名单中有多条有效登记"


@dataclass(frozen=True)
class Column:
    """One column of the file: key (GeoJSON property), header (spreadsheets), kind, width.

    Kinds: text (free text from a list or a courier, neutralised in spreadsheets), id
    (identifiers and phone numbers, always text), int, float, date (ISO text, which CSV writes
    as it is and XLSX turns into a date cell), url.
    """

    key: str
    header: str
    kind: str = "text"
    width: int = 14


@dataclass(frozen=True)
class ExportFilters:
    """Which rows: actions (codes), townships, verdict dates (inclusive), campaign."""

    actions: tuple[str, ...] = ()
    towns: tuple[str, ...] = ()
    decided_from: date | None = None
    decided_to: date | None = None
    campaign_id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "actions": list(self.actions),
            "towns": list(self.towns),
            "decided_from": self.decided_from.isoformat() if self.decided_from else None,
            "decided_to": self.decided_to.isoformat() if self.decided_to else None,
            "campaign_id": self.campaign_id,
        }


class ExportRow:
    """One row of the file: cell values in column order, plus what the writers group by."""

    __slots__ = ("action", "lat", "lon", "town", "values")

    def __init__(
        self, values: list[Any], action: str, town: str | None, lon: float | None,
        lat: float | None,
    ) -> None:
        self.values = values
        self.action = action
        self.town = town
        self.lon = lon
        self.lat = lat


# The bureau's own columns: key, header (as the bureau's lists head them), kind, width, SQL.
_ORIGINAL: dict[str, list[tuple[str, str, str, int, str]]] = {
    "tax": [
        ("source_row_id", "序号", "id", 8, "sr.raw->>'source_row_id'"),
        ("tin", "纳税人识别号", "id", 22, "coalesce(sr.raw->>'tin', sr.raw->>'uscc')"),
        ("name", "纳税人名称", "text", 32, "sr.raw->>'name'"),
        ("legal_rep_name", "法定代表人（负责人、业主）", "text", 12, "sr.raw->>'legal_rep_name'"),
        ("legal_rep_id_no", "证件号码", "id", 21, "sr.raw->>'legal_rep_id_no'"),
        ("address", "生产经营地址", "text", 40,
         "coalesce(sr.raw->>'op_address', sr.raw->>'reg_address')"),
        ("phone", "联系电话", "id", 14, "sr.raw->>'phone'"),
        ("reg_type", "登记注册类型", "text", 14, "sr.raw->>'reg_type'"),
        ("industry", "行业", "text", 10, "sr.raw->>'industry'"),
        ("tax_office", "主管税务所（科、分局）", "text", 24, "sr.raw->>'tax_office'"),
        ("established_on", "登记日期", "date", 11, "sr.fields->>'established_on'"),
        ("reg_status_raw", "纳税人状态", "text", 10, "sr.raw->>'reg_status_raw'"),
    ],
    "commerce": [
        ("source_row_id", "序号", "id", 8, "sr.raw->>'source_row_id'"),
        ("uscc", "统一社会信用代码/注册号", "id", 22,
         "coalesce(sr.raw->>'uscc_or_reg_no', sr.raw->>'uscc', sr.raw->>'reg_no')"),
        ("name", "名称", "text", 32, "sr.raw->>'name'"),
        ("reg_type", "类型", "text", 14, "sr.raw->>'reg_type'"),
        ("legal_rep_name", "法定代表人/经营者", "text", 12, "sr.raw->>'legal_rep_name'"),
        ("legal_rep_id_no", "证件号码", "id", 21, "sr.raw->>'legal_rep_id_no'"),
        ("address", "住所/经营场所", "text", 40,
         "coalesce(sr.raw->>'reg_address', sr.raw->>'op_address')"),
        ("phone", "联系电话", "id", 14, "sr.raw->>'phone'"),
        ("established_on", "成立日期", "date", 11, "sr.fields->>'established_on'"),
        ("reg_authority", "登记机关", "text", 20, "sr.raw->>'reg_authority'"),
        ("reg_status_raw", "登记状态", "text", 14, "sr.raw->>'reg_status_raw'"),
    ],
}

_FIELD_COLUMNS = [
    Column("business_id", "经营主体编号", "int", 10),
    Column("town", "所属乡镇", "text", 10),
    Column("verdict", "核查结论代码", "id", 12),
    Column("verdict_label", "核查结论", "text", 16),
    Column("action", "处理建议代码", "id", 16),
    Column("action_label", "处理建议", "text", 28),
    Column("settled", "结论已定", "text", 8),
    Column("basis", "核查依据", "text", 30),
    Column("note", "备注", "text", 24),
    Column("verified_name", "核实名称", "text", 28),
    Column("verified_address", "核实地址", "text", 40),
    Column("verified_phone", "核实电话", "id", 14),
    Column("verified_operator", "核实经营者", "text", 12),
    Column("lon", "经度（WGS-84）", "float", 12),
    Column("lat", "纬度（WGS-84）", "float", 12),
]
_GCJ_COLUMNS = [
    Column("gcj02_lon", "经度（GCJ-02）", "float", 12),
    Column("gcj02_lat", "纬度（GCJ-02）", "float", 12),
]
_TAIL_COLUMNS = [
    Column("location_source", "定位来源", "text", 12),
    Column("first_visit_on", "首次走访日期", "date", 12),
    Column("last_visit_on", "末次走访日期", "date", 12),
    Column("decided_on", "结论日期", "date", 11),
    Column("couriers", "快递员工号", "id", 14),
    Column("reviewers", "审核人", "text", 12),
    Column("photo_count", "照片数", "int", 7),
    Column("evidence_url", "证据照片链接", "url", 30),
]


def columns_for(bureau: str, *, gcj02: bool = False) -> list[Column]:
    """The file's columns for `bureau`, with GCJ-02 coordinates when asked for."""
    original = [Column(k, h, kind, w) for k, h, kind, w, _ in _ORIGINAL[bureau]]
    return [
        Column("row_number", "原表行号", "int", 8),
        *original,
        *_FIELD_COLUMNS,
        *(_GCJ_COLUMNS if gcj02 else []),
        *_TAIL_COLUMNS,
    ]


def _query_text(bureau: str, filters: ExportFilters) -> str:
    original_sql = [sql for *_, sql in _ORIGINAL[bureau]]
    listed_original = ",\n           ".join(
        f"{sql} AS o{i}" for i, sql in enumerate(original_sql)
    )
    unlisted_original = ",\n           ".join(
        f"NULL AS o{i}" for i, _ in enumerate(original_sql)
    )
    listed_where = ["sr.bureau = :bureau", "sr.is_current"]
    unlisted_where: list[str] = []
    if filters.towns:
        listed_where.append("coalesce(b.town, sr.town) IN :towns")
        unlisted_where.append("b.town IN :towns")
    decided = "(f.decided_at AT TIME ZONE 'Asia/Shanghai')::date"
    discovered = "(d.captured_at AT TIME ZONE 'Asia/Shanghai')::date"
    if filters.decided_from:
        listed_where.append(f"{decided} >= :decided_from")
        unlisted_where.append(f"coalesce({decided}, {discovered}) >= :decided_from")
    if filters.decided_to:
        listed_where.append(f"{decided} <= :decided_to")
        unlisted_where.append(f"coalesce({decided}, {discovered}) <= :decided_to")
    unlisted_filter = "".join(f"\n      AND {w}" for w in unlisted_where)
    # Verified address: where the business was found operating (the new one if it moved).
    verified_address = """CASE
             WHEN f.verdict = 'relocated'
               THEN coalesce(f.corrections->>'relocated_to_address',
                             f.corrections->>'relocated_to', f.corrections->>'address')
             WHEN f.verdict IN ('operating', 'operating_changed')
               THEN coalesce(f.corrections->>'address', b.address)
           END"""
    return f"""
WITH camp AS (
    SELECT id, starts_on, ends_on FROM campaigns WHERE id = :campaign
),
dup AS (
    -- Live duplicates: more than one current, not ended record of one business.
    SELECT business_id FROM source_records
    WHERE bureau = :bureau AND is_current AND business_id IS NOT NULL
      AND coalesce(reg_status, '') NOT IN ('deregistered', 'revoked')
    GROUP BY business_id HAVING count(*) > 1
),
people AS (
    -- Couriers behind each finding: hash joins, not one index probe per finding.
    SELECT f.id AS finding_id, string_agg(DISTINCT c.staff_no, '、') AS couriers
    FROM findings f
    JOIN visits v ON v.campaign_id = f.campaign_id AND v.business_id = f.business_id
    JOIN visit_results vr ON vr.visit_id = v.id
    JOIN couriers c ON c.id = vr.courier_id
    WHERE f.campaign_id = :campaign AND v.campaign_id = :campaign
      AND f.result_ids @> to_jsonb(vr.id)
    GROUP BY f.id
),
found AS (
    -- Businesses the campaign found operating or a courier discovered.
    SELECT f.business_id FROM findings f
    WHERE f.campaign_id = :campaign
      AND f.verdict IN ('operating', 'operating_changed', 'relocated')
    UNION
    SELECT d.business_id FROM discoveries d
    -- Without any campaign, every discovery; else those of its couriers in its dates.
    WHERE CAST(:campaign AS integer) IS NULL
       OR EXISTS (
           SELECT 1 FROM camp
           WHERE (camp.starts_on IS NULL OR d.captured_at >= camp.starts_on)
             AND (camp.ends_on IS NULL OR d.captured_at < camp.ends_on + 1)
             AND EXISTS (SELECT 1 FROM visits v
                         WHERE v.campaign_id = camp.id AND v.courier_id = d.courier_id))
),
unlisted AS (
    SELECT business_id FROM found
    EXCEPT
    SELECT business_id FROM source_records
    WHERE bureau = :bureau AND is_current AND business_id IS NOT NULL
)
SELECT 0 AS part, sr.batch_id AS k1, sr.row_number AS k2, sr.id AS k3,
       sr.row_number,
       {listed_original},
       sr.fields->>'tin_kind' AS tin_kind, sr.reg_status,
       (dup.business_id IS NOT NULL
        AND coalesce(sr.reg_status, '') NOT IN ('deregistered', 'revoked')) AS duplicate,
       false AS other_listed, false AS discovered,
       b.id AS business_id, coalesce(b.town, sr.town) AS town,
       f.verdict, f.settled, f.basis, f.corrections->>'name' AS verified_name,
       {verified_address} AS verified_address,
       f.corrections->>'phone' AS verified_phone,
       f.corrections->>'operator' AS verified_operator,
       ST_X(coalesce(f.verified_location, b.location)) AS lon,
       ST_Y(coalesce(f.verified_location, b.location)) AS lat,
       CASE WHEN f.verified_location IS NOT NULL THEN 'visit'
            ELSE b.location_precision END AS location_source,
       to_char(f.first_visit_on, 'YYYY-MM-DD') AS first_visit_on,
       to_char(f.last_visit_on, 'YYYY-MM-DD') AS last_visit_on,
       to_char({decided}, 'YYYY-MM-DD') AS decided_on,
       people.couriers, f.reviewer_ids::text AS reviewer_ids,
       coalesce(jsonb_array_length(f.photo_ids), 0) AS photo_count
FROM source_records sr
LEFT JOIN businesses b ON b.id = sr.business_id
LEFT JOIN findings f ON f.business_id = sr.business_id AND f.campaign_id = :campaign
LEFT JOIN people ON people.finding_id = f.id
LEFT JOIN dup ON dup.business_id = sr.business_id
WHERE {" AND ".join(listed_where)}
UNION ALL
SELECT 1 AS part, 0 AS k1, 0 AS k2, b.id AS k3,
       NULL::int AS row_number,
       {unlisted_original},
       NULL AS tin_kind, NULL AS reg_status, false AS duplicate,
       EXISTS (SELECT 1 FROM source_records s
               WHERE s.business_id = b.id AND s.is_current) AS other_listed,
       d.id IS NOT NULL AS discovered,
       b.id AS business_id, b.town,
       coalesce(f.verdict, 'operating') AS verdict, coalesce(f.settled, true) AS settled,
       f.basis,
       coalesce(f.corrections->>'name', d.name, b.name) AS verified_name,
       coalesce({verified_address}, d.address, b.address) AS verified_address,
       coalesce(f.corrections->>'phone', d.phone) AS verified_phone,
       coalesce(f.corrections->>'operator', d.operator) AS verified_operator,
       ST_X(coalesce(f.verified_location, d.position, b.location)) AS lon,
       ST_Y(coalesce(f.verified_location, d.position, b.location)) AS lat,
       CASE WHEN f.verified_location IS NOT NULL OR d.position IS NOT NULL THEN 'visit'
            ELSE b.location_precision END AS location_source,
       to_char(coalesce(f.first_visit_on, {discovered}), 'YYYY-MM-DD') AS first_visit_on,
       to_char(coalesce(f.last_visit_on, {discovered}), 'YYYY-MM-DD') AS last_visit_on,
       to_char(coalesce({decided}, {discovered}), 'YYYY-MM-DD') AS decided_on,
       coalesce(people.couriers, dc.staff_no) AS couriers,
       f.reviewer_ids::text AS reviewer_ids,
       coalesce(jsonb_array_length(f.photo_ids),
                (SELECT count(*) FROM discovery_photos dp
                 WHERE dp.discovery_id = d.id AND dp.photo_id IS NOT NULL))::int AS photo_count
FROM unlisted
JOIN businesses b ON b.id = unlisted.business_id
LEFT JOIN findings f ON f.business_id = b.id AND f.campaign_id = :campaign
LEFT JOIN people ON people.finding_id = f.id
LEFT JOIN LATERAL (
    SELECT * FROM discoveries d WHERE d.business_id = b.id ORDER BY d.id LIMIT 1
) d ON true
LEFT JOIN couriers dc ON dc.id = d.courier_id
WHERE coalesce(f.verdict, 'operating')
      IN ('operating', 'operating_changed', 'relocated'){unlisted_filter}
ORDER BY part, k1, k2, k3
"""


def export_query(bureau: str, campaign_id: int | None, filters: ExportFilters) -> sa.TextClause:
    """The one query behind an export (also what the benchmark runs through COPY)."""
    params: dict[str, Any] = {"bureau": bureau, "campaign": campaign_id}
    stmt = sa.text(_query_text(bureau, filters))
    if filters.towns:
        stmt = stmt.bindparams(sa.bindparam("towns", expanding=True))
        params["towns"] = list(filters.towns)
    if filters.decided_from:
        params["decided_from"] = filters.decided_from
    if filters.decided_to:
        params["decided_to"] = filters.decided_to
    return stmt.bindparams(**params)


def mask_id(value: str) -> str:
    """A resident ID number with its birth date and sequence hidden: 330784********0010."""
    if len(value) <= 10:
        return "*" * len(value)
    return value[:6] + "*" * (len(value) - 10) + value[-4:]


@dataclass
class RowOptions:
    """How rows are dressed: unmasked IDs, GCJ-02 columns, evidence links."""

    unmask_ids: bool = False
    gcj02: bool = False
    # (business_id) -> URL of the evidence page, or None when links are not wanted.
    evidence_link: Callable[[int], str] | None = None
    reviewer_names: dict[int, str] = field(default_factory=dict)


def iter_rows(
    session: Session,
    *,
    bureau: str,
    campaign_id: int | None,
    filters: ExportFilters,
    options: RowOptions,
) -> Iterator[ExportRow]:
    """Stream the export rows of `bureau` (server-side cursor; memory stays flat)."""
    n_original = len(_ORIGINAL[bureau])
    keys = [k for k, *_ in _ORIGINAL[bureau]]
    id_no_at = keys.index("legal_rep_id_no")
    tin_at = keys.index("tin") if "tin" in keys else None
    wanted = frozenset(filters.actions)
    other_note = OTHER_BUREAU_NOTE[bureau]
    labels = {action: action_label(bureau, action) for action in ACTIONS}
    reviewers_cache: dict[str | None, str | None] = {None: None}
    link = options.evidence_link
    gcj02 = options.gcj02
    situations: dict[tuple[Any, ...], str] = {}

    # The planner overestimates this query, and JIT-compiling it would cost seconds; the
    # final sort is wide, so it gets more memory before it spills to disk.
    session.execute(sa.text("SET LOCAL jit = off"))
    session.execute(sa.text("SET LOCAL work_mem = '64MB'"))
    result = session.execute(
        export_query(bureau, campaign_id, filters),
        execution_options={"stream_results": True, "yield_per": YIELD_PER},
    )
    for r in result:
        part = r[0]
        original = list(r[5 : 5 + n_original])
        (tin_kind, reg_status, duplicate, other_listed, discovered, business_id, town, verdict,
         settled, basis, v_name, v_address, v_phone, v_operator, lon, lat, loc_source, first_on,
         last_on, decided_on, couriers, reviewer_ids, photo_count) = r[5 + n_original :]
        listed = part == 0
        key = (verdict, reg_status, listed, duplicate)
        action = situations.get(key)
        if action is None:
            action = recommend(bureau, Situation(verdict, reg_status, listed, duplicate))
            situations[key] = action
        if wanted and action not in wanted:
            continue
        if not options.unmask_ids:
            if original[id_no_at]:
                original[id_no_at] = mask_id(original[id_no_at])
            if tin_at is not None and tin_kind in PERSONAL_TIN_KINDS and original[tin_at]:
                original[tin_at] = mask_id(original[tin_at])
        if reviewer_ids not in reviewers_cache:
            names = [options.reviewer_names.get(i, str(i)) for i in json.loads(reviewer_ids)]
            reviewers_cache[reviewer_ids] = "、".join(names) or None
        if listed:
            note = DUPLICATE_NOTE if duplicate else None
        else:
            note = DISCOVERY_NOTE if discovered else other_note if other_listed else None
        if lon is not None:
            lon, lat = round(lon, 7), round(lat, 7)
        values = [
            r[4], *original, business_id, town, verdict, VERDICT_LABELS[verdict], action,
            labels[action], SETTLED_LABELS[settled], basis or None, note, v_name, v_address,
            v_phone, v_operator, lon, lat,
        ]
        if gcj02:
            if lon is None:
                values += [None, None]
            else:
                g_lon, g_lat = from_wgs84(lon, lat, "gcj02")
                values += [round(g_lon, 7), round(g_lat, 7)]
        values += [
            LOCATION_SOURCE_LABELS.get(loc_source, loc_source), first_on, last_on, decided_on,
            couriers, reviewers_cache[reviewer_ids], photo_count,
            link(business_id) if link is not None and photo_count and business_id else None,
        ]
        yield ExportRow(values, action, town, lon, lat)


def count_estimate(session: Session, *, bureau: str) -> int:
    """How many rows an unfiltered export of `bureau` has, give or take the discoveries."""
    return session.scalar(
        sa.text(
            "SELECT (SELECT count(*) FROM source_records WHERE bureau = :bureau AND is_current)"
            " + (SELECT count(*) FROM discoveries)"
        ),
        {"bureau": bureau},
    ) or 0
