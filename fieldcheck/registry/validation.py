"""Turning one mapped row of a bureau list into a normalised source record, with its issues."""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import operator
import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from functools import lru_cache
from itertools import islice
from typing import Any, NamedTuple

from fieldcheck.registry import codes
from fieldcheck.registry.normalize import (
    TOWNS,
    normalize_address,
    normalize_name,
    normalize_text,
    parse_date,
    split_phones,
)
from fieldcheck.registry.reading import HeaderMap, RawRow, Record, RowIssue, iter_records

log = logging.getLogger(__name__)

# Registry status words -> one vocabulary for both bureaus; the raw text is always kept.
# Checked in order: "吊销（已注销）" is deregistered, "吊销（未注销）" revoked.
STATUS_WORDS: tuple[tuple[str, str], ...] = (
    ("已注销", "deregistered"),
    ("非正常", "abnormal"),
    ("异常", "abnormal"),
    ("吊销", "revoked"),
    ("撤销", "revoked"),
    ("注销", "deregistered"),
    ("清算", "liquidating"),
    ("停业", "suspended"),
    ("歇业", "suspended"),
    ("迁出", "moved_out"),
    ("正常", "active"),
    ("存续", "active"),
    ("在营", "active"),
    ("开业", "active"),
    ("在册", "active"),
)
REG_STATUSES = (
    "active",
    "abnormal",
    "revoked",
    "deregistered",
    "liquidating",
    "suspended",
    "moved_out",
    "other",
)


# The economic development zone is not a township, but the postal gazetteer files its
# addresses under it as if it were one; its tax office is the 经济税务所.
DEVELOPMENT_ZONE = "经济开发区"
# Township by its two-character short form (江南 -> 江南街道); no two share one.
_TOWN_BY_SHORT = {town[:2]: town for town in TOWNS}


# Tax offices and status words are a few dozen texts repeated over every row of a list.
@lru_cache(maxsize=1024)
def town_of_tax_office(office: str | None) -> str | None:
    """The township a tax office serves (永康市税务局西溪税务所 -> 西溪镇), when it names one."""
    if not office:
        return None
    text = normalize_text(office).replace("永康市税务局", "")
    if "经济" in text or "开发区" in text:
        return DEVELOPMENT_ZONE
    return next((town for town in TOWNS if town[:2] in text), None)


def town_of_name(name: str) -> str | None:
    """The township an individual business's registered name starts with, if any.

    Names follow 行政区划 + 字号 + 行业 + 组织形式: 永康市江南杨建电动工具经营部 is in 江南街道.
    """
    rest = name
    for prefix in ("浙江省", "金华市", "永康市"):
        rest = rest.removeprefix(prefix)
    # Each township's two-character short form is distinct, so this is the first town whose
    # short form starts the rest.
    return _TOWN_BY_SHORT.get(rest[:2])


@lru_cache(maxsize=1024)
def map_status(raw: str | None) -> str | None:
    if not raw:
        return None
    text = normalize_text(raw)
    return next((status for word, status in STATUS_WORDS if word in text), "other")


@dataclass
class SourceRow:
    """A validated row, ready to be loaded as a source record."""

    row_number: int
    source_key: str
    raw: dict[str, str | None]
    fields: dict[str, Any]
    content_hash: str
    uscc: str | None
    tin: str | None
    reg_no: str | None
    org_code: str | None
    name: str
    name_key: str
    address: str | None
    address_key: str | None
    town: str | None
    road: str | None
    number: str | None
    reg_status: str | None
    # raw as JSON text (sorted keys), the text the content hash covers; "" when not made.
    raw_text: str = ""


def _code_issue(row: int, column: str, check: codes.CodeCheck, consequence: str) -> RowIssue:
    return RowIssue(row, column, check.value, f"{check.reason}; {consequence}", "warning")


