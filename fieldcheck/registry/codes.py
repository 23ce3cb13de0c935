"""Checks of the business and personal identifiers found in tax and commerce registry lists."""

from __future__ import annotations

import calendar
import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from functools import cache
from operator import getitem
from typing import Literal

from stdnum.cn import uscc as stdnum_uscc
from stdnum.iso7064 import mod_11_10

Status = Literal["valid", "warning", "invalid", "empty"]

# GB 32100: 31 symbols, no I, O, Z, S, V.
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
# GB 32100 registration-authority codes (position 1).
USCC_AUTHORITIES = "123456789ANY"
ORG_CODE_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_ORG_CODE_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
# GB 11643: weight of position i is 2^(17-i) mod 11.
_RIC_WEIGHTS = tuple(2 ** (17 - i) % 11 for i in range(17))
_RIC_CHECK = "10X98765432"
# First two digits of GB/T 2260 province codes, which every resident ID starts with.
_PROVINCE_RANGES = ((11, 15), (21, 23), (31, 37), (41, 46), (50, 54), (61, 65), (71, 71), (81, 83))
_RIC_PROVINCES = frozenset(
    str(code) for low, high in _PROVINCE_RANGES for code in range(low, high + 1)
)

# The kind of entity by the first two characters of a credit code.
_USCC_ENTITY_KINDS = {"91": "company", "92": "individual", "93": "coop"}

# The weighted sums of the three check characters, precomputed per position (character ->
# value x weight) so that a sum is one dict lookup per character: stdnum's generic code costs
# tens of microseconds per code, and a million-row list holds a million codes.
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)  # GB 32100
_USCC_TERMS = tuple({c: i * w for i, c in enumerate(USCC_ALPHABET)} for w in _USCC_WEIGHTS)
_USCC_CHARS = frozenset(USCC_ALPHABET)
# GB 11714's check character by the weighted sum mod 11: 11 - r, written 0 for 11 and X for 10.
_ORG_CHECK_CHARS = "0X987654321"
_ORG_TERMS = tuple({c: i * w for i, c in enumerate(ORG_CODE_ALPHABET)} for w in _ORG_CODE_WEIGHTS)
_RIC_TERMS = tuple({str(d): d * w for d in range(10)} for w in _RIC_WEIGHTS)
# ISO 7064 MOD 11,10 as a state table: _MOD_11_10_NEXT[state][digit] is the next state.
_MOD_11_10_NEXT = tuple(
    {str(d): (((state or 10) * 2) % 11 + d) % 10 for d in range(10)} for state in range(10)
)
# The year this module was loaded: a birth date before it is never in the future, which spares
# a clock read per ID (the clock is still read for later dates, so a long-lived process is exact).
_LOAD_YEAR = date.today().year
# The days ("01" to "31") of each month (YYYYMM) from 1900 to the end of the year before
# _LOAD_YEAR: the birth dates an ID may hold without a closer look.
_MONTH_DAYS = {
    length: frozenset(f"{day:02d}" for day in range(1, length + 1)) for length in (28, 29, 30, 31)
}
_USUAL_BIRTH_DAYS = {
    f"{year:04d}{month:02d}": _MONTH_DAYS[calendar.monthrange(year, month)[1]]
    for year in range(1900, _LOAD_YEAR)
    for month in range(1, 13)
}

# Separators people type or paste into codes: whitespace (incl. zero-width), hyphens and dashes,
# middle dots, and the quote Excel users put in front of a number to keep it as text.
_SEPARATORS = re.compile(r"[\s\u200b-\u200d\ufeff\-\u2010-\u2015_·'\"`‘’“”]+")
_TRAILING_ZERO_DECIMAL = re.compile(r"(\d{1,15})\.0+")
_SCIENTIFIC = re.compile(r"\d(?:\.\d+)?E\+?\d{1,3}")
_GROUPED_NUMBER = re.compile(r"\d{1,3}(?:,\d{3}){5,}")
_RIC_SHAPE = re.compile(r"\d{17}[\dX]")

MANGLED_REASON = (
    "the spreadsheet turned the code into a number ({shown}) and its digits are lost;"
    " format the column as text and export the list again"
)


