"""Streaming reader of bureau lists (CSV, XLSX, XLS): encodings, header rows, column mapping."""

from __future__ import annotations

import codecs
import csv
import io
import logging
import operator
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import cached_property
from itertools import islice
from pathlib import Path
from typing import Literal, NamedTuple

from python_calamine import (
    CalamineError,
    CalamineWorkbook,
    PasswordError,
    SheetTypeEnum,
    SheetVisibleEnum,
)

from fieldcheck.errors import InputFileError, MissingColumnsError

log = logging.getLogger(__name__)

# Enough to see Chinese text in any real registry before deciding UTF-8 vs GB18030.
HEAD_BYTES = 1 << 20
HEADER_SEARCH_ROWS = 20
MIN_HEADER_MATCHES = 2
WORKBOOK_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".xlsb", ".ods")
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# Office stores a password-protected .xlsx as an OLE container holding this stream.
_ENCRYPTED_STREAM = "EncryptedPackage".encode("utf-16-le")
_DELIMITERS = (",", "\t", ";", "|")
# Control characters that do not occur in text files (tab, line ends, form feed and the old
# DOS end-of-file mark 0x1A do).
_CONTROL_CHARS = re.compile("[\x00-\x08\x0e-\x19\x1b-\x1f\x7f]")
# Whitespace at either end of a cell, in cells joined by NUL (which is no whitespace).
_EDGE_SPACE = re.compile(r"(?:\A|\x00)\s|\s(?:\x00|\Z)")

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class RowIssue:
    """A problem found in one row (or the header row) of an imported file."""

    row_number: int | None
    column: str | None
    value: str | None
    reason: str
    severity: Severity = "error"


class RawRow(NamedTuple):
    """One physical row: its 1-based number as Excel or an editor shows it, and its cells."""

    row_number: int
    values: list[str | None]


class Record(NamedTuple):
    """One data row mapped to canonical fields (stripped text, None when empty)."""

    row_number: int
    values: dict[str, str | None]


RecordOrError = Record | RowIssue


