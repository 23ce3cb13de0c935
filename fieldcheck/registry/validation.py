"""Turning one mapped row of a bureau list into a normalised source record, with its issues."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from fieldcheck.registry import codes
from fieldcheck.registry.normalize import (
    TOWNS,
    normalize_address,
    normalize_name,
    normalize_text,
    parse_date,
    split_phones,
)
from fieldcheck.registry.reading import Record, RowIssue

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
    return next((town for town in TOWNS if rest.startswith(town[:2])), None)


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


def _code_issue(row: int, column: str, check: codes.CodeCheck, consequence: str) -> RowIssue:
    return RowIssue(row, column, check.value, f"{check.reason}; {consequence}", "warning")


def validate_row(
    record: Record, bureau: str, labels: dict[str, str]
) -> tuple[SourceRow | None, list[RowIssue]]:
    """Validate and normalise one row; None when the row cannot be imported at all.

    `labels` maps canonical field -> the header text in the file, for messages.
    """
    values = record.values
    row = record.row_number
    issues: list[RowIssue] = []
    fields: dict[str, Any] = {}

    def label(canonical: str) -> str:
        return labels.get(canonical, canonical)

    uscc: str | None = None
    reg_no: str | None = None
    tin: str | None = None
    for column in ("uscc", "uscc_or_reg_no", "reg_no"):
        raw = values.get(column)
        if not raw:
            continue
        check = (
            codes.check_reg_no(raw)
            if column == "reg_no"
            else codes.check_business_code(raw)
            if column == "uscc_or_reg_no"
            else codes.check_uscc(raw)
        )
        fields[f"{column}_check"] = check.status
        if check.status == "invalid":
            issues.append(
                _code_issue(
                    row, label(column), check, "imported; linked by name and address instead"
                )
            )
            continue
        if check.status == "warning":
            issues.append(_code_issue(row, label(column), check, "imported as it is"))
        if check.kind == "uscc":
            uscc = uscc or check.value
        else:
            reg_no = reg_no or check.value
    org_code: str | None = None
    raw_tin = values.get("tin")
    if raw_tin:
        check = codes.check_tin(raw_tin)
        tin = check.value
        fields["tin_kind"] = check.kind
        fields["tin_check"] = check.status
        if check.status == "invalid":
            issues.append(
                _code_issue(
                    row, label("tin"), check, "imported; linked by name and address instead"
                )
            )
        elif check.kind == "uscc":
            uscc = uscc or check.value
        elif check.kind == "region_plus_orgcode":
            org_code = check.value[6:]
    if uscc:
        org_code = uscc[8:17]
    raw_id = values.get("legal_rep_id_no")
    if raw_id:
        check = codes.check_resident_id(raw_id)
        if check.status == "invalid":
            issues.append(_code_issue(row, label("legal_rep_id_no"), check, "kept as it is"))

    name = normalize_text(values.get("name") or "")
    if not name and values.get("legal_rep_name"):
        # Individual businesses are often listed under the operator's own name.
        name = normalize_text(values["legal_rep_name"])
        issues.append(
            RowIssue(
                row,
                label("name"),
                None,
                "name is empty; the operator's name is used instead",
                "warning",
            )
        )
    if not name:
        issues.append(
            RowIssue(
                row,
                label("name"),
                None,
                "name is empty and there is no operator name; row not imported",
            )
        )
        return None, issues

    address_text = values.get("op_address") or values.get("reg_address")
    address = normalize_address(address_text) if address_text else None
    if address is None:
        issues.append(
            RowIssue(
                row,
                label("op_address"),
                None,
                "no address; imported but cannot be located",
                "warning",
            )
        )
    elif address.road is None or address.number is None:
        issues.append(
            RowIssue(
                row,
                label("op_address"),
                address_text,
                "no road and door number found in the address; it will be "
                "located to its township at best",
                "warning",
            )
        )
    for column in ("established_on", "approved_on"):
        if values.get(column):
            try:
                day = parse_date(values[column])
                fields[column] = day.isoformat() if day else None
            except ValueError as exc:
                issues.append(
                    RowIssue(
                        row, label(column), values[column], f"{exc}; imported without it", "warning"
                    )
                )
    office_town = town_of_tax_office(values.get("tax_office"))
    if office_town:
        fields["office_town"] = office_town
    name_town = town_of_name(name)
    if name_town:
        fields["name_town"] = name_town
    if values.get("phone"):
        fields["phones"] = split_phones(values["phone"])
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
    raw_json = json.dumps(values, ensure_ascii=False, sort_keys=True)
    status_raw = values.get("reg_status_raw")
    return SourceRow(
        row_number=row,
        source_key=source_key,
        raw=values,
        fields=fields,
        content_hash=hashlib.sha256(raw_json.encode()).hexdigest(),
        uscc=uscc,
        tin=tin,
        reg_no=reg_no,
        org_code=org_code,
        name=name,
        name_key=name_key,
        address=normalize_text(address_text) if address_text else None,
        address_key=address.key if address else None,
        town=(address.town or address.zone) if address else None,
        road=address.road if address else None,
        number=address.number if address else None,
        reg_status=map_status(status_raw),
    ), issues