@dataclass(frozen=True)
class CodeCheck:
    """The outcome of checking one identifier: the cleaned value and what is wrong with it."""

    value: str
    kind: str
    status: Status
    reason: str | None = None

    def __init__(self, value: str, kind: str, status: Status, reason: str | None = None) -> None:
        # The generated frozen __init__ sets each field through object.__setattr__, which
        # doubles the cost of a check; the fields go straight into the instance dict instead.
        fields = self.__dict__
        fields["value"] = value
        fields["kind"] = kind
        fields["status"] = status
        fields["reason"] = reason

    @property
    def usable(self) -> bool:
        """True when the value can be kept (valid, or doubtful but legal-looking)."""
        return self.status in ("valid", "warning")


def clean_code(raw: object) -> str:
    """Return the identifier as upper-case text without spaces, hyphens or full-width forms."""
    if raw.__class__ is str and raw.isascii() and raw.isalnum():
        return raw.upper()  # as below, without the tests of other types first
    if raw is None or isinstance(raw, bool):
        return ""
    if isinstance(raw, int):
        return str(raw)
    if isinstance(raw, float):
        # Excel keeps 15 significant digits; beyond that the number is shown in scientific form.
        if raw.is_integer() and abs(raw) < 1e15:
            return str(int(raw))
        return f"{raw:.15G}"
    text = raw if type(raw) is str else str(raw)
    # Plain ASCII letters and digits (nearly every code) are already NFKC, hold no separator
    # and no decimal point: only the case can change.
    if text.isascii() and text.isalnum():
        return text.upper()
    text = unicodedata.normalize("NFKC", text)
    text = _SEPARATORS.sub("", text).upper()
    match = _TRAILING_ZERO_DECIMAL.fullmatch(text)
    if match:
        text = match.group(1)
    return text


def _reclean(value: str) -> str:
    # The checks below run on a value clean_code already returned and, as the public checks
    # they stand for, clean it once more. Cleaning ASCII letters and digits changes nothing;
    # only the rare rest (non-ASCII, an int's minus sign) is cleaned again.
    return value if value.isascii() and value.isalnum() else clean_code(value)


def _is_mangled(text: str) -> bool:
    # Both shapes need an E or a comma; most codes have neither and skip the regexes.
    if "E" not in text and "," not in text:
        return False
    if _SCIENTIFIC.fullmatch(text):
        return True
    return bool(_GROUPED_NUMBER.fullmatch(text)) and len(text.replace(",", "")) > 15


def is_excel_mangled(raw: object) -> bool:
    """True when a long code was stored as a number and shows as `9.1133E+17` or similar."""
    return _is_mangled(clean_code(raw))


def uscc_check_digit(first17: str) -> str:
    """The GB 32100 check character (mod 31) for the first 17 characters of a credit code."""
    if len(first17) == 17:
        try:
            return USCC_ALPHABET[-sum(map(getitem, _USCC_TERMS, first17)) % 31]
        except KeyError:
            pass
    # Lower case, separators or other lengths: stdnum's reading of such input.
    return stdnum_uscc.calc_check_digit(first17)


def org_code_check_digit(body: str) -> str:
    """The GB 11714 check character for the 8-character body of an organisation code."""
    try:
        if len(body) != 8:
            raise KeyError(body)
        total = sum(map(getitem, _ORG_TERMS, body))
    except KeyError:
        # The generic sum raises the ValueError callers expect from a bad body.
        total = sum(
            ORG_CODE_ALPHABET.index(c) * w for c, w in zip(body, _ORG_CODE_WEIGHTS, strict=True)
        )
    check = 11 - total % 11
    return "X" if check == 10 else "0" if check == 11 else str(check)


def ric_check_digit(first17: str) -> str:
    """The GB 11643 check character for the first 17 digits of a resident ID number."""
    try:
        if len(first17) != 17:
            raise KeyError(first17)
        total = sum(map(getitem, _RIC_TERMS, first17))
    except KeyError:
        # Non-ASCII decimal digits, or the ValueError of a wrong length.
        total = sum(int(c) * w for c, w in zip(first17, _RIC_WEIGHTS, strict=True))
    return _RIC_CHECK[total % 11]


def reg_no_check_digit(first14: str) -> str:
    """The GS 15-2006 check digit (ISO 7064 MOD 11,10) for the first 14 digits of a reg. number."""
    state = 5
    try:
        for c in first14:
            state = _MOD_11_10_NEXT[state][c]
    except KeyError:
        return mod_11_10.calc_check_digit(first14)
    return str((1 - ((state or 10) * 2) % 11) % 10)


