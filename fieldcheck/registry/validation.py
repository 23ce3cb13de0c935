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
from datetime import date
from functools import lru_cache
from itertools import islice
from typing import Any, NamedTuple

from fieldcheck.registry import codes
from fieldcheck.registry.normalize import (
    TOWNS,
    normalize_address_text,
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
# json.dumps(text, ensure_ascii=False) without the generic encoder around it.
_json_text = json.encoder.encode_basestring  # type: ignore[attr-defined]
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
        # All that JSON escapes but quote and backslash is unprintable: three fast scans clear
        # nearly every row, and the search settles the rest.
        if template is not None and (
            ('"' not in joined and "\\" not in joined and joined.isprintable())
            or not _JSON_ESCAPED.search(joined)
        ):
            return template % cells
    return json.dumps(values, ensure_ascii=False, sort_keys=True)


def validate_row(
    record: Record, labels: dict[str, str]
) -> tuple[SourceRow | None, list[RowIssue]]:
    """Validate and normalise one row; None when the row cannot be imported at all.

    `labels` maps canonical field -> the header text in the file, for messages.
    """
    return validate_records([record], labels)[0]


_NO_ADDRESS = (None, None)


def _unzip(pairs: list[tuple[Any, Any]]) -> tuple[list[Any], list[Any]]:
    return [first for first, _ in pairs], [second for _, second in pairs]


def _checked(
    check_code: Callable[[object], codes.CodeCheck], cells: list[str | None]
) -> list[codes.CodeCheck | None]:
    return [check_code(cell) if cell else None for cell in cells]


# A date written as ISO text already: 2008-06-16.
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)


@lru_cache(maxsize=1 << 16)
def _iso_day(cell: str) -> str | None:
    # parse_date(cell) as ISO text: a list holds a few thousand distinct dates, most of them
    # real dates in ISO form already, which only need to be checked.
    if _ISO_DATE.fullmatch(cell):
        try:
            date.fromisoformat(cell)
            return cell
        except ValueError:
            pass  # parse_date says why
    day = parse_date(cell)
    return day.isoformat() if day else None


def _days(cells: list[Any]) -> list[str | ValueError | None]:
    # Each filled cell as an ISO date (None when it holds no date) or the error saying why
    # it is no date; None for an empty cell.
    days: list[str | ValueError | None] = []
    for cell in cells:
        try:
            if not cell:
                days.append(None)
            elif cell.__class__ is str:
                days.append(_iso_day(cell))
            else:
                day = parse_date(cell)
                days.append(day.isoformat() if day else None)
        except ValueError as exc:
            days.append(exc)
    return days


