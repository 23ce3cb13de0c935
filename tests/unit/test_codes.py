"""Identifier checks against published examples and codes built with the published algorithms."""

from datetime import date

import pytest

from fieldcheck.registry.codes import (
    CodeCheck,
    check_business_code,
    check_org_code,
    check_reg_no,
    check_resident_id,
    check_tin,
    check_uscc,
    clean_code,
    entity_kind_from_reg_no,
    entity_kind_from_uscc,
    is_excel_mangled,
)

# The algorithms as the standards print them, written out here independently of the module,
# to build codes for which no literal published example exists.
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)  # GB 32100
ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)  # GB 11714
ORG_CODE_VALUES = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
RIC_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)  # GB 11643


def uscc_with_check(first17: str) -> str:
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(first17, USCC_WEIGHTS, strict=True))
    return first17 + USCC_ALPHABET[(31 - total % 31) % 31]


def org_check(body: str) -> str:
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    check = 11 - sum(alphabet.index(c) * w for c, w in zip(body, ORG_WEIGHTS, strict=True)) % 11
    return {10: "X", 11: "0"}.get(check, str(check))


def ric_with_check(first17: str) -> str:
    total = sum(int(c) * w for c, w in zip(first17, RIC_WEIGHTS, strict=True))
    return first17 + "10X98765432"[total % 11]


# python-stdnum tests/test_cn_uscc.doctest, "found online and should all be valid numbers".
STDNUM_VALID_USCC = [
    "91110000600037341L",
    "121200004013590816",
    "91310115MA1K3BTP2B",
    "9144030071526726XG",
    "91620105L015101280",
    "92340602MA2PBMEM24",
    "92340603MA2UK2QAXJ",
]


def test_clean_code_removes_spaces_hyphens_full_width_and_upper_cases():
    assert clean_code(" ９１３３ ０７８４-５２１ｐｋｂｊｗ０２\u3000") == "91330784521PKBJW02"


def test_clean_code_drops_the_point_zero_of_a_number_read_as_float():
    assert clean_code("110108000000016.0") == "110108000000016"
    assert clean_code(110108000000016.0) == "110108000000016"


def test_clean_code_of_none_is_empty():
    assert clean_code(None) == ""


@pytest.mark.parametrize("code", STDNUM_VALID_USCC)
def test_check_uscc_accepts_published_codes(code):
    assert check_uscc(code) == CodeCheck(code, "uscc", "valid")


def test_check_uscc_accepts_lower_case_and_spaced_codes():
    result = check_uscc("91 110000 600037341l")
    assert result.status == "valid"
    assert result.value == "91110000600037341L"


def test_check_uscc_rejects_a_wrong_check_digit_and_names_the_right_one():
    result = check_uscc("91110000600037341N")
    assert result.status == "invalid"
    assert result.reason == "check digit should be L, not N"


@pytest.mark.parametrize("first", ["A", "N", "Y"])
def test_check_uscc_warns_but_keeps_codes_of_letter_authorities(first):
    code = uscc_with_check(first + "1110000600037341")
    result = check_uscc(code)
    assert result.status == "warning"
    assert "letter" in result.reason
    assert result.usable


def test_check_uscc_warns_when_the_embedded_organisation_code_is_wrong():
    good = org_check("12345678")
    wrong = "1" if good != "1" else "2"
    code = uscc_with_check("91330784" + "12345678" + wrong)
    result = check_uscc(code)
    assert result.status == "warning"
    assert f"check character should be {good}" in result.reason


def test_check_uscc_rejects_letters_the_alphabet_excludes():
    result = check_uscc("9111000060003IOZSV")
    assert result.status == "invalid"
    assert "I, O, S, V, Z" in result.reason


def test_check_uscc_rejects_a_wrong_length():
    result = check_uscc("9111000060003734")
    assert result.status == "invalid"
    assert "18 characters" in result.reason


def test_check_uscc_of_a_blank_cell_is_empty():
    assert check_uscc("  ") == CodeCheck("", "uscc", "empty")


@pytest.mark.parametrize(
    "shown", ["9.1133E+17", "9.11330784E+17", "9.11330784521235E+17", 9.113307845212346e17]
)
def test_check_uscc_explains_a_code_excel_turned_into_a_number(shown):
    result = check_uscc(shown)
    assert result.status == "invalid"
    assert "spreadsheet turned the code into a number" in result.reason
    assert "lost" in result.reason
    assert is_excel_mangled(shown)