# Canonical registry fields and the headers bureaus use for them (DOMAIN.md §4 and real exports).
REGISTRY_FIELDS: dict[str, tuple[str, ...]] = {
    "source_row_id": ("主体身份代码", "内部序号", "登记序号", "序号", "行号"),
    "uscc": ("统一社会信用代码", "社会信用代码", "信用代码", "统一代码", "uscc"),
    "tin": (
        "纳税人识别号",
        "税号",
        "纳税识别号",
        "社会信用代码（纳税人识别号）",
        "纳税人识别号（统一社会信用代码）",
        "tin",
    ),
    # Commerce exports put the credit code, or the old number of older records, in one column.
    "uscc_or_reg_no": (
        "统一社会信用代码/注册号",
        "注册号/统一社会信用代码",
        "信用代码/注册号",
        "统一社会信用代码（注册号）",
        "uscc_or_reg_no",
    ),
    "reg_no": ("注册号", "营业执照注册号", "工商注册号", "reg_no"),
    "org_code": ("组织机构代码", "org_code"),
    "name": (
        "纳税人名称",
        "企业名称",
        "名称",
        "字号名称",
        "主体名称",
        "个体户名称",
        "市场主体名称",
        "企业名称（字号名称）",
        "name",
    ),
    "entity_kind": ("市场主体类型", "主体类型", "企业个体标志", "entity_kind"),
    "legal_rep_name": (
        "法定代表人",
        "负责人",
        "经营者",
        "经营者姓名",
        "业主",
        "业户名称",
        "投资人",
        "法人",
        "法人代表",
        "法定代表人（负责人、业主）",
        "法定代表人/经营者",
        "法定代表人（经营者姓名）",
        "legal_rep_name",
    ),
    "legal_rep_id_type": ("证件类型", "身份证件种类", "证件种类", "legal_rep_id_type"),
    "legal_rep_id_no": (
        "证件号码",
        "身份证件号码",
        "法定代表人身份证号",
        "居民身份证号码",
        "身份证号",
        "身份证号码",
        "legal_rep_id_no",
    ),
    "phone": (
        "联系电话",
        "生产经营地联系电话",
        "移动电话",
        "固定电话",
        "办税人电话",
        "电话",
        "手机",
        "手机号码",
        "phone",
    ),
    "reg_address": (
        "注册地址",
        "住所",
        "登记住所",
        "住所/经营场所",
        "住所（登记、个体户经营场所）",
        "reg_address",
    ),
    "op_address": (
        "生产经营地址",
        "经营场所",
        "经营地址",
        "实际经营地址",
        "生产经营地",
        "op_address",
        "address",
    ),
    "division_code": (
        "行政区划",
        "行政区划代码",
        "住所所在行政区划",
        "生产经营地所在行政区划",
        "所属区划",
        "division_code",
    ),
    "street_town": (
        "所属街道",
        "所属乡镇",
        "街道乡镇",
        "乡镇街道",
        "乡镇（街道）",
        "乡镇",
        "street_town",
    ),
    "reg_type": ("登记注册类型", "企业类型", "类型", "reg_type"),
    "reg_type_code": ("登记注册类型代码", "企业类型代码", "reg_type_code"),
    "industry_code": ("行业代码", "国标行业", "行业代码（国标）", "industry_code"),
    "industry": ("行业", "行业名称", "行业门类", "industry"),
    "tax_office": (
        "主管税务机关",
        "主管税务所",
        "主管税务所（科、分局）",
        "税务机关名称",
        "主管税务机关名称",
        "主管税务所名称",
        "tax_office",
    ),
    "tax_officer": ("税收管理员", "主管税务人员", "管理员", "专管员", "tax_officer"),
    "reg_status_raw": (
        "登记状态",
        "纳税人状态",
        "经营状态",
        "状态",
        "登记状态（中文）",
        "reg_status",
        "status",
    ),
    "reg_authority": ("登记机关", "reg_authority"),
    "established_on": ("成立日期", "开业日期", "登记日期", "税务登记日期", "established_on"),
    "approved_on": (
        "核准日期",
        "吊销日期",
        "注销日期",
        "核准日期（登记、吊销、注销日期）",
        "approved_on",
    ),
    "business_scope": ("经营范围", "business_scope"),
    "registered_capital": ("注册资本", "资金数额", "注册资本（资金数额）", "registered_capital"),
}

GAZETTEER_FIELDS: dict[str, tuple[str, ...]] = {
    "address": ("标准地址", "地址", "门牌地址", "全地址", "address", "full_address"),
    "town": ("乡镇街道", "乡镇", "街道", "乡镇（街道）", "所属乡镇", "town"),
    "road": ("道路", "路名", "街路巷", "街路巷名", "road", "street"),
    "number": ("门牌号", "门牌", "门牌号码", "number", "door_number", "house_number"),
    "lon": ("经度", "lon", "lng", "longitude"),
    "lat": ("纬度", "lat", "latitude"),
    "crs": ("坐标系", "crs"),
    "postcode": ("邮政编码", "邮编", "postcode"),
    "segment": ("投递段", "段道", "segment"),
}


@dataclass(frozen=True)
class Profile:
    """The columns of one kind of list: canonical field -> header aliases, and what is required.

    Each entry of `required` is a group of fields of which at least one must be present.
    """

    name: str
    fields: dict[str, tuple[str, ...]]
    required: tuple[tuple[str, ...], ...]

    @cached_property
    def alias_index(self) -> dict[str, str]:
        """Normalised header text -> canonical field (the first field listing an alias wins)."""
        index: dict[str, str] = {}
        for canonical, aliases in self.fields.items():
            for alias in aliases:
                index.setdefault(header_key(alias), canonical)
        return index

    def label(self, canonical: str) -> str:
        """How a field is named to an administrator: `name (纳税人名称)`."""
        aliases = self.fields.get(canonical, ())
        return f"{canonical} ({aliases[0]})" if aliases else canonical