def validate_records(
    records: list[Record], labels: dict[str, str]
) -> list[tuple[SourceRow | None, list[RowIssue]]]:
    """validate_row of each record, in order.

    The work goes a column at a time: each check or normalisation runs over all the records
    in one loop, then each row is put together from its columns, its issues in the order of
    its cells. One function called in a loop keeps its code and data in the processor's
    caches; row by row, the dozen checks of a row evict one another and the same work costs
    some 40% more CPU.
    """
    values = [record.values for record in records]
    # Identifier columns first: the checks of each column the records have.
    code_checks = []
    for column, check_code in _CODE_COLUMNS:
        cells = [cell.get(column) for cell in values]
        if any(cells):
            code_checks.append((column, _checked(check_code, cells)))
    tins = _checked(codes.check_tin, [cell.get("tin") for cell in values])
    ids = _checked(codes.check_resident_id, [cell.get("legal_rep_id_no") for cell in values])
    names = [normalize_text(cell.get("name") or "") for cell in values]
    # Individual businesses are often listed under the operator's own name.
    operator_named = {
        index
        for index, name in enumerate(names)
        if not name and values[index].get("legal_rep_name")
    }
    for index in operator_named:
        names[index] = normalize_text(values[index]["legal_rep_name"])
    # What follows is only for the rows that are imported: those with a name.
    address_texts = [
        (cell.get("op_address") or cell.get("reg_address")) if name else None
        for cell, name in zip(values, names, strict=True)
    ]
    address_lines, addresses = _unzip(
        [normalize_address_text(text) if text else _NO_ADDRESS for text in address_texts]
    )
    name_keys = [normalize_name(name) if name else "" for name in names]
    raw_texts = [raw_json(cell) if name else "" for cell, name in zip(values, names, strict=True)]
    hashes = [hashlib.sha256(text.encode()).hexdigest() if text else "" for text in raw_texts]
    dates = [
        (column, _days([cell.get(column) for cell in values]))
        for column in ("established_on", "approved_on")
    ]
    office_towns = [town_of_tax_office(cell.get("tax_office")) for cell in values]
    name_towns = [town_of_name(name) for name in names]
    phones = [split_phones(phone) if (phone := cell.get("phone")) else None for cell in values]
    statuses = [map_status(cell.get("reg_status_raw")) for cell in values]

    results: list[tuple[SourceRow | None, list[RowIssue]]] = []
    for index, record in enumerate(records):
        get = values[index].get
        row = record.row_number
        issues: list[RowIssue] = []
        fields: dict[str, Any] = {}

        uscc: str | None = None
        reg_no: str | None = None
        tin: str | None = None
        for column, checks in code_checks:
            check = checks[index]
            if check is None:
                continue
            status = check.status
            fields[column + "_check"] = status
            if status == "invalid":
                issues.append(_code_issue(row, labels.get(column, column), check, _UNLINKABLE))
                continue
            if status == "warning":
                issues.append(
                    _code_issue(row, labels.get(column, column), check, "imported as it is")
                )
            if check.kind == "uscc":
                uscc = uscc or check.value
            else:
                reg_no = reg_no or check.value
        org_code: str | None = None
        check = tins[index]
        if check is not None:
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
        check = ids[index]
        if check is not None and check.status == "invalid":
            issues.append(
                _code_issue(
                    row, labels.get("legal_rep_id_no", "legal_rep_id_no"), check, "kept as it is"
                )
            )

        name = names[index]
        if index in operator_named:
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
            results.append((None, issues))
            continue

        address = addresses[index]
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
                RowIssue(
                    row,
                    labels.get("op_address", "op_address"),
                    address_texts[index],
                    _NO_DOOR,
                    "warning",
                )
            )
        for column, days in dates:
            day = days[index]
            if isinstance(day, ValueError):
                issues.append(
                    RowIssue(
                        row,
                        labels.get(column, column),
                        get(column),
                        f"{day}; imported without it",
                        "warning",
                    )
                )
            elif get(column):
                fields[column] = day
        office_town = office_towns[index]
        if office_town:
            fields["office_town"] = office_town
        name_town = name_towns[index]
        if name_town:
            fields["name_town"] = name_town
        if phones[index] is not None:
            fields["phones"] = phones[index]
        if uscc:
            fields["entity_kind"] = codes.entity_kind_from_uscc(uscc)

        name_key = name_keys[index]
        source_key = (
            uscc
            or tin
            or reg_no
            or "nk:"
            + hashlib.sha1(f"{name_key}|{address.key if address else ''}".encode()).hexdigest()[:24]
        )
        if address is None:
            key = town = road = number = None
        else:
            key = address.key
            town = address.town or address.zone
            road = address.road
            number = address.number
        # In field order: keywords would cost as much again as the whole call.
        source_row = SourceRow(
            row,
            source_key,
            values[index],
            fields,
            hashes[index],
            uscc,
            tin,
            reg_no,
            org_code,
            name,
            name_key,
            address_lines[index],
            key,
            town,
            road,
            number,
            statuses[index],
            raw_texts[index],
        )
        results.append((source_row, issues))
    return results


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
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
# The tabs between the columns of one line.
_COPY_TABS = len(STAGE_COLUMNS) - 1


@lru_cache(maxsize=256)
def _fields_template(keys: tuple[str, ...]) -> str:
    # The JSON text of a dict with these keys, "%s" for each value.
    items = (_json_text(key).replace("%", "%%") + ": %s" for key in keys)
    return "{" + ", ".join(items) + "}"


def _json_list(value: object) -> str:
    # A list of text (phone numbers) as JSON; TypeError for anything else.
    if value.__class__ is not list:
        raise TypeError(value)
    return "[" + ", ".join(map(_json_text, value)) + "]"  # type: ignore[call-overload]