def test_check_uscc_hints_at_rounding_when_an_all_digit_code_ends_in_zeros():
    result = check_uscc("911330784521000000")
    assert result.status == "invalid"
    assert "rounded" in result.reason


def test_check_reg_no_accepts_the_gs15_example():
    assert check_reg_no("110108000000016") == CodeCheck("110108000000016", "reg_no", "valid")


def test_check_reg_no_rejects_a_wrong_check_digit():
    result = check_reg_no("110108000000017")
    assert result.status == "invalid"
    assert result.reason == "check digit should be 6"


@pytest.mark.parametrize("number", ["33021200019832", "3302120001983"])
def test_check_reg_no_tolerates_13_and_14_digit_legacy_numbers_as_warnings(number):
    result = check_reg_no(number)
    assert result.status == "warning"
    assert "malformed legacy" in result.reason


def test_check_reg_no_rejects_other_lengths_and_letters():
    assert check_reg_no("1101080000000160").status == "invalid"
    assert check_reg_no("11010800000001A").status == "invalid"


def test_check_org_code_accepts_the_standard_example_with_or_without_hyphen():
    assert check_org_code("D2143569-X") == CodeCheck("D2143569X", "org_code", "valid")
    assert check_org_code("d2143569x").status == "valid"
    assert check_org_code("Ｄ２１４３５６９－Ｘ").status == "valid"


def test_check_org_code_uses_0_when_the_remainder_is_zero():
    assert org_check("00000000") == "0"
    assert check_org_code("00000000-0").status == "valid"


def test_check_org_code_rejects_a_wrong_check_character():
    result = check_org_code("D2143569-1")
    assert result.status == "invalid"
    assert result.reason == "check character should be X"


@pytest.mark.parametrize(
    "number", ["11010519491231002X", "11010519491231002x", "360426199101010071"]
)
def test_check_resident_id_accepts_published_numbers(number):
    result = check_resident_id(number)
    assert result.status == "valid"
    assert result.value == number.upper()


@pytest.mark.parametrize("number", ["330784197001010010", "330722197001010011"])
def test_check_resident_id_keeps_yongkang_ids_of_owners_born_before_the_county_code(number):
    # stdnum.cn.ric.validate rejects these: 330784 exists from 1992, 330722 until 1992.
    assert check_resident_id(number).usable


def test_check_resident_id_rejects_a_wrong_check_digit():
    result = check_resident_id("110105194912310021")
    assert result.status == "invalid"
    assert result.reason == "check digit should be X"


def test_check_resident_id_rejects_an_impossible_birth_date():
    result = check_resident_id(ric_with_check("33078419701301001"))
    assert result.status == "invalid"
    assert "1970-13-01 is not a real date" in result.reason


def test_check_resident_id_rejects_a_birth_date_in_the_future():
    result = check_resident_id(ric_with_check("33078420990101001"))
    assert result.status == "invalid"
    assert "impossible" in result.reason


def test_check_resident_id_only_warns_about_an_unknown_area_code():
    result = check_resident_id("990426199112010074")  # stdnum: valid checksum, unknown place
    assert result.status == "warning"
    assert "area code 990426" in result.reason


def test_check_resident_id_converts_a_first_generation_15_digit_number():
    result = check_resident_id("110105491231002")
    assert result.value == "11010519491231002X"
    assert result.status == "warning"
    assert "15-digit" in result.reason


def test_check_resident_id_reports_an_id_excel_turned_into_a_number():
    result = check_resident_id("3.30784197001E+17")
    assert result.status == "invalid"
    assert "spreadsheet" in result.reason


@pytest.mark.parametrize(
    ("tin", "kind"),
    [
        ("91110000600037341L", "uscc"),
        ("330784197001010010", "ric"),
        ("11010519491231002X01", "ric_plus_seq"),
        ("11010549123100200000", "ric_plus_seq"),
        ("11010549123100201", "ric_plus_seq"),
        ("110108D2143569X", "region_plus_orgcode"),
        ("110105491231002", "ric"),
        ("C2023156000000001A", "other"),
    ],
)
def test_check_tin_derives_the_kind_of_taxpayer_number(tin, kind):
    result = check_tin(tin)
    assert result.kind == kind
    assert result.usable
    assert result.value == tin


