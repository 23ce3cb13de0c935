"""The campaign report for administrators: counts by outcome, verdict and action per township
and per courier, and a self-contained HTML page with an SVG map of verdicts (no network: no
tiles, no scripts, nothing fetched)."""

from __future__ import annotations

import html
import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from geoalchemy2.shape import to_shape
from shapely.geometry import MultiPolygon, Polygon
from sqlalchemy.orm import Session

from fieldcheck.dispatch.models import Campaign, Territory
from fieldcheck.errors import NotFoundError
from fieldcheck.exports.actions import ACTIONS, BUREAUS, VERDICT_LABELS, action_label
from fieldcheck.exports.rows import ExportFilters, RowOptions, columns_for, iter_rows
from fieldcheck.fieldwork.models import OUTCOMES
from fieldcheck.review.models import VERDICTS

NONE = "(none)"
# Verdict colours on the map (colour-blind safe where it matters: green/orange/red differ in
# lightness as well as hue).
VERDICT_COLOURS = {
    "operating": "#1a9850",
    "operating_changed": "#66bd63",
    "relocated": "#2c7bb6",
    "closed": "#7b3294",
    "shell": "#f46d43",
    "not_found": "#d73027",
    "unresolved": "#fdae61",
    "unvisited": "#bbbbbb",
    "discovered": "#000000",
}
OUTCOME_LABELS = {
    "operating": "正常经营",
    "operating_changed": "经营，信息有变",
    "relocated": "已迁址",
    "closed": "已停业关闭",
    "shell": "空壳",
    "not_found": "查无此户",
    "refused": "拒绝配合",
    "unreachable": "无人（待再访）",
}
BUREAU_LABELS = {"tax": "税务", "commerce": "市场监管"}
# Beyond this many points the map shows an even sample (the counts stay exact).
MAP_MAX_POINTS = 60_000
MAP_WIDTH = 960


def _nested() -> defaultdict[str, Counter[str]]:
    return defaultdict(Counter)


@dataclass
class CampaignReport:
    campaign: Campaign
    generated_at: datetime
    outcomes: Counter[str] = field(default_factory=Counter)
    outcomes_by_town: defaultdict[str, Counter[str]] = field(default_factory=_nested)
    outcomes_by_courier: defaultdict[str, Counter[str]] = field(default_factory=_nested)
    verdicts: Counter[str] = field(default_factory=Counter)
    verdicts_by_town: defaultdict[str, Counter[str]] = field(default_factory=_nested)
    verdicts_by_courier: defaultdict[str, Counter[str]] = field(default_factory=_nested)
    actions: dict[str, dict[str, Any]] = field(default_factory=dict)
    visited: int = 0
    planned: int = 0
    discoveries: int = 0
    # (lon, lat, class) for the map; class is a verdict, "unvisited" or "discovered".
    points: list[tuple[float, float, str]] = field(default_factory=list)
    territories: list[Any] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        def plain(nested: dict[str, Counter[str]]) -> dict[str, dict[str, int]]:
            return {k: dict(v) for k, v in sorted(nested.items())}

        return {
            "campaign": {"id": self.campaign.id, "name": self.campaign.name,
                         "state": self.campaign.state},
            "generated_at": self.generated_at.isoformat(),
            "businesses_planned": self.planned,
            "businesses_visited": self.visited,
            "discoveries": self.discoveries,
            "outcomes": dict(self.outcomes),
            "outcomes_by_town": plain(self.outcomes_by_town),
            "outcomes_by_courier": plain(self.outcomes_by_courier),
            "verdicts": dict(self.verdicts),
            "verdicts_by_town": plain(self.verdicts_by_town),
            "verdicts_by_courier": plain(self.verdicts_by_courier),
            "actions": {
                bureau: {
                    "total": dict(data["total"]),
                    "by_town": plain(data["by_town"]),
                    "by_courier": plain(data["by_courier"]),
                }
                for bureau, data in self.actions.items()
            },
        }