def _empty(kind: str) -> CodeCheck:
    return CodeCheck("", kind, "empty")


def _mangled(value: str, kind: str) -> CodeCheck:
    return CodeCheck(value, kind, "invalid", MANGLED_REASON.format(shown=value))


def _describe_chars(chars: list[str]) -> str:
    return ", ".join(chars)


def check_uscc(raw: object) -> CodeCheck:
    """Check a unified social credit code (GB 32100); a bad mod-31 check digit is invalid."""
    return _check_uscc(clean_code(raw))


def _check_uscc(value: str) -> CodeCheck:
    if not value:
        return _empty("uscc")
    if _is_mangled(_reclean(value)):
        return _mangled(value, "uscc")
    return _uscc_shape(value)


def _uscc_shape(value: str) -> CodeCheck:
    # check_uscc of a cleaned, non-empty value that is no mangled number.
    kind = "uscc"
    if len(value) != 18:
        return CodeCheck(
            value, kind, "invalid", f"a credit code has 18 characters, this one has {len(value)}"
        )
    try:
        # The weighted sum of the first 17 characters, which fails on one outside the
        # alphabet: then the characters are reported, as below, before any digit is checked.
        total = sum(map(getitem, _USCC_TERMS, value))
        bad = [] if value[17] in _USCC_CHARS else [value[17]]
    except KeyError:
        bad = sorted(set(value) - _USCC_CHARS)
    if bad:
        reason = f"contains {_describe_chars(bad)}, which credit codes never use"
        if "O" in bad or "I" in bad:
            reason += " (O and I are not used: did you mean 0 and 1?)"
        return CodeCheck(value, kind, "invalid", reason)
    if not value[2:8].isdigit():
        return CodeCheck(
            value, kind, "invalid", "characters 3 to 8 should be digits (the registering region)"
        )
    # All 18 characters are in the alphabet: uscc_check_digit(value[:17]) without its checks.
    expected = USCC_ALPHABET[-total % 31]
    if value[17] != expected:
        reason = f"check digit should be {expected}, not {value[17]}"
        if value.isdigit() and value.endswith("000"):
            reason += "; the trailing zeros suggest a spreadsheet rounded the code as a number"
        return CodeCheck(value, kind, "invalid", reason)

    warnings = []
    if value[0] not in USCC_AUTHORITIES:
        warnings.append(f"first character {value[0]} is not a known registration authority")
    elif not value[0].isdigit():
        # Legal (A, N, Y authorities) but rare in business lists and refused by many systems.
        warnings.append(
            f"first character {value[0]} is a letter: legal for some authorities, please confirm"
        )
    # org_code_check_digit(value[8:16]): the credit code alphabet is part of the organisation
    # code's.
    org_check = _ORG_CHECK_CHARS[sum(map(getitem, _ORG_TERMS, value[8:16])) % 11]
    if value[16] != org_check:
        warnings.append(
            "characters 9 to 17 are not a valid organisation code"
            f" (its check character should be {org_check}, not {value[16]})"
        )
    if warnings:
        return CodeCheck(value, kind, "warning", "; ".join(warnings))
    return CodeCheck(value, kind, "valid")


def check_reg_no(raw: object) -> CodeCheck:
    """Check a legacy 15-digit registration number (GS 15); 13/14 digits are tolerated."""
    return _check_reg_no(clean_code(raw))


def _check_reg_no(value: str) -> CodeCheck:
    kind = "reg_no"
    if not value:
        return _empty(kind)
    if _is_mangled(_reclean(value)):
        return _mangled(value, kind)
    if not value.isdigit():
        if len(value) == 18:
            reason = "this is an 18-character credit code, not a registration number"
        else:
            reason = "a registration number has only digits"
        return CodeCheck(value, kind, "invalid", reason)
    if len(value) == 15:
        expected = reg_no_check_digit(value[:14])
        if value[14] != expected:
            return CodeCheck(value, kind, "invalid", f"check digit should be {expected}")
        return CodeCheck(value, kind, "valid")
    if len(value) in (13, 14):
        # Pre-2007 numbers had 13 digits and real exports hold 14-digit ones: keep, don't check.
        return CodeCheck(
            value,
            kind,
            "warning",
            f"malformed legacy registration number ({len(value)} digits instead of 15);"
            " it cannot be checked",
        )
    return CodeCheck(
        value, kind, "invalid", f"a registration number has 15 digits, this one has {len(value)}"
    )