# The identifier columns a row may have, each with its check.
_CODE_COLUMNS = (
    ("uscc", codes.check_uscc),
    ("uscc_or_reg_no", codes.check_business_code),
    ("reg_no", codes.check_reg_no),
)
_UNLINKABLE = "imported; linked by name and address instead"
_NO_DOOR = (
    "no road and door number found in the address; it will be located to its township at best"
)
# What JSON escapes in text when it may write non-ASCII as it is.
_JSON_ESCAPED = re.compile(r'[\x00-\x1f"\\]')


@lru_cache(maxsize=1024)
def _json_template(keys: tuple[str, ...], nulls: tuple[bool, ...]) -> str | None:
    """A %-template of the JSON text of a dict with these keys, "%s" for each value not None."""
    parts = []
    for key, null in zip(sorted(keys), nulls, strict=True):
        head = json.dumps(key, ensure_ascii=False)
        if "%" in head:
            return None
        parts.append(f"{head}: null" if null else f'{head}: "%s"')
    return "{" + ", ".join(parts) + "}"


@lru_cache(maxsize=64)
def _json_plan(keys: tuple[Any, ...]) -> tuple[Callable[[Any], Any], str] | None:
    """The values of a dict with these keys in sorted key order, and the template of a row
    without empty cells; None for a dict that is left to json."""
    if len(keys) < 2 or not all(type(key) is str for key in keys):
        return None
    template = _json_template(keys, (False,) * len(keys))
    return None if template is None else (operator.itemgetter(*sorted(keys)), template)


def raw_json(values: dict[str, str | None]) -> str:
    """json.dumps(values, ensure_ascii=False, sort_keys=True), the text the content hash covers.

    The json module costs as much as all the checks of a row together: a row of text cells
    without quote, backslash or control character is formatted into a cached template of its
    keys instead. Anything else goes to json.
    """
    keys = tuple(values)
    plan = _json_plan(keys)
    if plan is not None:
        getter, template = plan
        cells = getter(values)
        if not all(cells):
            # Empty cells (None) take another template.
            nulls = tuple(cell is None for cell in cells)
            cells = tuple(cell for cell in cells if cell is not None)
            template = _json_template(keys, nulls)
        try:
            joined = "".join(cells)
        except TypeError:
            template = None  # a value that is not text is left to json
        if template is not None and not _JSON_ESCAPED.search(joined):
            return template % cells
    return json.dumps(values, ensure_ascii=False, sort_keys=True)


