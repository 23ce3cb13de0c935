#!/usr/bin/env python3
"""Benchmarks registry intake beside its physical limit and the usual quick alternative.

Two workloads, each timed four ways in the same run, every measurement in a fresh child
process so that its peak RSS is its own:
  (a) raw COPY of the same rows (as text) into a bare table: the physical limit;
  (b) pandas read_csv / read_excel + to_sql: what an administrator would reach for, with
      no validation, linkage or location at all;
  (c) the storage floor, bureau lists only: the same rows already validated (before the
      clock starts) COPY'd into source_records, its indexes built after and its batch key
      checked, as an import leaves them. Every import writes at least this; it decides
      nothing;
  (d) fieldcheck's import job: validation, staging, merge, linkage and location.
Workloads: the whole county intake (gazetteer, tax list, commerce list) and a generated
1,000,000-row tax list (the county's rows repeated with fresh, valid credit codes).
Usage: scripts/bench_registry.py [COUNTY_DIR] [--rows N]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import resource
import subprocess
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DEFAULT_COUNTY = Path(__file__).resolve().parents[2] / "shared" / "data" / "yongkang-40k"
WORK_DIR = Path(os.environ.get("TMPDIR", "/tmp")) / "fieldcheck-bench"
FILES = (("gazetteer", "gazetteer.csv"), ("tax", "tax_registry.csv"),
         ("commerce", "commerce_registry.xlsx"))


# --- children: one measurement each, printing a JSON line ---------------------------------

def _rows_as_text(kind: str, path: Path) -> tuple[list[str], list[list[str]]]:
    from fieldcheck.registry.reading import open_table

    table = open_table(path, profile=kind)
    rows = [[v or "" for v in row.values[: len(table.headers)]] for row in table]
    return table.headers, rows


def child_copy(files: list[tuple[str, Path]], db_url: str) -> dict[str, float]:
    """Raw COPY: rows already decoded to text before the clock starts."""
    import psycopg

    from fieldcheck.db import normalise_url

    prepared = []
    for kind, path in files:
        headers, rows = _rows_as_text(kind, path)
        buffer = io.StringIO()
        csv.writer(buffer).writerows(rows)
        prepared.append((kind, len(headers), buffer.getvalue()))
    conninfo = normalise_url(db_url).replace("postgresql+psycopg", "postgresql")
    started = time.perf_counter()
    with psycopg.connect(conninfo) as conn:
        for kind, width, text in prepared:
            cols = ", ".join(f"c{i} text" for i in range(width))
            conn.execute(f"CREATE TABLE bare_{kind}_{uuid.uuid4().hex[:6]} ({cols})")
            table = conn.execute("SELECT max(relname) FROM pg_class WHERE relname LIKE %s",
                                 (f"bare_{kind}_%",)).fetchone()[0]
            with conn.cursor().copy(f"COPY {table} FROM STDIN WITH (FORMAT csv)") as copy:
                copy.write(text)
        conn.commit()
    return {"seconds": time.perf_counter() - started}


def child_pandas(files: list[tuple[str, Path]], db_url: str) -> dict[str, float]:
    import pandas as pd

    from fieldcheck.db import make_engine

    engine = make_engine(db_url)
    started = time.perf_counter()
    for kind, path in files:
        if path.suffix == ".xlsx":
            frame = pd.read_excel(path, header=1, dtype=str)
        else:
            encoding = "gb18030" if kind != "gazetteer" else "utf-8"
            frame = pd.read_csv(path, encoding=encoding, dtype=str)
        frame.to_sql(f"pandas_{kind}_{uuid.uuid4().hex[:6]}", engine, index=False)
    return {"seconds": time.perf_counter() - started}


def child_floor(files: list[tuple[str, Path]], db_url: str) -> dict[str, float]:
    """The rows validated into COPY text (in a file: a million rows are 0.9 GB of it) before
    the clock starts; then only what storing them takes. Bureau lists only."""
    import sqlalchemy as sa

    from fieldcheck.db import make_engine, make_session_factory
    from fieldcheck.registry.models import ImportBatch
    from fieldcheck.registry.service import _drop_secondary_indexes, _open
    from fieldcheck.registry.validation import STAGE_COLUMNS, validate_table

    prepared = []
    for kind, path in files:
        if kind == "gazetteer":
            continue
        table, header_map = _open(path, path.name, kind, None)
        labels = {field: header_map.header_of(field) for field in header_map.columns}
        text_path = WORK_DIR / f"floor_{kind}_{uuid.uuid4().hex[:6]}.tsv"
        with table, open(text_path, "w", encoding="utf-8") as out:
            for chunk in validate_table(table, header_map, labels):
                out.write(chunk.copy_text)
        prepared.append((kind, text_path))
    sessions = make_session_factory(make_engine(db_url))
    columns = ", ".join(("batch_id", "bureau", "is_current", *STAGE_COLUMNS))
    started = time.perf_counter()
    for kind, text_path in prepared:
        with sessions() as session:
            batch = ImportBatch(kind=kind, filename=text_path.name, sha256=text_path.name,
                                state="succeeded")
            session.add(batch)
            session.flush()
            conn = session.connection()
            rebuilt = _drop_secondary_indexes(conn, "source_records")
            prefix = f"{batch.id}\t{kind}\tt\t"
            cursor = conn.connection.driver_connection.cursor()
            with open(text_path, encoding="utf-8") as lines, cursor.copy(
                f"COPY source_records ({columns}) FROM STDIN"
            ) as copy:
                for line in lines:
                    copy.write(prefix + line)
            for definition in rebuilt:
                conn.execute(sa.text(definition))
            session.commit()
    elapsed = time.perf_counter() - started
    for _, text_path in prepared:
        text_path.unlink()
    return {"seconds": elapsed}


def child_fieldcheck(files: list[tuple[str, Path]], db_url: str) -> dict[str, float]:
    from fieldcheck.db import make_engine
    from scripts.county_db import import_file

    engine = make_engine(db_url)
    started = time.perf_counter()
    for kind, path in files:
        import_file(engine, kind, path)
    return {"seconds": time.perf_counter() - started}


CHILDREN = {"copy": child_copy, "pandas": child_pandas, "floor": child_floor,
            "fieldcheck": child_fieldcheck}


def run_child(method: str, files: list[tuple[str, Path]], db_url: str) -> dict[str, float]:
    """Run one measurement in a child process; its result with its own peak RSS."""
    spec = json.dumps({"method": method, "files": [[k, str(p)] for k, p in files],
                       "db": db_url})
    proc = subprocess.Popen([sys.executable, __file__, "--child", spec],
                            stdout=subprocess.PIPE, text=True)
    out, _ = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"{method} failed")
    return json.loads(out.strip().splitlines()[-1])


# --- the 1M-row list -----------------------------------------------------------------------

def make_big_tax_list(source: Path, rows: int, target: Path) -> Path:
    """The county's tax rows repeated with fresh valid credit codes until `rows` rows."""
    from fieldcheck.registry.codes import org_code_check_digit, uscc_check_digit

    if target.exists():
        return target
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    with open(source, encoding="gb18030", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        template = list(reader)
    tmp = target.with_suffix(".part")
    with open(tmp, "w", encoding="gb18030", newline="") as out:
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(header)
        for i in range(rows):
            row = list(template[i % len(template)])
            body = ""
            n = i
            for _ in range(8):
                n, r = divmod(n, 31)
                body += alphabet[r]
            if not body.isalnum():
                continue
            first17 = f"9{'1' if row[1].startswith('91') else '2'}330784" + body
            first17 += org_code_check_digit(body)
            row[0] = str(i + 1)
            row[1] = first17 + uscc_check_digit(first17)
            writer.writerow(row)
    tmp.replace(target)
    return target


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        spec = json.loads(sys.argv[2])
        files = [(k, Path(p)) for k, p in spec["files"]]
        result = CHILDREN[spec["method"]](files, spec["db"])
        # ru_maxrss is in KiB on Linux: the child's own peak, imports and all.
        result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("county", nargs="?", type=Path, default=DEFAULT_COUNTY)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--skip-big", action="store_true", help="only the county intake")
    args = parser.parse_args()

    from scripts.county_db import ThrowawayDatabase, import_file

    WORK_DIR.mkdir(parents=True, exist_ok=True)
    workloads = [("county intake (3 files)", [(k, args.county / n) for k, n in FILES], False)]
    if not args.skip_big:
        big = make_big_tax_list(args.county / "tax_registry.csv", args.rows,
                                WORK_DIR / f"tax_{args.rows}.csv")
        workloads.append((f"tax list, {args.rows:,} rows", [("tax", big)], True))

    print(f"{'workload':<28} {'method':<34} {'seconds':>8} {'× COPY':>7} {'peak RSS':>9}")
    for label, files, needs_gazetteer in workloads:
        results = {}
        for method in ("copy", "pandas", "floor", "fieldcheck"):
            with ThrowawayDatabase(f"fcb_{uuid.uuid4().hex[:8]}") as db:
                if needs_gazetteer and method == "fieldcheck":
                    import_file(db.engine, "gazetteer", args.county / "gazetteer.csv")
                db.engine.dispose()
                results[method] = run_child(method, files, db.url)
        base = results["copy"]["seconds"]
        names = {"copy": "(a) raw COPY, bare table",
                 "pandas": "(b) pandas read + to_sql",
                 "floor": "(c) floor: store validated rows",
                 "fieldcheck": "(d) fieldcheck import"}
        for method, result in results.items():
            print(f"{label:<28} {names[method]:<34} {result['seconds']:8.2f} "
                  f"{result['seconds'] / base:7.1f} {result.get('peak_rss_mb', 0):7.0f} MB")
        ratio = results["fieldcheck"]["seconds"] / results["pandas"]["seconds"]
        print(f"{'':<28} fieldcheck ÷ pandas: {ratio:.2f}")


if __name__ == "__main__":
    main()