PROFILES: dict[str, Profile] = {
    "tax": Profile(
        "tax",
        REGISTRY_FIELDS,
        required=(("tin", "uscc"), ("name",), ("op_address", "reg_address")),
    ),
    "commerce": Profile(
        "commerce",
        REGISTRY_FIELDS,
        required=(("uscc", "uscc_or_reg_no", "reg_no"), ("name",), ("reg_address", "op_address")),
    ),
    "gazetteer": Profile(
        "gazetteer",
        GAZETTEER_FIELDS,
        required=(("address", "road"), ("lon",), ("lat",)),
    ),
}

_BRACKET_CHARS = "()[]{}【】〔〕〖〗「」『』《》〈〉"
_HEADER_NOISE = re.compile(r"[\s_\-*:：" + re.escape(_BRACKET_CHARS) + "]+")
_BRACKETED = re.compile(r"[(\[{【〔〖「『《〈][^)\]}】〕〗」』》〉]*[)\]}】〕〗」』》〉]")
_HEADER_PARTS = re.compile(r"[/、|]")


def header_key(text: object) -> str:
    """Header text as compared with aliases: NFKC, case-folded, no spaces, brackets or marks."""
    value = unicodedata.normalize("NFKC", "" if text is None else str(text)).casefold()
    return _HEADER_NOISE.sub("", value)


