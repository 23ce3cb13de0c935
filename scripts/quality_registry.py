#!/usr/bin/env python3
"""Scores registry intake against a generated county's truth.csv.

Imports the county's gazetteer, tax list and commerce list into a throwaway database, then
prints pairwise precision and recall of same-business links, the share of businesses located
at their true registered address (and how many were left ambiguous or wrongly placed), and
the row issues found. Usage: scripts/quality_registry.py [COUNTY_DIR] [--keep]
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts.county_db import ThrowawayDatabase, import_file

DEFAULT_COUNTY = Path(__file__).resolve().parents[2] / "shared" / "data" / "yongkang-40k"
LOCATED_WITHIN_M = 30.0


def metres(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    k = math.pi / 180
    x = (lon2 - lon1) * k * math.cos((lat1 + lat2) / 2 * k)
    return 6371000 * math.hypot(x, (lat2 - lat1) * k)


def pairs(n: int) -> int:
    return n * (n - 1) // 2


def load_truth(county: Path) -> tuple[dict[tuple[str, int], str], dict[str, dict[str, str]]]:
    """(bureau, data row index) -> entity; entity -> its truth row."""
    record_entity: dict[tuple[str, int], str] = {}
    entities: dict[str, dict[str, str]] = {}
    with open(county / "truth.csv", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            entities[row["entity"]] = row
            for bureau, column in (("tax", "tax_rows"), ("commerce", "commerce_rows")):
                for index in filter(None, row[column].split("|")):
                    record_entity[(bureau, int(index))] = row["entity"]
    return record_entity, entities


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("county", nargs="?", type=Path, default=DEFAULT_COUNTY)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    county: Path = args.county
    record_entity, entities = load_truth(county)

    with ThrowawayDatabase(f"fcq_{uuid.uuid4().hex[:8]}", keep=args.keep) as db:
        header_rows: dict[str, int] = {}
        timings = []
        for kind, name in (
            ("gazetteer", "gazetteer.csv"),
            ("tax", "tax_registry.csv"),
            ("commerce", "commerce_registry.xlsx"),
        ):
            started = time.perf_counter()
            result = import_file(db.engine, kind, county / name)
            timings.append((kind, time.perf_counter() - started))
            if kind != "gazetteer":
                header_rows[kind] = result["header_row"]
        with db.engine.connect() as conn:
            records = conn.execute(
                sa.text(
                    "SELECT bureau, row_number, business_id FROM source_records WHERE is_current"
                )
            ).all()
            businesses = {
                r.id: r
                for r in conn.execute(
                    sa.text(
                        "SELECT id, location_precision, ST_X(location) AS lon,"
                        " ST_Y(location) AS lat FROM businesses"
                    )
                )
            }
            issues = conn.execute(sa.text("SELECT severity, reason FROM import_issues")).all()

    # Pairwise linkage scores over the records that were imported.
    cell: Counter[tuple[int, str]] = Counter()
    per_business: Counter[int] = Counter()
    per_entity: Counter[str] = Counter()
    entity_of_business: dict[int, Counter[str]] = defaultdict(Counter)
    unmatched_rows = 0
    for bureau, row_number, business_id in records:
        entity = record_entity.get((bureau, row_number - header_rows[bureau]))
        if entity is None:
            unmatched_rows += 1
            continue
        cell[(business_id, entity)] += 1
        per_business[business_id] += 1
        per_entity[entity] += 1
        entity_of_business[business_id][entity] += 1
    true_positive = sum(pairs(n) for n in cell.values())
    predicted = sum(pairs(n) for n in per_business.values())
    actual = sum(pairs(n) for n in per_entity.values())
    precision = true_positive / predicted if predicted else 1.0
    recall = true_positive / actual if actual else 1.0

    # Location: each business against its (majority) entity's registered point.
    outcome: Counter[str] = Counter()
    for business_id, counts in entity_of_business.items():
        truth = entities[counts.most_common(1)[0][0]]
        business = businesses[business_id]
        if not truth["registered_lon"]:
            outcome["no registered point in truth"] += 1
            continue
        if business.lon is None:
            outcome[f"left {business.location_precision}"] += 1
            continue
        distance = metres(
            business.lon,
            business.lat,
            float(truth["registered_lon"]),
            float(truth["registered_lat"]),
        )
        if distance <= LOCATED_WITHIN_M:
            outcome["correct"] += 1
        elif business.location_precision == "township":
            outcome["township centre only"] += 1
        else:
            outcome["wrong point"] += 1
    located_total = sum(outcome.values()) - outcome["no registered point in truth"]

    print(f"county: {county}")
    for kind, seconds in timings:
        print(f"  import {kind:<10} {seconds:7.2f} s")
    print(
        f"records: {len(records)}  businesses: {len(businesses)}  "
        f"records not in truth: {unmatched_rows}"
    )
    print(
        f"linkage pairwise precision: {precision:.4f}  recall: {recall:.4f}  "
        f"(true pairs {actual}, predicted {predicted}, correct {true_positive})"
    )
    print(
        f"location (within {LOCATED_WITHIN_M:.0f} m of the registered address), "
        f"of {located_total} businesses:"
    )
    for key, count in outcome.most_common():
        print(f"  {key:<32} {count:6d}  {count / max(located_total, 1):.4f}")
    by_reason = Counter((sev, reason.split(";")[0].split(" (")[0][:70]) for sev, reason in issues)
    print(f"row issues: {len(issues)}")
    for (severity, reason), count in by_reason.most_common(15):
        print(f"  {count:6d} {severity:<7} {reason}")


if __name__ == "__main__":
    main()