def campaign_report(session: Session, *, campaign_id: int, with_map: bool = False
                    ) -> CampaignReport:
    """Count everything the campaign found; with the map's points when `with_map`."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFoundError(f"campaign {campaign_id} not found")
    report = CampaignReport(campaign=campaign, generated_at=datetime.now(UTC))
    params = {"campaign": campaign_id}

    for town, courier, outcome, n in session.execute(sa.text("""
        SELECT b.town, c.staff_no, r.outcome, count(*)
        FROM visit_results r JOIN visits v ON v.id = r.visit_id
        JOIN businesses b ON b.id = v.business_id
        LEFT JOIN couriers c ON c.id = r.courier_id
        WHERE v.campaign_id = :campaign
        GROUP BY 1, 2, 3
    """), params):
        report.outcomes[outcome] += n
        report.outcomes_by_town[town or NONE][outcome] += n
        report.outcomes_by_courier[courier or NONE][outcome] += n

    for town, couriers, verdict, n in session.execute(sa.text("""
        WITH people AS (
            SELECT f.id, string_agg(DISTINCT c.staff_no, '、') AS couriers
            FROM findings f
            CROSS JOIN LATERAL jsonb_array_elements_text(f.result_ids) AS r(result_id)
            JOIN visit_results vr ON vr.id = r.result_id::int
            JOIN couriers c ON c.id = vr.courier_id
            WHERE f.campaign_id = :campaign GROUP BY f.id
        )
        SELECT b.town, people.couriers, f.verdict, count(*)
        FROM findings f JOIN businesses b ON b.id = f.business_id
        LEFT JOIN people ON people.id = f.id
        WHERE f.campaign_id = :campaign
        GROUP BY 1, 2, 3
    """), params):
        report.verdicts[verdict] += n
        report.verdicts_by_town[town or NONE][verdict] += n
        for courier in (couriers or NONE).split("、"):
            report.verdicts_by_courier[courier][verdict] += n

    report.planned, report.visited = session.execute(sa.text("""
        SELECT count(DISTINCT v.business_id),
               count(DISTINCT v.business_id) FILTER (
                   WHERE EXISTS (SELECT 1 FROM visit_results r WHERE r.visit_id = v.id))
        FROM visits v WHERE v.campaign_id = :campaign
    """), params).one()

    # Discoveries by the campaign's couriers within its dates.
    report.discoveries = session.scalar(sa.text("""
        SELECT count(*) FROM discoveries d JOIN campaigns camp ON camp.id = :campaign
        WHERE (camp.starts_on IS NULL OR d.captured_at >= camp.starts_on)
          AND (camp.ends_on IS NULL OR d.captured_at < camp.ends_on + 1)
          AND EXISTS (SELECT 1 FROM visits v
                      WHERE v.campaign_id = camp.id AND v.courier_id = d.courier_id)
    """), params) or 0

    filters = ExportFilters(campaign_id=campaign_id)
    for bureau in BUREAUS:
        total: Counter[str] = Counter()
        by_town: defaultdict[str, Counter[str]] = _nested()
        by_courier: defaultdict[str, Counter[str]] = _nested()
        courier_at = [c.key for c in columns_for(bureau)].index("couriers")
        for row in iter_rows(session, bureau=bureau, campaign_id=campaign_id, filters=filters,
                             options=RowOptions()):
            total[row.action] += 1
            by_town[row.town or NONE][row.action] += 1
            for courier in (row.values[courier_at] or NONE).split("、"):
                by_courier[courier][row.action] += 1
        report.actions[bureau] = {"total": total, "by_town": by_town, "by_courier": by_courier}

    if with_map:
        _collect_map(session, report)
    return report


def _collect_map(session: Session, report: CampaignReport) -> None:
    rows = session.execute(sa.text("""
        SELECT ST_X(p) AS lon, ST_Y(p) AS lat, kind FROM (
            SELECT coalesce(f.verified_location, b.location) AS p,
                   coalesce(f.verdict, 'unvisited') AS kind
            FROM (SELECT DISTINCT business_id FROM visits WHERE campaign_id = :campaign) v
            JOIN businesses b ON b.id = v.business_id
            LEFT JOIN findings f ON f.business_id = v.business_id AND f.campaign_id = :campaign
            UNION ALL
            SELECT coalesce(d.position, b.location), 'discovered'
            FROM discoveries d JOIN businesses b ON b.id = d.business_id
            WHERE NOT EXISTS (SELECT 1 FROM visits v
                              WHERE v.business_id = d.business_id AND v.campaign_id = :campaign)
        ) x WHERE p IS NOT NULL
    """), {"campaign": report.campaign.id}).all()
    step = max(1, math.ceil(len(rows) / MAP_MAX_POINTS))
    report.points = [(r.lon, r.lat, r.kind) for r in rows[::step]]
    report.territories = [
        to_shape(area) for area in session.scalars(sa.select(Territory.area))
    ]


# --- the HTML page --------------------------------------------------------------------------


def _svg_map(report: CampaignReport) -> str:
    points = report.points
    if not points:
        return "<p>没有可显示的位置。</p>"
    lons = [p[0] for p in points]
    lats = [p[1] for p in points]
    west, east, south, north = min(lons), max(lons), min(lats), max(lats)
    pad = 0.01
    west, east, south, north = west - pad, east + pad, south - pad, north + pad
    # Equirectangular, shrunk east-west by the cosine of the middle latitude.
    kx = math.cos(math.radians((south + north) / 2))
    scale = MAP_WIDTH / max((east - west) * kx, 1e-9)
    height = max(200, round((north - south) * scale))

    def xy(lon: float, lat: float) -> str:
        return f"{(lon - west) * kx * scale:.1f} {(north - lat) * scale:.1f}"

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {MAP_WIDTH} {height}" '
        f'width="100%" style="max-width:{MAP_WIDTH}px;background:#f7f7f2;border:1px solid #ccc"'
        ' role="img" aria-label="核查结论分布图">'
    ]
    outlines = []
    for shape in report.territories:
        polygons = shape.geoms if isinstance(shape, MultiPolygon) else [shape]
        for polygon in polygons:
            if not isinstance(polygon, Polygon):
                continue
            ring = polygon.simplify(0.0005).exterior.coords
            outlines.append("M" + "L".join(xy(x, y) for x, y in ring) + "Z")
    if outlines:
        parts.append(f'<path d="{"".join(outlines)}" fill="none" stroke="#c8c8c0" '
                     'stroke-width="0.8"/>')
    by_kind: defaultdict[str, list[str]] = defaultdict(list)
    for lon, lat, kind in points:
        by_kind[kind].append(f"M{xy(lon, lat)}h0")
    # Grey first, so that verdicts are drawn over businesses not yet visited.
    order = ["unvisited", *VERDICTS, "discovered"]
    for kind in sorted(by_kind, key=lambda k: order.index(k) if k in order else len(order)):
        colour = VERDICT_COLOURS.get(kind, "#444")
        width = 5 if kind == "discovered" else 3.2
        parts.append(
            f'<path d="{"".join(by_kind[kind])}" stroke="{colour}" stroke-width="{width}" '
            f'stroke-linecap="round" fill="none"><title>{html.escape(_kind_label(kind))}'
            f"</title></path>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _kind_label(kind: str) -> str:
    if kind == "unvisited":
        return "未核查"
    if kind == "discovered":
        return "实地发现（名单外）"
    return VERDICT_LABELS.get(kind, kind)


def _table(title: str, nested: dict[str, Counter[str]], keys: list[str],
           labels: dict[str, str], colours: dict[str, str] | None = None) -> str:
    e = html.escape
    keys = [k for k in keys if any(c.get(k) for c in nested.values())]
    if not keys:
        return ""
    head = "".join(f"<th>{e(labels.get(k, k))}</th>" for k in keys)
    body = []
    for name in sorted(nested, key=lambda n: (n == NONE, n)):
        counts = nested[name]
        total = sum(counts.get(k, 0) for k in keys)
        bar = ""
        if colours and total:
            bar = "".join(
                f'<span style="width:{100 * counts.get(k, 0) / total:.2f}%;'
                f'background:{colours.get(k, "#888")}"></span>'
                for k in keys if counts.get(k)
            )
            bar = f'<td class="bar"><div>{bar}</div></td>'
        cells = "".join(f"<td>{counts.get(k, 0) or ''}</td>" for k in keys)
        label = "（无）" if name == NONE else name
        body.append(f"<tr><th>{e(label)}</th>{cells}<td><b>{total}</b></td>{bar}</tr>")
    extra = "<th>构成</th>" if colours else ""
    return (f"<h3>{e(title)}</h3><table><tr><th></th>{head}<th>合计</th>{extra}</tr>"
            + "".join(body) + "</table>")


def render_html(report: CampaignReport) -> str:
    """The report as one HTML page (inline CSS and SVG; opens offline)."""
    e = html.escape
    verdict_labels = {v: VERDICT_LABELS[v] for v in VERDICTS}
    legend = "".join(
        f'<span class="key"><i style="background:{VERDICT_COLOURS[k]}"></i>'
        f"{e(_kind_label(k))} {report.verdicts.get(k, '') if k in VERDICTS else ''}</span>"
        for k in (*VERDICTS, "unvisited", "discovered")
    )
    cards = [
        ("计划核查经营主体", report.planned),
        ("已走访", report.visited),
        ("已形成结论", sum(report.verdicts.values())),
        ("快递员新发现（名单外）", report.discoveries),
    ]
    card_html = "".join(f'<div class="card"><b>{n:,}</b><span>{e(t)}</span></div>'
                        for t, n in cards)
    action_sections = []
    for bureau, data in report.actions.items():
        labels = {a: action_label(bureau, a) for a in ACTIONS}
        name = BUREAU_LABELS[bureau]
        total = data["total"]
        summary = "、".join(f"{labels[a]} {total[a]:,}" for a in ACTIONS if total.get(a))
        action_sections.append(
            f"<h2>{e(name)}部门：处理建议</h2><p>{e(summary) or '（无记录）'}</p>"
            + _table(f"{name}：按乡镇", data["by_town"], list(ACTIONS), labels)
            + _table(f"{name}：按快递员", data["by_courier"], list(ACTIONS), labels)
        )
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>核查活动报告 · {e(report.campaign.name)}</title>
<style>
body{{font-family:system-ui,"PingFang SC","Microsoft YaHei",sans-serif;margin:1.5rem auto;
max-width:1100px;color:#222;padding:0 1rem}}
h1{{margin-bottom:.2rem}}.sub{{color:#666;margin-top:0}}
.cards{{display:flex;gap:1rem;flex-wrap:wrap;margin:1rem 0}}
.card{{border:1px solid #ddd;border-radius:6px;padding:.6rem 1rem;min-width:9rem}}
.card b{{display:block;font-size:1.6rem}}.card span{{color:#666;font-size:.85rem}}
.key{{display:inline-block;margin:0 1rem .3rem 0;font-size:.9rem}}
.key i{{display:inline-block;width:.8rem;height:.8rem;border-radius:50%;margin-right:.3rem;
vertical-align:-1px}}
table{{border-collapse:collapse;margin:.5rem 0 1.5rem;font-size:.85rem}}
th,td{{border-bottom:1px solid #e4e4e4;padding:.25rem .5rem;text-align:right}}
tr th:first-child{{text-align:left;white-space:nowrap}}
td.bar{{width:220px}}td.bar div{{display:flex;height:.8rem;width:220px}}
td.bar span{{display:block;height:100%}}
</style></head><body>
<h1>{e(report.campaign.name)}</h1>
<p class="sub">核查活动报告 · 生成于 {report.generated_at:%Y-%m-%d %H:%M} UTC</p>
<div class="cards">{card_html}</div>
<h2>核查结论分布</h2>
<div>{legend}</div>
{_svg_map(report)}
{_table("核查结论：按乡镇", report.verdicts_by_town, list(VERDICTS), verdict_labels,
        VERDICT_COLOURS)}
{_table("核查结论：按快递员", report.verdicts_by_courier, list(VERDICTS), verdict_labels,
        VERDICT_COLOURS)}
<h2>走访结果</h2>
{_table("走访结果：按乡镇", report.outcomes_by_town, list(OUTCOMES), OUTCOME_LABELS)}
{_table("走访结果：按快递员", report.outcomes_by_courier, list(OUTCOMES), OUTCOME_LABELS)}
{"".join(action_sections)}
</body></html>"""