def fields_json(fields: dict[str, Any]) -> str:
    """json.dumps(fields, ensure_ascii=False) for the texts, dates and phone lists of a row.

    The json module's generic encoder costs as much as the rest of a row's rendering. The
    fields of a row are text, null or a list of text, each rendered by the json module's own
    string encoder into a cached template of the keys. Anything else goes to json.
    """
    try:
        texts = tuple(
            [
                _json_text(value)
                if value.__class__ is str
                else "null"
                if value is None
                else _json_list(value)
                for value in fields.values()
            ]
        )
        return _fields_template(tuple(fields)) % texts
    except TypeError:
        return json.dumps(fields, ensure_ascii=False)


def copy_line(row: SourceRow) -> str:
    """The row as one line of COPY text format, in STAGE_COLUMNS order (raw as JSON text)."""
    texts = [
        str(row.row_number),
        row.source_key,
        row.raw_text or json.dumps(row.raw, ensure_ascii=False, sort_keys=True),
        fields_json(row.fields),
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
    line = "\t".join(["\\N" if t is None else t for t in texts])
    # A text holding a tab or a backslash adds to the tabs between columns or to the
    # backslashes of the \N marks: two counts and two searches tell whether any text needs
    # escaping, without a pass per text.
    if (
        line.count("\t") != _COPY_TABS
        or line.count("\\") != texts.count(None)
        or "\n" in line
        or "\r" in line
    ):
        line = "\t".join(["\\N" if t is None else t.translate(_COPY_ESCAPES) for t in texts])
    return line + "\n"


class ValidatedChunk(NamedTuple):
    """A run of rows validated: their staging lines (COPY text) and what was found."""

    copy_text: str
    issues: list[RowIssue]
    read: int
    imported: int
    rejected: int
    last_row: int


def validate_chunk(
    rows: list[RawRow], header_map: HeaderMap, labels: dict[str, str]
) -> ValidatedChunk:
    """Map, validate and normalise physical rows; the rows that can be imported as COPY text.

    Issues come in row order: those of reading the row, then those of its cells.
    """
    items = list(iter_records(rows, header_map))
    # Each step over the whole chunk at a time, as validate_records explains.
    results = validate_records([item for item in items if item.__class__ is Record], labels)
    copy_text = "".join([copy_line(row) for row, _ in results if row is not None])
    issues: list[RowIssue] = []
    read = imported = rejected = 0
    validated = iter(results)
    for item in items:
        if item.__class__ is Record:
            row, row_issues = next(validated)
            read += 1
            issues.extend(row_issues)
            if row is None:
                rejected += 1
            else:
                imported += 1
            continue
        issues.append(item)
        if item.severity == "error":
            read += 1
            rejected += 1
    last = rows[-1].row_number if rows else 0
    return ValidatedChunk(copy_text, issues, read, imported, rejected, last)


def _chunks(rows: Iterable[RawRow], size: int) -> Iterator[list[RawRow]]:
    items = iter(rows)
    while chunk := list(islice(items, size)):
        yield chunk


def validate_table(
    rows: Iterable[RawRow],
    header_map: HeaderMap,
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
            yield validate_chunk(chunk, header_map, labels)
        return
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        pending: deque[tuple[list[RawRow], Future[ValidatedChunk]]] = deque()
        try:
            for chunk in chunks:
                pending.append(
                    (chunk, pool.submit(validate_chunk, chunk, header_map, labels))
                )
                if len(pending) >= 2 * workers:
                    yield pending.popleft()[1].result()
            while pending:
                yield pending.popleft()[1].result()
        except BrokenProcessPool:
            # A worker could not start or died (as when the main module cannot be imported
            # again): the chunks in flight and the rest are validated here.
            log.warning("validation workers failed; validating in this process", exc_info=True)
            for chunk, _ in pending:
                yield validate_chunk(chunk, header_map, labels)
            pending.clear()
            for chunk in chunks:
                yield validate_chunk(chunk, header_map, labels)
        finally:
            # An abandoned import (the consumer stopped) does not wait for rows nobody reads.
            for _, future in pending:
                future.cancel()