def check_org_code(raw: object) -> CodeCheck:
    """Check an organisation code (GB 11714) printed as `XXXXXXXX-X`; the value has no hyphen."""
    return _check_org_code(clean_code(raw))


def _check_org_code(value: str) -> CodeCheck:
    kind = "org_code"
    if not value:
        return _empty(kind)
    if len(value) != 9:
        return CodeCheck(
            value,
            kind,
            "invalid",
            f"an organisation code has 9 characters (8 + check), this one has {len(value)}",
        )
    bad = sorted({c for c in value[:8] if c not in ORG_CODE_ALPHABET})
    if bad:
        return CodeCheck(
            value, kind, "invalid", f"contains {_describe_chars(bad)}, only digits and letters"
        )
    expected = org_code_check_digit(value[:8])
    if value[8] != expected:
        return CodeCheck(value, kind, "invalid", f"check character should be {expected}")
    return CodeCheck(value, kind, "valid")


def _birth_date(yyyymmdd: str) -> date | None:
    try:
        return date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:8]))
    except ValueError:
        return None


def _birth_date_problem(yyyymmdd: str) -> str | None:
    # A real date from 1900 to the end of last year, written in ASCII digits, is fine:
    # two lookups in a table spare the date arithmetic for nearly every ID.
    days = _USUAL_BIRTH_DAYS.get(yyyymmdd[:6])
    if days is not None and yyyymmdd[6:] in days:
        return None
    born = _birth_date(yyyymmdd)
    shown = f"{yyyymmdd[:4]}-{yyyymmdd[4:6]}-{yyyymmdd[6:8]}"
    if born is None:
        return f"birth date {shown} is not a real date"
    if born.year < 1900 or born > date.today():
        return f"birth date {shown} is impossible"
    return None


@cache
def _area_problem(area: str) -> str | None:
    # Only existence is checked: stdnum's rule that the county must have existed in the birth
    # year rejects real Yongkang IDs (330784 exists from 1992, but older owners carry it).
    from stdnum import numdb

    parts = numdb.get("cn/loc").info(area)
    props = {k: v for _, found in parts for k, v in found.items()}
    if "province" not in props:
        return f"area code {area} is not a known province"
    if "county" not in props:
        return f"area code {area} is not a known county of {props['province']}"
    return None


def check_resident_id(raw: object) -> CodeCheck:
    """Check a resident ID number (GB 11643): check digit and birth date; area code only warns.

    A 15-digit first-generation number is converted to its 18-digit form.
    """
    return _check_resident_id(clean_code(raw))


def _check_resident_id(value: str) -> CodeCheck:
    if not value:
        return _empty("ric")
    if _is_mangled(_reclean(value)):
        return _mangled(value, "ric")
    return _ric_shape(value)


def _ric_shape(value: str) -> CodeCheck:
    # check_resident_id of a cleaned, non-empty value that is no mangled number.
    kind = "ric"
    notes = []
    if len(value) == 15:
        if not value.isdigit():
            return CodeCheck(value, kind, "invalid", "a 15-digit ID number has only digits")
        problem = _birth_date_problem("19" + value[6:12])
        if problem:
            return CodeCheck(value, kind, "invalid", problem)
        first17 = value[:6] + "19" + value[6:]
        value = first17 + ric_check_digit(first17)
        notes.append(f"first-generation 15-digit ID (no longer valid since 2013), read as {value}")
    elif len(value) == 18:
        if not _RIC_SHAPE.fullmatch(value):
            return CodeCheck(
                value, kind, "invalid", "an ID number is 17 digits followed by a digit or X"
            )
        problem = _birth_date_problem(value[6:14])
        if problem:
            return CodeCheck(value, kind, "invalid", problem)
        # The weights 2^(17-i) mod 11 of GB 11643 are 2 x 13^(16-i) mod 11 (13 = 2 mod 11), so
        # the weighted sum is twice the 17 digits read as a base-13 number, mod 11: one int()
        # call in place of 17 lookups. int() reads any decimal digit, as _RIC_SHAPE does.
        expected = _RIC_CHECK[2 * int(value[:17], 13) % 11]
        if value[17] != expected:
            return CodeCheck(value, kind, "invalid", f"check digit should be {expected}")
    else:
        return CodeCheck(
            value,
            kind,
            "invalid",
            f"an ID number has 18 digits (15 on old cards), this one has {len(value)}",
        )
    area = _area_problem(value[:6])
    if area:
        notes.append(area)
    if notes:
        return CodeCheck(value, kind, "warning", "; ".join(notes))
    return CodeCheck(value, kind, "valid")


