"""File writers of export rows: CSV, XLSX and GeoJSON, each producing bytes as it goes.

A writer takes rows one at a time (`write_row`), hands over the bytes it has ready
(`drain`), and ends with `finish`, which yields the rest. Nothing holds the whole file in
memory: CSV and GeoJSON are encoded as they go; XLSX is built by xlsxwriter in constant-memory
mode (one row per sheet in memory, the rest in temporary files) and zipped at the end.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

import xlsxwriter

from fieldcheck.exports.actions import ACTIONS, action_label, sheet_name
from fieldcheck.exports.rows import Column, ExportRow

# A cell starting with one of these is read as a formula by Excel, WPS or LibreOffice
# (OWASP CSV injection); such text gets a leading apostrophe, which shows it as text.
FORMULA_TRIGGERS = frozenset("=+-@\t\r\n")
# Excel's limit of rows per sheet (header included).
XLSX_MAX_ROWS = 1_048_576
# Clickable links per workbook: Excel takes at most 65,530 per sheet, and xlsxwriter keeps
# every link in memory until the end; further links are written as plain text.
XLSX_MAX_URLS = 65_530
_CHUNK = 1 << 16

BUREAU_NAMES = {"tax": "税务", "commerce": "市场监管"}


def neutralise(value: str) -> str:
    """Text that no spreadsheet will evaluate: a leading apostrophe before a formula trigger."""
    if value and value[0] in FORMULA_TRIGGERS:
        return "'" + value
    return value


@dataclass
class Summary:
    """What the file holds, for the summary sheet."""

    bureau: str
    campaign: str | None
    filters: dict[str, Any]
    generated_at: datetime
    masked: bool
    counts: Counter[tuple[str | None, str]] = field(default_factory=Counter)


class RowWriter(Protocol):
    media_type: str
    extension: str

    def write_row(self, row: ExportRow) -> None: ...

    def drain(self) -> bytes: ...

    def finish(self, summary: Summary) -> Iterator[bytes]: ...


def _text_columns(columns: list[Column]) -> list[int]:
    return [i for i, c in enumerate(columns) if c.kind in ("text", "id")]


class CsvWriter:
    """CSV for Excel and WPS: UTF-8 with BOM (or GB18030 for older systems), CRLF lines."""

    media_type = "text/csv"
    extension = "csv"

    def __init__(self, columns: list[Column], *, encoding: str = "utf-8-sig") -> None:
        if encoding not in ("utf-8-sig", "gb18030"):
            raise ValueError(f"unsupported CSV encoding {encoding!r}")
        self.media_type = f"text/csv; charset={'utf-8' if encoding == 'utf-8-sig' else 'gb18030'}"
        # The BOM is written once, so chunks are encoded without one.
        self._encoding = "utf-8" if encoding == "utf-8-sig" else encoding
        self._buffer = io.StringIO()
        self._buffer.write("\ufeff" if encoding == "utf-8-sig" else "")
        self._csv = csv.writer(self._buffer, lineterminator="\r\n")
        self._text_at = _text_columns(columns)
        self._csv.writerow([c.header for c in columns])

    def write_row(self, row: ExportRow) -> None:
        values = row.values
        for i in self._text_at:
            value = values[i]
            if value and value[0] in FORMULA_TRIGGERS:
                values[i] = "'" + value
        self._csv.writerow(values)

    def drain(self) -> bytes:
        text = self._buffer.getvalue()
        if not text:
            return b""
        self._buffer.seek(0)
        self._buffer.truncate()
        return text.encode(self._encoding)

    def finish(self, summary: Summary) -> Iterator[bytes]:
        yield self.drain()


class GeoJsonWriter:
    """A GeoJSON FeatureCollection (RFC 7946, WGS-84), one feature per row, streamed as text.

    Rows without a location have a null geometry. Values are kept exactly (no apostrophes):
    GeoJSON is read by GIS tools, not evaluated as a spreadsheet.
    """

    media_type = "application/geo+json"
    extension = "geojson"

    def __init__(self, columns: list[Column]) -> None:
        self._keys = [c.key for c in columns]
        self._parts: list[str] = ['{"type":"FeatureCollection","features":[\n']
        self._first = True

    def write_row(self, row: ExportRow) -> None:
        geometry = (
            None
            if row.lon is None or row.lat is None
            else {"type": "Point", "coordinates": [row.lon, row.lat]}
        )
        feature = {
            "type": "Feature",
            "geometry": geometry,
            "properties": dict(zip(self._keys, row.values, strict=True)),
        }
        text = json.dumps(feature, ensure_ascii=False, default=_json_default)
        self._parts.append(text if self._first else ",\n" + text)
        self._first = False

    def drain(self) -> bytes:
        if not self._parts:
            return b""
        text = "".join(self._parts)
        self._parts.clear()
        return text.encode("utf-8")

    def finish(self, summary: Summary) -> Iterator[bytes]:
        self._parts.append("\n]}\n")
        yield self.drain()


def _json_default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


@dataclass
class _Sheet:
    worksheet: Any
    name: str
    next_row: int = 1
    rows: int = 0


class XlsxWriter:
    """An XLSX workbook: a summary sheet, then one sheet per action, all headed in Chinese.

    Frozen header row, column widths and filters; identifiers and phone numbers are text
    cells (Excel never turns an 18-digit code into 9.1133E+17), dates are dates, and
    coordinates numbers. Evidence links are clickable for the first XLSX_MAX_URLS rows that
    have one, plain text after. A sheet holds at most `max_rows` rows, header included; more
    rows of an action continue on a sheet named "<name> 续2", "续3", …. Sheets of actions
    without rows are hidden.
    """

    media_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    extension = "xlsx"

    def __init__(
        self,
        columns: list[Column],
        *,
        bureau: str,
        actions: tuple[str, ...] = ACTIONS,
        max_rows: int = XLSX_MAX_ROWS,
    ) -> None:
        if max_rows < 2:
            raise ValueError("a sheet must hold a header and at least one row")
        self._columns = columns
        self._kinds = [c.kind for c in columns]
        self._bureau = bureau
        self._max_rows = max_rows
        # Closed by finish(), once the workbook has been handed over.
        self._file = tempfile.TemporaryFile()  # noqa: SIM115
        self._book = xlsxwriter.Workbook(
            self._file,
            {
                "constant_memory": True,
                # Text stays text: no formulas, numbers or links guessed from strings.
                "strings_to_formulas": False,
                "strings_to_numbers": False,
                "strings_to_urls": False,
            },
        )
        self._header = self._book.add_format(
            {"bold": True, "text_wrap": True, "valign": "top", "bg_color": "#DDEBF7",
             "border": 1}
        )
        self._date = self._book.add_format({"num_format": "yyyy-mm-dd"})
        self._coordinate = self._book.add_format({"num_format": "0.0000000"})
        self._text = self._book.add_format({"num_format": "@"})
        self._link = self._book.add_format({"font_color": "blue", "underline": 1})
        self._bold = self._book.add_format({"bold": True})
        self._title = self._book.add_format({"bold": True, "font_size": 14})
        self._summary = self._book.add_worksheet("汇总")
        self._sheets: dict[str, _Sheet] = {}
        self._continued: dict[str, int] = {}
        self._urls_left = XLSX_MAX_URLS
        for action in actions:
            name = sheet_name(bureau, action)
            self._sheets[action] = _Sheet(self._add_sheet(name), name)

    def _add_sheet(self, name: str) -> Any:
        sheet = self._book.add_worksheet(name)
        for i, column in enumerate(self._columns):
            fmt = self._text if column.kind == "id" else None
            sheet.set_column(i, i, column.width, fmt)
        sheet.set_row(0, 30)
        sheet.freeze_panes(1, 0)
        for i, column in enumerate(self._columns):
            sheet.write_string(0, i, column.header, self._header)
        return sheet

    def _sheet_for(self, action: str) -> _Sheet:
        current = self._sheets[action]
        if current.next_row < self._max_rows:
            return current
        self._finish_sheet(current)  # its filter range is known now
        number = self._continued.get(action, 1) + 1
        self._continued[action] = number
        name = f"{sheet_name(self._bureau, action)} 续{number}"
        following = _Sheet(self._add_sheet(name), name)
        self._sheets[action] = following
        return following

    def write_row(self, row: ExportRow) -> None:
        sheet = self._sheet_for(row.action)
        ws = sheet.worksheet
        r = sheet.next_row
        for c, (kind, value) in enumerate(zip(self._kinds, row.values, strict=True)):
            if value is None:
                continue
            if kind == "text" or kind == "id":
                if value[0] in FORMULA_TRIGGERS:
                    value = "'" + value
                ws.write_string(r, c, value)
            elif kind == "int":
                ws.write_number(r, c, value)
            elif kind == "float":
                ws.write_number(r, c, value, self._coordinate)
            elif kind == "date":
                try:
                    ws.write_datetime(r, c, date.fromisoformat(value), self._date)
                except ValueError:  # not a day after all: keep the text
                    ws.write_string(r, c, neutralise(value))
            elif kind == "url":
                if self._urls_left > 0:
                    ws.write_url(r, c, value, self._link)
                    self._urls_left -= 1
                else:
                    ws.write_string(r, c, value)
        sheet.next_row = r + 1
        sheet.rows += 1

    def drain(self) -> bytes:
        return b""  # the zip is written when the workbook closes

    def _finish_sheet(self, sheet: _Sheet) -> None:
        if sheet.rows:
            sheet.worksheet.autofilter(0, 0, sheet.next_row - 1, len(self._columns) - 1)

    def finish(self, summary: Summary) -> Iterator[bytes]:
        for sheet in self._sheets.values():
            self._finish_sheet(sheet)
            if not sheet.rows:
                sheet.worksheet.hide()
        self._write_summary(summary)
        self._summary.activate()
        self._book.close()
        self._file.seek(0)
        try:
            while chunk := self._file.read(_CHUNK):
                yield chunk
        finally:
            self._file.close()

    def _write_summary(self, summary: Summary) -> None:
        ws = self._summary
        bureau = BUREAU_NAMES.get(summary.bureau, summary.bureau)
        ws.set_column(0, 0, 34)
        ws.set_column(1, 30, 12)
        ws.write_string(0, 0, f"{bureau}部门 清洗后名册（实地核查结果）", self._title)
        lines = [
            ("核查活动", summary.campaign or "（尚无核查活动）"),
            ("生成时间", summary.generated_at.strftime("%Y-%m-%d %H:%M:%S UTC")),
            ("筛选条件", _describe_filters(summary.filters, summary.bureau)),
            ("身份证件号码", "已脱敏" if summary.masked else "未脱敏（账号有权查看）"),
            ("总行数", str(sum(summary.counts.values()))),
        ]
        for i, (label, text) in enumerate(lines, start=2):
            ws.write_string(i, 0, label, self._bold)
            ws.write_string(i, 1, neutralise(text))
        actions = [a for a in ACTIONS if any(k[1] == a for k in summary.counts)]
        towns = sorted({k[0] for k in summary.counts}, key=lambda t: (t is None, t or ""))
        top = len(lines) + 3
        ws.write_string(top, 0, "乡镇（街道） \\ 处理建议", self._header)
        for j, action in enumerate(actions, start=1):
            ws.write_string(top, j, action_label(summary.bureau, action), self._header)
        ws.write_string(top, len(actions) + 1, "合计", self._header)
        ws.set_row(top, 60)
        for i, town in enumerate(towns, start=top + 1):
            ws.write_string(i, 0, neutralise(town or "（未知乡镇）"))
            for j, action in enumerate(actions, start=1):
                ws.write_number(i, j, summary.counts.get((town, action), 0))
            ws.write_number(i, len(actions) + 1,
                            sum(summary.counts.get((town, a), 0) for a in actions))
        total_row = top + 1 + len(towns)
        ws.write_string(total_row, 0, "合计", self._bold)
        for j, action in enumerate(actions, start=1):
            ws.write_number(total_row, j,
                            sum(n for (_, a), n in summary.counts.items() if a == action),
                            self._bold)
        ws.write_number(total_row, len(actions) + 1, sum(summary.counts.values()), self._bold)


def _describe_filters(filters: dict[str, Any], bureau: str) -> str:
    parts = []
    if filters.get("actions"):
        parts.append("处理建议：" + "、".join(action_label(bureau, a) for a in filters["actions"]))
    if filters.get("towns"):
        parts.append("乡镇：" + "、".join(filters["towns"]))
    if filters.get("decided_from") or filters.get("decided_to"):
        parts.append(f"结论日期：{filters.get('decided_from') or '…'} 至 "
                     f"{filters.get('decided_to') or '…'}")
    return "；".join(parts) or "全部"


def make_writer(
    fmt: str,
    columns: list[Column],
    *,
    bureau: str,
    encoding: str = "utf-8-sig",
    actions: tuple[str, ...] = ACTIONS,
    max_sheet_rows: int = XLSX_MAX_ROWS,
) -> RowWriter:
    """The writer of a format: csv, xlsx or geojson."""
    if fmt == "csv":
        return CsvWriter(columns, encoding=encoding)
    if fmt == "xlsx":
        return XlsxWriter(columns, bureau=bureau, actions=actions, max_rows=max_sheet_rows)
    if fmt == "geojson":
        return GeoJsonWriter(columns)
    raise ValueError(f"unknown export format {fmt!r}")