def test_check_tin_reports_an_owner_id_with_a_bad_date_inside_a_20_digit_number():
    result = check_tin("33078419790365396901")
    assert (result.kind, result.status) == ("ric_plus_seq", "invalid")
    assert "not a real date" in result.reason


def test_check_tin_rejects_a_region_code_with_a_bad_organisation_code():
    result = check_tin("110108D21435691")
    assert (result.kind, result.status) == ("region_plus_orgcode", "invalid")


def test_check_tin_of_a_mangled_number_is_invalid():
    assert check_tin("9.1133E+17").status == "invalid"


def test_check_tin_of_an_empty_cell_is_empty():
    assert check_tin(None).status == "empty"


def test_check_business_code_reads_credit_codes_and_old_registration_numbers():
    assert check_business_code("91110000600037341L").kind == "uscc"
    assert check_business_code("110108000000016").kind == "reg_no"
    assert "neither" in check_business_code("12345").reason


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("91110000600037341L", "company"),
        ("92340602MA2PBMEM24", "individual"),
        ("93330784MA00000000", "coop"),
        ("121200004013590816", "other"),
        ("", "other"),
    ],
)
def test_entity_kind_from_uscc_reads_the_first_two_characters(code, kind):
    assert entity_kind_from_uscc(code) == kind


def test_entity_kind_from_reg_no_reads_digit_7():
    assert entity_kind_from_reg_no("110108000000016") == "company"
    assert entity_kind_from_reg_no("330784600000001") == "individual"


def test_check_resident_id_finds_the_check_digit_of_every_id_as_the_standard_prints_it():
    import random

    rng = random.Random(11643)
    for _ in range(2000):
        first17 = "330784" + f"{rng.randint(1900, 2020)}{rng.randint(1, 12):02d}01" + (
            f"{rng.randint(0, 999):03d}"
        )
        right = ric_with_check(first17)
        assert check_resident_id(right).status == "valid", right
        wrong = first17 + ("0" if right[-1] != "0" else "1")
        assert check_resident_id(wrong).reason == f"check digit should be {right[-1]}"


def test_check_resident_id_reads_full_width_digits_as_digits():
    assert check_resident_id("３３０７８４１９８４１２０６００８４").status == "valid"


@pytest.mark.parametrize(
    ("birth", "status"),
    [
        ("19000101", "valid"),
        ("19840229", "valid"),  # a leap day
        ("19850229", "invalid"),  # no leap year
        ("19840431", "invalid"),
        ("18991231", "invalid"),
        ("20990101", "invalid"),
    ],
)
def test_check_resident_id_knows_the_real_birth_dates(birth, status):
    assert check_resident_id(ric_with_check(f"330784{birth}008")).status == status


def test_check_resident_id_accepts_a_birth_date_earlier_this_year():
    today = date.today()
    if (today.month, today.day) == (1, 1):
        pytest.skip("no earlier day this year")
    code = ric_with_check(f"330784{today.year}0101008")
    assert check_resident_id(code).status == "valid"


@pytest.mark.parametrize("body", ["PJ7L3CLR", "00000000", "LTGJJEAW", "MA2E0Y8J", "12345678"])
def test_check_uscc_warns_exactly_when_the_embedded_organisation_code_is_wrong(body):
    total = sum(ORG_CODE_VALUES.index(c) * w for c, w in zip(body, ORG_WEIGHTS, strict=True))
    right = {10: "X", 11: "0"}.get(11 - total % 11, str(11 - total % 11))
    assert check_uscc(uscc_with_check("92330784" + body + right)).status == "valid"
    wrong = "1" if right != "1" else "2"
    result = check_uscc(uscc_with_check("92330784" + body + wrong))
    assert result.status == "warning"
    assert f"its check character should be {right}, not {wrong}" in result.reason


def test_check_uscc_names_a_bad_last_character_before_the_check_digit():
    result = check_uscc("92330784PJ7L3CLR7O")
    assert result.status == "invalid"
    assert result.reason.startswith("contains O")


def test_entity_kind_from_uscc_reads_lower_case_and_spaced_codes():
    assert entity_kind_from_uscc("92340602ma2pbmem24") == "individual"
    assert entity_kind_from_uscc(" 91 110000600037341L") == "company"
