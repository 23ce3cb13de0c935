"""Small bureau files written by tests: a tax CSV, a commerce XLSX, a gazetteer CSV."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from openpyxl import Workbook

from fieldcheck.registry.codes import org_code_check_digit, uscc_check_digit

TAX_HEADER = [
    "序号",
    "纳税人识别号",
    "纳税人名称",
    "法定代表人（负责人、业主）",
    "证件号码",
    "生产经营地址",
    "联系电话",
    "登记注册类型",
    "行业",
    "主管税务所（科、分局）",
    "登记日期",
    "纳税人状态",
]
COMMERCE_HEADER = [
    "统一社会信用代码/注册号",
    "名称",
    "类型",
    "法定代表人/经营者",
    "住所/经营场所",
    "成立日期",
    "登记机关",
    "登记状态",
]
GAZETTEER_HEADER = ["标准地址", "乡镇街道", "道路", "门牌号", "经度", "纬度"]


def make_uscc(body: str, prefix: str = "92330784") -> str:
    """A credit code with correct check digits around an 8-character organisation body."""
    first17 = prefix + body + org_code_check_digit(body)
    return first17 + uscc_check_digit(first17)


def tax_row(
    n: int,
    code: str,
    name: str,
    address: str,
    *,
    office: str = "古山",
    status: str = "正常",
    owner: str = "张三",
) -> list[str]:
    return [
        str(n),
        code,
        name,
        owner,
        "",
        address,
        "13800000000",
        "个体工商户",
        "C3399",
        f"永康市税务局{office}税务所",
        "2010-05-01",
        status,
    ]


def write_tax_csv(path: Path, rows: list[list[str]], *, encoding: str = "gb18030") -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(TAX_HEADER)
    writer.writerows(rows)
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


def write_commerce_xlsx(
    path: Path,
    rows: list[list[object]],
    *,
    title: str = "永康市市场主体登记信息（导出日期：2018-06-30）",
) -> Path:
    book = Workbook()
    sheet = book.active
    sheet.append([title])
    sheet.append(COMMERCE_HEADER)
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def commerce_row(
    code: str, name: str, address: str, *, status: str = "存续（在营、开业、在册）"
) -> list[object]:
    return [code, name, "个体工商户", "张三", address, "2010-05-01", "永康市市场监督管理局", status]


def write_gazetteer(path: Path, points: list[tuple[str, str, int, float, float]]) -> Path:
    """points: (town, road, number, lon, lat)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(GAZETTEER_HEADER)
    for town, road, number, lon, lat in points:
        writer.writerow([f"浙江省金华市永康市{town}{road}{number}号", town, road, number, lon, lat])
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path