_USABLE = frozenset(("valid", "warning"))


def _looks_like_ric18(value: str) -> bool:
    return bool(_RIC_SHAPE.fullmatch(value)) and value[:2] in _RIC_PROVINCES


def _looks_like_ric15(value: str) -> bool:
    return value.isdigit() and len(value) == 15 and _birth_date_problem("19" + value[6:12]) is None


def _as_kind(check: CodeCheck, value: str, kind: str) -> CodeCheck:
    return CodeCheck(value, kind, check.status, check.reason)


def check_tin(raw: object) -> CodeCheck:
    """Check a taxpayer number, which is opaque text of several shapes; `kind` says which.

    kinds: uscc, ric (owner's ID), ric_plus_seq (ID + sequence), region_plus_orgcode
    (6-digit region + organisation code, before 2015), other (e.g. tax-assigned numbers).
    """
    value = clean_code(raw)
    if not value:
        return _empty("other")
    # Cleaning plain ASCII letters and digits again changes nothing: the checks below may then
    # skip the cleaning and mangled-number test they would repeat.
    plain = value.isascii() and value.isalnum()
    again = value if plain else clean_code(value)
    if _is_mangled(again):
        return _mangled(value, "other")
    n = len(value)
    # A first-generation ID plus a 2-digit sequence, or plus 00000.
    old_id_plus_suffix = (n == 17 and value[15:].isdigit()) or (n == 20 and value[15:] == "00000")
    if n == 18:
        # An owner's ID is tried first: its check digit and birth date make a chance match with
        # a credit code's check digit harmless, not the other way round.
        as_ric = None
        if _looks_like_ric18(value):
            as_ric = _ric_shape(again) if plain else _check_resident_id(again)
            if as_ric.status in _USABLE:
                return as_ric
        as_uscc = _uscc_shape(again) if plain else _check_uscc(again)
        if as_uscc.status in _USABLE:
            return as_uscc
        if as_ric is not None:
            return as_ric
        if value[0] in USCC_AUTHORITIES:
            return as_uscc
    elif old_id_plus_suffix and _looks_like_ric15(value[:15]):
        return _as_kind(_check_resident_id(_reclean(value[:15])), value, "ric_plus_seq")
    elif n == 20 and _looks_like_ric18(value[:18]) and value[18:].isdigit():
        return _as_kind(_check_resident_id(_reclean(value[:18])), value, "ric_plus_seq")
    elif n == 15:
        org = _check_org_code(_reclean(value[6:]))
        if value[:6].isdigit() and org.status == "valid":
            return CodeCheck(value, "region_plus_orgcode", "valid")
        if _looks_like_ric15(value):
            return _as_kind(_check_resident_id(again), value, "ric")
        if value[:6].isdigit():
            return CodeCheck(value, "region_plus_orgcode", "invalid", org.reason)
    return CodeCheck(
        value,
        "other",
        "warning",
        "not a credit code, an ID number or a region + organisation code; kept as it is",
    )


def check_business_code(raw: object) -> CodeCheck:
    """Check a column that holds a credit code or, for old records, a registration number."""
    value = clean_code(raw)
    again = _reclean(value)
    if value.isdigit() and len(value) in (13, 14, 15):
        return _check_reg_no(again)
    result = _check_uscc(again)
    if result.status == "invalid" and len(value) != 18 and not _is_mangled(again):
        return CodeCheck(
            value,
            "uscc",
            "invalid",
            "neither an 18-character credit code nor a 15-digit registration number"
            f" ({len(value)} characters)",
        )
    return result


def entity_kind_from_uscc(code: object) -> str:
    """company (91), individual business (92), farmers' cooperative (93) or other."""
    return _USCC_ENTITY_KINDS.get(clean_code(code)[:2], "other")


def entity_kind_from_reg_no(reg_no: object) -> str:
    """company or individual business from digit 7 of a GS15 number (6-9: individual)."""
    value = clean_code(reg_no)
    if len(value) != 15 or not value.isdigit():
        return "other"
    return "individual" if value[6] in "6789" else "company"