def validate_row(
    record: Record, bureau: str, labels: dict[str, str]
) -> tuple[SourceRow | None, list[RowIssue]]:
    """Validate and normalise one row; None when the row cannot be imported at all.

    `labels` maps canonical field -> the header text in the file, for messages.
    """
    values = record.values
    row = record.row_number
    get = values.get
    issues: list[RowIssue] = []
    fields: dict[str, Any] = {}

    uscc: str | None = None
    reg_no: str | None = None
    tin: str | None = None
    for column, check_code in _CODE_COLUMNS:
        raw = get(column)
        if not raw:
            continue
        check = check_code(raw)
        status = check.status
        fields[column + "_check"] = status
        if status == "invalid":
            issues.append(_code_issue(row, labels.get(column, column), check, _UNLINKABLE))
            continue
        if status == "warning":
            issues.append(_code_issue(row, labels.get(column, column), check, "imported as it is"))
        if check.kind == "uscc":
            uscc = uscc or check.value
        else:
            reg_no = reg_no or check.value
    org_code: str | None = None
    raw_tin = get("tin")
    if raw_tin:
        check = codes.check_tin(raw_tin)
        tin = check.value
        fields["tin_kind"] = check.kind
        fields["tin_check"] = check.status
        if check.status == "invalid":
            issues.append(_code_issue(row, labels.get("tin", "tin"), check, _UNLINKABLE))
        elif check.kind == "uscc":
            uscc = uscc or check.value
        elif check.kind == "region_plus_orgcode":
            org_code = check.value[6:]
    if uscc:
        org_code = uscc[8:17]
    raw_id = get("legal_rep_id_no")
    if raw_id:
        check = codes.check_resident_id(raw_id)
        if check.status == "invalid":
            issues.append(
                _code_issue(
                    row, labels.get("legal_rep_id_no", "legal_rep_id_no"), check, "kept as it is"
                )
            )

    name = normalize_text(get("name") or "")
    if not name and get("legal_rep_name"):
        # Individual businesses are often listed under the operator's own name.
        name = normalize_text(values["legal_rep_name"])
        issues.append(
            RowIssue(
                row,
                labels.get("name", "name"),
                None,
                "name is empty; the operator's name is used instead",
                "warning",
            )
        )
    if not name:
        issues.append(
            RowIssue(
                row,
                labels.get("name", "name"),
                None,
                "name is empty and there is no operator name; row not imported",
            )
        )
        return None, issues

    address_text = get("op_address") or get("reg_address")
    address = normalize_address(address_text) if address_text else None
    if address is None:
        issues.append(
            RowIssue(
                row,
                labels.get("op_address", "op_address"),
                None,
                "no address; imported but cannot be located",
                "warning",
            )
        )
    elif address.road is None or address.number is None:
        issues.append(
            RowIssue(row, labels.get("op_address", "op_address"), address_text, _NO_DOOR, "warning")
        )
    for column in ("established_on", "approved_on"):
        cell = get(column)
        if cell:
            try:
                day = parse_date(cell)
                fields[column] = day.isoformat() if day else None
            except ValueError as exc:
                issues.append(
                    RowIssue(
                        row,
                        labels.get(column, column),
                        cell,
                        f"{exc}; imported without it",
                        "warning",
                    )
                )
    office_town = town_of_tax_office(get("tax_office"))
    if office_town:
        fields["office_town"] = office_town
    name_town = town_of_name(name)
    if name_town:
        fields["name_town"] = name_town
    phone = get("phone")
    if phone:
        fields["phones"] = split_phones(phone)
    entity = codes.entity_kind_from_uscc(uscc) if uscc else None
    if entity:
        fields["entity_kind"] = entity

    name_key = normalize_name(name)
    code_key = uscc or tin or reg_no
    source_key = (
        code_key
        or "nk:"
        + hashlib.sha1(f"{name_key}|{address.key if address else ''}".encode()).hexdigest()[:24]
    )
    raw_text = raw_json(values)
    content_hash = hashlib.sha256(raw_text.encode()).hexdigest()
    if address is None:
        text = key = town = road = number = None
    else:
        text = normalize_text(address_text)
        key = address.key
        town = address.town or address.zone
        road = address.road
        number = address.number
    return SourceRow(
        row_number=row,
        source_key=source_key,
        raw=values,
        fields=fields,
        content_hash=content_hash,
        uscc=uscc,
        tin=tin,
        reg_no=reg_no,
        org_code=org_code,
        name=name,
        name_key=name_key,
        address=text,
        address_key=key,
        town=town,
        road=road,
        number=number,
        reg_status=map_status(get("reg_status_raw")),
        raw_text=raw_text,
    ), issues


# The columns of the staging table, in the order of the lines copy_line writes.
STAGE_COLUMNS = (
    "row_number",
    "source_key",
    "raw",
    "fields",
    "content_hash",
    "uscc",
    "tin",
    "reg_no",
    "org_code",
    "name",
    "name_key",
    "address",
    "address_key",
    "town",
    "road",
    "number",
    "reg_status",
)
# What PostgreSQL's COPY text format escapes, and how.
_COPY_SPECIAL = re.compile(r"[\\\t\n\r]")
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def copy_line(row: SourceRow) -> str:
    """The row as one line of COPY text format, in STAGE_COLUMNS order (raw as JSON text)."""
    texts = [
        row.source_key,
        row.raw_text or json.dumps(row.raw, ensure_ascii=False, sort_keys=True),
        json.dumps(row.fields, ensure_ascii=False),
        row.content_hash,
        row.uscc,
        row.tin,
        row.reg_no,
        row.org_code,
        row.name,
        row.name_key,
        row.address,
        row.address_key,
        row.town,
        row.road,
        row.number,
        row.reg_status,
    ]
    present = [t for t in texts if t is not None]
    if _COPY_SPECIAL.search("".join(present)):
        texts = [None if t is None else t.translate(_COPY_ESCAPES) for t in texts]
    return f"{row.row_number}\t" + "\t".join("\\N" if t is None else t for t in texts) + "\n"