def column_letter(index: int) -> str:
    """Excel column name of a 0-based column index (0 -> A, 27 -> AB)."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def _get_profile(profile: str | Profile) -> Profile:
    if isinstance(profile, Profile):
        return profile
    try:
        return PROFILES[profile]
    except KeyError:
        raise ValueError(f"unknown profile {profile!r}; one of {', '.join(PROFILES)}") from None


def match_header(text: object, profile: str | Profile) -> str | None:
    """The canonical field a header cell stands for in this profile, or None."""
    prof = _get_profile(profile)
    index = prof.alias_index
    key = header_key(text)
    if not key:
        return None
    if key in index:
        return index[key]
    # 联系电话（手机） → 联系电话; 法定代表人/经营者 → 法定代表人.
    plain = _BRACKETED.sub("", unicodedata.normalize("NFKC", str(text)))
    if header_key(plain) in index:
        return index[header_key(plain)]
    found = [index[k] for k in map(header_key, _HEADER_PARTS.split(plain)) if k in index]
    if {"uscc", "reg_no"} <= set(found) and "uscc_or_reg_no" in prof.fields:
        return "uscc_or_reg_no"
    return found[0] if found else None


# ---------------------------------------------------------------------------------------------
# Encodings and cells


def _looks_binary(text: str) -> bool:
    return len(_CONTROL_CHARS.findall(text)) > max(2, len(text) // 100)


def _is_blank(cell: str | None) -> bool:
    # isspace() does not copy the string as strip() would: this runs for every cell.
    return not cell or cell.isspace()


def detect_encoding(head: bytes) -> str:
    """Encoding of a text file from its first bytes: BOM, else strict UTF-8, else GB18030.

    Raises InputFileError for binary data (NUL or control bytes) or bytes valid in neither.
    """
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    # Excel's "Unicode text" export is UTF-16 with a BOM.
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if b"\x00" in head:
        raise InputFileError("the file contains binary data (NUL bytes), not CSV text")
    for encoding in ("utf-8", "gb18030"):
        decoder = codecs.getincrementaldecoder(encoding)("strict")
        try:
            # final=False: the head may end in the middle of a character.
            text = decoder.decode(head, final=False)
        except UnicodeDecodeError:
            continue
        if _looks_binary(text):
            raise InputFileError("the file contains binary data (control bytes), not CSV text")
        return encoding
    raise InputFileError("the file is neither UTF-8 nor GB18030 (GBK) text")


def _detect_delimiter(text: str) -> str:
    lines = [line for line in text.splitlines()[:50] if line.strip()]
    counts = {d: sum(line.count(d) for line in lines) for d in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def cell_text(value: object) -> str | None:
    """A spreadsheet cell as text: IDs without `.0`, dates as ISO strings, blanks as None."""
    if value is None:
        return None
    if isinstance(value, str):
        return None if _is_blank(value) else value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        # Excel keeps 15 significant digits; a longer ID shows as 9.11330784521235E+17 and
        # codes.py recognises that form as a mangled code.
        return f"{value:.15G}"
    if isinstance(value, datetime):
        if value.time() == time():
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return str(value)
    return str(value)


# ---------------------------------------------------------------------------------------------
# Physical rows of each format


def _iter_csv_rows(path: Path, name: str, encoding: str, delimiter: str) -> Iterator[RawRow]:
    row_number = 0
    with open(path, "rb") as raw:
        # newline="" lets the csv module see CRLF and quoted line breaks itself.
        text = io.TextIOWrapper(raw, encoding=encoding, errors="strict", newline="")
        reader = csv.reader(text, delimiter=delimiter)
        try:
            for cells in reader:
                # Counting records, not lines: Excel shows a cell with a line break as one row.
                row_number += 1
                # Blank cells become None (_is_blank inlined: this runs for every cell of the
                # file); most rows have none, and keep the list the csv module made.
                if "" in cells or any(map(str.isspace, cells)):
                    cells = [cell if cell and not cell.isspace() else None for cell in cells]
                yield RawRow(row_number, cells)
        except UnicodeDecodeError:
            # Text is decoded a block ahead of the csv reader, so the place is only "after".
            raise InputFileError(
                f"{name}: bytes that are not valid {encoding} come after row {row_number};"
                " save the whole file in one encoding (UTF-8 or GB18030)",
                details={"file": name, "after_row": row_number},
            ) from None
        except csv.Error as exc:
            raise InputFileError(
                f"{name}: row {row_number + 1} is not valid CSV ({exc})",
                details={"file": name, "row": row_number + 1},
            ) from None


def _is_encrypted_office_file(path: Path) -> bool:
    tail = b""
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            if _ENCRYPTED_STREAM in tail + chunk:
                return True
            tail = chunk[-len(_ENCRYPTED_STREAM) :]
    return False


def _password_error(name: str) -> InputFileError:
    return InputFileError(
        f"{name} is password-protected; remove the password in Excel and upload it again",
        details={"file": name},
    )


def _open_workbook(path: Path, name: str) -> CalamineWorkbook:
    try:
        if path.suffix.lower() in WORKBOOK_SUFFIXES:
            return CalamineWorkbook.from_path(str(path))
        with open(path, "rb") as fh:
            return CalamineWorkbook.from_filelike(fh)
    except PasswordError:
        raise _password_error(name) from None
    except CalamineError as exc:
        raise InputFileError(
            f"{name} could not be read as an Excel workbook; it is corrupt or incomplete ({exc})",
            details={"file": name},
        ) from None


def _iter_workbook_rows(path: Path, name: str, sheet: str | None) -> Iterator[RawRow]:
    workbook = _open_workbook(path, name)
    with workbook:
        try:
            if sheet is not None:
                worksheet = workbook.get_sheet_by_name(sheet)
            else:
                visible = [
                    meta.name
                    for meta in workbook.sheets_metadata
                    if meta.typ == SheetTypeEnum.WorkSheet
                    and meta.visible == SheetVisibleEnum.Visible
                ]
                if not visible:
                    raise InputFileError(f"{name} has no visible worksheet", details={"file": name})
                worksheet = workbook.get_sheet_by_name(visible[0])
            # calamine holds the sheet's cells in memory and hands them over row by row.
            # iter_rows starts at the sheet's first row (leading blank rows come as empty
            # lists) but at its first used column: pad so that positions are Excel's.
            blank_columns: list[str | None] = [None] * (worksheet.start or (0, 0))[1]
            for index, cells in enumerate(worksheet.iter_rows()):
                try:
                    # Most rows hold only filled text cells and keep the list calamine made.
                    plain = "" not in cells and not any(map(str.isspace, cells))
                except TypeError:
                    plain = False  # a number or a date
                if not plain:
                    # Most cells are text: cell_text's test for them is inlined.
                    cells = [
                        (cell if cell and not cell.isspace() else None)
                        if cell.__class__ is str
                        else cell_text(cell)
                        for cell in cells
                    ]
                yield RawRow(index + 1, blank_columns + cells if blank_columns else cells)
        except PasswordError:
            raise _password_error(name) from None
        except CalamineError as exc:
            raise InputFileError(
                f"{name}: the worksheet could not be read ({exc})", details={"file": name}
            ) from None


# ---------------------------------------------------------------------------------------------
# Tables


def _matched_fields(values: list[str | None], profiles: list[Profile], explicit: set[str]) -> int:
    found: set[str] = set()
    for cell in values:
        if not cell:
            continue
        if header_key(cell) in explicit:
            found.add(f"explicit:{header_key(cell)}")
            continue
        for prof in profiles:
            canonical = match_header(cell, prof)
            if canonical:
                found.add(f"{prof.name}:{canonical}")
                break
    return len(found)


def _explicit_headers(explicit: Mapping[str, str] | Iterable[str] | None) -> set[str]:
    if explicit is None:
        return set()
    texts = explicit.values() if isinstance(explicit, Mapping) else explicit
    return {header_key(text) for text in texts}


def _find_header(
    rows: list[RawRow], profile: Profile | None, explicit_keys: set[str]
) -> RawRow | None:
    profiles = [profile] if profile else list(PROFILES.values())
    for row in rows:
        if _matched_fields(row.values, profiles, explicit_keys) >= MIN_HEADER_MATCHES:
            return row
    # No row looks like a header: the first non-empty one is taken, so that the
    # missing-columns error shows the administrator what the file starts with.
    return next((row for row in rows if any(row.values)), None)


class Table:
    """The data rows of one file after its header row, read lazily.

    Iterating yields RawRow objects; the first pass continues the read that found the header,
    later passes read the file again. Use as a context manager (or call close) to release
    the file when a pass is abandoned.
    """

    def __init__(
        self,
        *,
        name: str,
        format: str,
        opener: Callable[[], Iterator[RawRow]],
        profile: Profile | None,
        explicit: Mapping[str, str] | Iterable[str] | None,
        encoding: str | None = None,
        delimiter: str | None = None,
    ) -> None:
        self.name = name
        self.format = format
        self.encoding = encoding
        self.delimiter = delimiter
        self.profile = profile.name if profile else None
        self._opener = opener
        rows = opener()
        head = list(islice(rows, HEADER_SEARCH_ROWS))
        header = _find_header(head, profile, _explicit_headers(explicit))
        if header is None:
            rows.close()
            raise InputFileError(
                f"{name} has no header row: its first {HEADER_SEARCH_ROWS} rows are empty",
                details={"file": name},
            )
        cells = [value or "" for value in header.values]
        while cells and not cells[-1].strip():
            cells.pop()
        self.headers: list[str] = [cell.strip() for cell in cells]
        self.header_row_number: int = header.row_number
        after = [row for row in head if row.row_number > header.row_number]
        self._pending: tuple[list[RawRow], Iterator[RawRow]] | None = (after, rows)

    def __iter__(self) -> Iterator[RawRow]:
        if self._pending is not None:
            buffered, rest = self._pending
            self._pending = None
            yield from buffered
            yield from rest
            return
        for row in self._opener():
            if row.row_number > self.header_row_number:
                yield row

    def close(self) -> None:
        """Release the file held open since the header was read, if no pass consumed it."""
        if self._pending is not None:
            rest = self._pending[1]
            self._pending = None
            if hasattr(rest, "close"):
                rest.close()

    def __enter__(self) -> Table:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Table {self.name!r} {self.format} header at row {self.header_row_number}>"


def open_table(
    path: str | Path,
    *,
    filename: str | None = None,
    profile: str | Profile | None = None,
    explicit: Mapping[str, str] | Iterable[str] | None = None,
    sheet: str | None = None,
) -> Table:
    """Open a CSV, XLSX or XLS file and find its header row (title rows above it are skipped).

    `filename` is the name the administrator uploaded, used in messages when `path` is a
    temporary file. `profile` says which aliases identify the header row (all profiles when
    None); `explicit` header texts (a field -> header mapping, or the texts alone) count as
    matches too. The format is taken from the
    content, not the name.
    """
    path = Path(path)
    name = filename or path.name
    prof = _get_profile(profile) if profile is not None else None
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise InputFileError(f"{name} cannot be opened ({exc.strerror})") from None
    if size == 0:
        raise InputFileError(f"{name} is empty (0 bytes)", details={"file": name})
    with open(path, "rb") as fh:
        head = fh.read(HEAD_BYTES)
    suffix = Path(name).suffix.lower()

    if head.startswith(_OLE_MAGIC):
        if _is_encrypted_office_file(path):
            raise _password_error(name)
        return Table(
            name=name,
            format="xls",
            opener=lambda: _iter_workbook_rows(path, name, sheet),
            profile=prof,
            explicit=explicit,
        )
    if head.startswith(_ZIP_MAGIC):
        return Table(
            name=name,
            format="xlsx",
            opener=lambda: _iter_workbook_rows(path, name, sheet),
            profile=prof,
            explicit=explicit,
        )
    if suffix in WORKBOOK_SUFFIXES:
        raise InputFileError(
            f"{name} is not an Excel workbook although its name ends in {suffix};"
            " the file is corrupt or in another format",
            details={"file": name},
        )
    try:
        encoding = detect_encoding(head)
    except InputFileError as exc:
        raise InputFileError(f"{name}: {exc.message}", details={"file": name}) from None
    sample = head.decode(encoding, errors="ignore")
    delimiter = _detect_delimiter(sample)
    log.debug("reading %s as CSV, encoding %s, delimiter %r", name, encoding, delimiter)
    return Table(
        name=name,
        format="csv",
        opener=lambda: _iter_csv_rows(path, name, encoding, delimiter),
        profile=prof,
        explicit=explicit,
        encoding=encoding,
        delimiter=delimiter,
    )


# ---------------------------------------------------------------------------------------------
# Header mapping and records


@dataclass
class HeaderMap:
    """Which column holds which canonical field, plus file-level warnings about the header."""

    profile: str
    headers: list[str]
    columns: dict[str, int]
    header_row_number: int = 1
    warnings: list[RowIssue] = field(default_factory=list)
    unmapped: list[str] = field(default_factory=list)

    def header_of(self, canonical: str) -> str:
        """The header text of the column read for a field."""
        return self.headers[self.columns[canonical]]


def map_headers(
    headers: list[str],
    profile: str | Profile,
    explicit: dict[str, str] | None = None,
    *,
    header_row_number: int = 1,
) -> HeaderMap:
    """Map header cells to the profile's canonical fields.

    `explicit` (field -> header text) overrides the aliases. When a header repeats or two
    columns stand for the same field, the first one is read and a warning says so. Raises
    MissingColumnsError when a required field has no column.
    """
    prof = _get_profile(profile)
    columns: dict[str, int] = {}
    warnings: list[RowIssue] = []
    unmapped: list[str] = []
    keys = [header_key(h) for h in headers]

    explicit_columns: set[int] = set()
    for canonical, header_text in (explicit or {}).items():
        if canonical not in prof.fields:
            raise InputFileError(
                f"{canonical!r} is not a field of {prof.name} lists;"
                f" known fields: {', '.join(prof.fields)}"
            )
        wanted = header_key(header_text)
        if wanted not in keys:
            raise InputFileError(
                f"column {header_text!r} chosen for {canonical} is not in the file;"
                f" headers found: {', '.join(h for h in headers if h)}",
                details={"field": canonical, "header": header_text},
            )
        columns[canonical] = keys.index(wanted)
        explicit_columns.add(keys.index(wanted))

    first_of_key: dict[str, int] = {}
    for index, (text, key) in enumerate(zip(headers, keys, strict=True)):
        if not key:
            continue
        if key in first_of_key:
            first = first_of_key[key]
            warnings.append(
                RowIssue(
                    header_row_number,
                    text,
                    text,
                    f"column {column_letter(index)} repeats the header of column"
                    f" {column_letter(first)}; only column {column_letter(first)} is read",
                    "warning",
                )
            )
            continue
        first_of_key[key] = index
        if index in explicit_columns:
            continue
        canonical = match_header(text, prof)
        if canonical is None:
            unmapped.append(text)
            continue
        if canonical in columns:
            if canonical not in (explicit or {}):
                first = columns[canonical]
                warnings.append(
                    RowIssue(
                        header_row_number,
                        canonical,
                        text,
                        f"columns {column_letter(first)} ({headers[first]}) and"
                        f" {column_letter(index)} ({text}) both hold {canonical};"
                        f" only column {column_letter(first)} is read",
                        "warning",
                    )
                )
            continue
        columns[canonical] = index

    missing = [group for group in prof.required if not any(f in columns for f in group)]
    if missing:
        raise MissingColumnsError(
            [" or ".join(prof.label(f) for f in group) for group in missing],
            [h for h in headers if h],
        )
    return HeaderMap(prof.name, list(headers), columns, header_row_number, warnings, unmapped)


def _last_filled(values: list[str | None]) -> int:
    for index in range(len(values) - 1, -1, -1):
        if not _is_blank(values[index]):
            return index + 1
    return 0


def _stripped(names: tuple[str, ...], cells: Sequence[str | None]) -> dict[str, str | None]:
    """Field -> stripped text, None for a missing or blank cell."""
    filled = list(filter(None, cells))
    try:
        # Cells rarely hold whitespace at all: all whitespace but the space is unprintable,
        # so two scans of the row's text clear most rows; the others are searched for
        # whitespace at the edges of a cell.
        text = "".join(filled)
        plain = (" " not in text and text.isprintable()) or not _EDGE_SPACE.search(
            "\x00".join(filled)
        )
    except TypeError:
        plain = False  # not text: left to strip() below
    if not plain or len(filled) + cells.count(None) != len(cells):  # "" is read as None too
        return {
            name: (cell and cell.strip()) or None for name, cell in zip(names, cells, strict=True)
        }
    return dict(zip(names, cells, strict=True))


def iter_records(table: Iterable[RawRow], header_map: HeaderMap) -> Iterator[RecordOrError]:
    """Data rows as Records, with RowIssue items for rows that do not fit the header.

    A warning (short row: missing cells read as empty) comes before that row's Record; an
    error (a longer row with data past the last header) replaces it. Empty rows are skipped.
    """
    width = len(header_map.headers)
    columns = header_map.columns
    names = tuple(columns)
    indexes = tuple(columns.values())
    needed = max(indexes, default=-1) + 1
    take = operator.itemgetter(*indexes) if len(indexes) > 1 else None
    for row in table:
        values = row.values
        count = len(values)
        last = values[-1] if count else None
        # A row whose last cell is filled needs no search for its end.
        filled = count if last and not last.isspace() else _last_filled(values)
        if filled == 0:
            continue
        if filled > width:
            extra = [v for v in values[width:filled] if v is not None and not _is_blank(v)]
            where = (
                f"column {column_letter(width)} holds"
                if filled == width + 1
                else f"columns {column_letter(width)} to {column_letter(filled - 1)} hold"
            )
            yield RowIssue(
                row.row_number,
                None,
                " | ".join(extra)[:200],
                f"row {row.row_number} has {filled} cells but the header has {width} columns;"
                f" {where} data, so the cells may have shifted (an unquoted comma?)",
                "error",
            )
            continue
        if count < needed:
            short = [f for f, i in columns.items() if i >= count]
            yield RowIssue(
                row.row_number,
                None,
                None,
                f"row {row.row_number} has {count} cells but the header has {width}"
                f" columns; the missing cells ({', '.join(short)}) are read as empty",
                "warning",
            )
            cells = [values[i] if i < count else None for i in indexes]
        else:
            cells = take(values) if take is not None else [values[i] for i in indexes]
        yield Record(row.row_number, _stripped(names, cells))
