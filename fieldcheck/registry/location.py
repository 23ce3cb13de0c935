"""Locating businesses with the postal gazetteer.

A business takes the gazetteer point of its address (road and door number, in the township
its address names). The tax list's production address is tried first, as the place a
courier should go. A road and number found in several townships, with no township named,
is marked ambiguous and left without a point rather than guessed. Otherwise the business
falls back to the centre of its township (precision `township`) or stays `unlocated`.
Businesses located by a verified visit are never moved. A business left with no current
record (its registrations gone from the lists) keeps the location it had: the last known
address is where a courier checks that it is gone.

The whole decision is one pass of set-based SQL inside the database: bringing the gazetteer
and every record into Python cost more than deciding.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from fieldcheck.registry.loader import analyze_sample, copy_rows, create_stage


def _ewkt(lon: float, lat: float) -> str:
    return f"SRID=4326;POINT({lon:.7f} {lat:.7f})"


def _stage_centres(session: Session) -> None:
    """Township centres (the mean of a township's gazetteer points) into `locate_centres`.

    Summed by the database, divided and rounded here: the point is written as text with
    seven decimals, as the gazetteer's own points are."""
    create_stage(session, "locate_centres", "town text, location geometry(Point, 4326)")
    sums = session.execute(sa.text(
        "SELECT town, sum(ST_X(location)), sum(ST_Y(location)), count(*) "
        "FROM gazetteer_addresses GROUP BY town"
    )).all()
    copy_rows(session, "locate_centres", ("town", "location"),
              ((town, _ewkt(x / n, y / n)) for town, x, y, n in sums))


def record_columns(table: str, record_id: str, bureau: str) -> str:
    """What decide_locations reads of a record, but its business (`bid`): the select list
    over `table`, a table or alias with source_records' columns, whose record id is the
    expression `record_id` and bureau `bureau`.

    Empty strings count as missing, as elsewhere in intake. Records are taken tax first (its
    production address is where couriers go), then in the order they came: `ord` sorts
    them so."""
    return f"""
        {record_id} AS rid,
        CAST(CAST({bureau} AS text) <> 'tax' AS int) * 4294967296 + {record_id} AS ord,
        CAST({bureau} AS text) AS bureau, NULLIF({table}.town, '') COLLATE "C" AS town,
        NULLIF({table}.road, '') COLLATE "C" AS road,
        NULLIF({table}.number, '') COLLATE "C" AS number, {table}.row_number,
        {table}.fields ->> 'office_town' AS office_town,
        {table}.fields ->> 'name_town' AS name_town
    """


# Each business's current records.
_RECORDS_SQL = f"""
    SELECT r.business_id AS bid, {record_columns("r", "r.id", "r.bureau")}
    FROM source_records r JOIN businesses b ON b.id = r.business_id
    JOIN {{scope}} t ON t.id = b.id
    WHERE r.is_current AND b.location_precision <> 'visit'
"""

# The gazetteer's doors, each with its number of points and its first point: once per
# township, and once for any township (`town` ''), so that each record finds its candidates
# with one lookup. Keys are compared byte for byte, which is what equality is, under the "C"
# collation, which hashes and sorts cheaply.
_DOORS_SQL = """
    CREATE TEMP TABLE locate_doors ON COMMIT DROP AS
    SELECT road COLLATE "C" AS road, number COLLATE "C" AS number, town COLLATE "C" AS town,
           count(*) AS n, min(id) AS gid
    FROM gazetteer_addresses GROUP BY 1, 2, 3
    UNION ALL
    SELECT road COLLATE "C", number COLLATE "C", '', count(*), min(id)
    FROM gazetteer_addresses GROUP BY 1, 2
"""

_DECIDE_SQL = """
    WITH matched AS (
        -- Records whose door is in the gazetteer, in the township they name if they do.
        SELECT rc.bid, rc.ord, d.n, d.gid
        FROM locate_records rc JOIN locate_doors d
          ON d.road = rc.road AND d.number = rc.number AND d.town = COALESCE(rc.town, '')
    ), firsts AS (
        -- The first record, in order, whose door is a single point; else the last one
        -- whose door names several points.
        SELECT bid, min(ord) FILTER (WHERE n = 1) AS exact_ord,
               max(ord) FILTER (WHERE n > 1) AS ambiguous_ord
        FROM matched GROUP BY bid
    ), exact AS (
        SELECT f.bid, m.gid, ' (' || rc.bureau || ' row ' || rc.row_number || ')' AS why
        FROM firsts f JOIN matched m ON m.ord = f.exact_ord
        JOIN locate_records rc ON rc.ord = f.exact_ord
    ), ambiguous_points AS (
        SELECT f.bid, g.id, g.town COLLATE "C" AS town, rc.road || rc.number || '号' AS door
        FROM firsts f JOIN locate_records rc ON rc.ord = f.ambiguous_ord
        JOIN gazetteer_addresses g
          ON g.road COLLATE "C" = rc.road AND g.number COLLATE "C" = rc.number
         AND (rc.town IS NULL OR g.town COLLATE "C" = rc.town)
        WHERE f.exact_ord IS NULL
    ), hinted AS (
        -- Registry facts that name the township settle which of the same-named doors is
        -- meant: the serving tax office (one per township), else the township an individual
        -- business's registered name begins with. Only a single point settles it.
        SELECT bid,
               count(*) FILTER (WHERE by_office) AS by_office,
               min(id) FILTER (WHERE by_office) AS office_gid,
               count(*) FILTER (WHERE by_name) AS by_name,
               min(id) FILTER (WHERE by_name) AS name_gid,
               min(door) AS door,
               string_agg(DISTINCT town, ', ' ORDER BY town) AS towns
        FROM (
            SELECT p.bid, p.id, p.town, p.door,
                   bool_or(rc.office_town = p.town) AS by_office,
                   bool_or(rc.name_town = p.town) AS by_name
            FROM ambiguous_points p JOIN locate_records rc ON rc.bid = p.bid
            GROUP BY p.bid, p.id, p.town, p.door
        ) p
        GROUP BY bid
    ), picked AS (
        SELECT bid, gid, why FROM exact
        UNION ALL
        SELECT bid, CASE WHEN by_office = 1 THEN office_gid ELSE name_gid END,
               CASE WHEN by_office = 1 THEN ' (township from the tax office)'
                    ELSE ' (township from the registered name)' END
        FROM hinted WHERE by_office = 1 OR by_name = 1
    ), businesses_in AS (
        -- Each business with its first record naming a township.
        SELECT bid, min(ord) FILTER (WHERE town IS NOT NULL) AS town_ord
        FROM locate_records GROUP BY bid
    )
    INSERT INTO locate_result (business_id, location, precision, source, town)
    SELECT bi.bid,
           CASE WHEN p.bid IS NOT NULL THEN g.location
                WHEN h.bid IS NOT NULL THEN NULL
                ELSE c.location END,
           CASE WHEN p.bid IS NOT NULL THEN 'address'
                WHEN h.bid IS NOT NULL THEN 'ambiguous'
                WHEN c.town IS NOT NULL THEN 'township'
                ELSE 'unlocated' END,
           CASE WHEN p.bid IS NOT NULL THEN 'gazetteer ' || g.address || p.why
                WHEN h.bid IS NOT NULL
                THEN h.door || ' exists in ' || h.towns || '; the address names no township'
                WHEN c.town IS NOT NULL
                THEN 'centre of ' || c.town || ': the address is not in the gazetteer'
                ELSE 'no township and no gazetteer match' END,
           CASE WHEN p.bid IS NOT NULL THEN g.town
                WHEN h.bid IS NOT NULL THEN NULL
                ELSE t.town END
    FROM businesses_in bi
    LEFT JOIN picked p ON p.bid = bi.bid
    LEFT JOIN gazetteer_addresses g ON g.id = p.gid
    LEFT JOIN hinted h ON h.bid = bi.bid
    LEFT JOIN locate_records t ON t.ord = bi.town_ord
    LEFT JOIN locate_centres c ON c.town = t.town
"""


def stage_gazetteer(session: Session) -> None:
    """What the decisions read of the gazetteer, as temporary tables of the transaction:
    its doors (`locate_doors`) and its township centres (`locate_centres`). Call it once
    before locating, and again after replacing the gazetteer in the same transaction."""
    _stage_centres(session)
    session.execute(sa.text("DROP TABLE IF EXISTS locate_doors"))
    session.execute(sa.text(_DOORS_SQL))
    # Planned without statistics, the join of records to doors sorts both sides.
    analyze_sample(session, "locate_doors")


def decide_locations(
    session: Session, records_sql: str, params: dict[str, Any] | None = None
) -> None:
    """Decide where each business is, from its records, into the temporary table
    `locate_result` (business_id, location, precision, source, town). stage_gazetteer
    must have been called in the transaction.

    `records_sql` selects the records of the businesses to locate, kept as the temporary
    table `locate_records`: their business (`bid`), then record_columns(...), which are:
      rid              the record;
      ord              the order a business's records are tried in;
      bureau, row_number  named in the location's source;
      town, road, number  as normalised, NULL when missing;
      office_town      the township of the record's serving tax office (from its fields);
      name_town        the township its registered name begins with (from its fields).
    """
    session.execute(sa.text("DROP TABLE IF EXISTS locate_records"))
    session.execute(
        sa.text(f"CREATE TEMP TABLE locate_records ON COMMIT DROP AS {records_sql}"), params or {}
    )
    create_stage(
        session,
        "locate_result",
        "business_id integer, location geometry(Point, 4326), precision text, "
        "source text, town text",
    )
    # Nothing to locate (a gazetteer imported before any list): nothing to decide.
    if session.scalar(sa.text("SELECT EXISTS (SELECT FROM locate_records)")):
        # Without statistics the joins below are planned for a few rows, and sort.
        analyze_sample(session, "locate_records")
        session.execute(sa.text(_DECIDE_SQL))


def locate_businesses(
    session: Session, *, everything: bool = False, again: str | None = None,
    moved: str | None = None,
) -> dict[str, int]:
    """Locate businesses not yet located (all but visit-located ones when `everything`);
    stage_gazetteer must have been called in the transaction.

    `again` names a temporary table of business ids (`id`) to locate again as well. Only
    businesses whose point, precision, source or township changes are written; `moved`
    names a temporary table (`id`) to add those whose point, precision or township changes
    to. Returns the count of businesses looked at by the precision found.
    """
    if everything:
        scope = "businesses"
    else:
        scope = "(SELECT id FROM businesses WHERE location_precision = 'unlocated'"
        scope += f" UNION SELECT id FROM {again})" if again else ")"
    decide_locations(session, _RECORDS_SQL.format(scope=scope))
    if moved:
        # What a phone shows of a business: its point, precision and township (not whence).
        session.execute(sa.text(f"""
            INSERT INTO {moved}
            SELECT b.id FROM businesses b JOIN locate_result l ON b.id = l.business_id
            WHERE b.location_precision IS DISTINCT FROM l.precision
               OR b.town IS DISTINCT FROM COALESCE(l.town, b.town)
               OR b.location IS DISTINCT FROM l.location
        """))
    session.execute(sa.text("""
        UPDATE businesses b SET location = l.location, location_precision = l.precision,
            location_source = l.source, town = COALESCE(l.town, b.town), updated_at = now()
        FROM locate_result l WHERE b.id = l.business_id
          AND (b.location_precision IS DISTINCT FROM l.precision
               OR b.location_source IS DISTINCT FROM l.source
               OR b.town IS DISTINCT FROM COALESCE(l.town, b.town)
               OR b.location IS DISTINCT FROM l.location)
    """))
    # In the order businesses are first found with each precision, as before.
    counts = session.execute(sa.text(
        "SELECT precision, count(*) FROM locate_result GROUP BY precision "
        "ORDER BY min(business_id)"
    )).all()
    return {precision: n for precision, n in counts}