class ValidatedChunk(NamedTuple):
    """A run of rows validated: their staging lines (COPY text) and what was found."""

    copy_text: str
    issues: list[RowIssue]
    read: int
    imported: int
    rejected: int
    last_row: int


def validate_chunk(
    rows: list[RawRow], header_map: HeaderMap, bureau: str, labels: dict[str, str]
) -> ValidatedChunk:
    """Map, validate and normalise physical rows; the rows that can be imported as COPY text.

    Issues come in row order: those of reading the row, then those of its cells.
    """
    lines: list[str] = []
    issues: list[RowIssue] = []
    read = imported = rejected = 0
    for item in iter_records(rows, header_map):
        if isinstance(item, RowIssue):
            issues.append(item)
            if item.severity == "error":
                read += 1
                rejected += 1
            continue
        read += 1
        row, row_issues = validate_row(item, bureau, labels)
        issues.extend(row_issues)
        if row is None:
            rejected += 1
            continue
        imported += 1
        lines.append(copy_line(row))
    last = rows[-1].row_number if rows else 0
    return ValidatedChunk("".join(lines), issues, read, imported, rejected, last)


def _chunks(rows: Iterable[RawRow], size: int) -> Iterator[list[RawRow]]:
    items = iter(rows)
    while chunk := list(islice(items, size)):
        yield chunk


def validate_table(
    rows: Iterable[RawRow],
    header_map: HeaderMap,
    bureau: str,
    labels: dict[str, str],
    *,
    workers: int = 0,
    chunk_rows: int = 2000,
) -> Iterator[ValidatedChunk]:
    """validate_chunk over a file's data rows, chunk by chunk, in order.

    With `workers` > 0, chunks are validated in that many worker processes while this one
    goes on reading and loading; at most two chunks per worker are in flight, so a
    million-row list is never held in memory. Workers come from a fork server (a fresh
    interpreter that has imported this module): the caller may hold database connections
    and threads, which a plain fork would copy. As with any multiprocessing, a script that
    imports lists must keep its work under `if __name__ == "__main__"`: workers import the
    main module again. Should the workers fail to start, validation goes on in this process.
    """
    chunks = _chunks(rows, chunk_rows)
    if workers <= 0:
        for chunk in chunks:
            yield validate_chunk(chunk, header_map, bureau, labels)
        return
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        pending: deque[tuple[list[RawRow], Future[ValidatedChunk]]] = deque()
        try:
            for chunk in chunks:
                pending.append((chunk, pool.submit(validate_chunk, chunk, header_map, bureau,
                                                   labels)))
                if len(pending) >= 2 * workers:
                    yield pending.popleft()[1].result()
            while pending:
                yield pending.popleft()[1].result()
        except BrokenProcessPool:
            # A worker could not start or died (as when the main module cannot be imported
            # again): the chunks in flight and the rest are validated here.
            log.warning("validation workers failed; validating in this process", exc_info=True)
            for chunk, _ in pending:
                yield validate_chunk(chunk, header_map, bureau, labels)
            pending.clear()
            for chunk in chunks:
                yield validate_chunk(chunk, header_map, bureau, labels)
        finally:
            # An abandoned import (the consumer stopped) does not wait for rows nobody reads.
            for _, future in pending:
                future.cancel()
