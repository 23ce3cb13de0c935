"""The near-duplicate photo search against a brute-force reference on random hashes.

Stored hashes are random, plus hashes planted around the wanted ones at chosen distances and
spread over the four 16-bit bands in chosen ways (all in one band, evenly, exactly at the
radius and one bit beyond it). For each radius the search must return exactly the photos the
reference finds by comparing every stored hash.
"""

from __future__ import annotations

import random
from datetime import datetime

import pytest
import sqlalchemy as sa

from fieldcheck.evidence.models import Photo
from fieldcheck.fieldwork.models import ResultPhoto
from fieldcheck.quality.checks import (
    PhotoFacts,
    ResultFacts,
    find_similar_photos,
    phash_band_values,
    phash_bits,
)
from tests.builders import (
    courier_user,
    make_business,
    make_campaign,
    make_courier,
    make_result,
    make_visit,
)

AT = datetime.fromisoformat("2026-11-28T10:16:00+08:00")
RANDOM_PHOTOS = 1500
RADII = (0, 1, 3, 4, 9, 10, 11, 12, 15, 16, 20)


def flip(value: int, bits: list[int]) -> int:
    for bit in bits:
        value ^= 1 << bit
    return value


def spread(rng: random.Random, per_band: tuple[int, int, int, int]) -> list[int]:
    """Bit positions: `per_band[i]` distinct bits in band i (band 0 = the first 4 hex digits)."""
    bits: list[int] = []
    for band, count in enumerate(per_band):
        top = 63 - 16 * band
        bits += rng.sample(range(top - 15, top + 1), count)
    return bits


def hex64(value: int) -> str:
    return f"{value:016x}"


def planted_around(rng: random.Random, wanted: int) -> list[int]:
    """Hashes at chosen distances from `wanted`: the edge cases of the banded search."""
    shapes = [
        (0, 0, 0, 0), (1, 0, 0, 0), (0, 0, 0, 3), (10, 0, 0, 0), (0, 0, 0, 10),
        (3, 3, 2, 2), (2, 3, 3, 2), (3, 3, 3, 1), (3, 3, 3, 2), (3, 3, 3, 3),
        (11, 0, 0, 0), (4, 4, 4, 3), (4, 4, 4, 4), (5, 5, 5, 5), (16, 4, 0, 0),
    ]
    planted = [flip(wanted, spread(rng, shape)) for shape in shapes]
    planted += [flip(wanted, rng.sample(range(64), k)) for k in range(0, 22, 3)]
    return planted


@pytest.fixture
def stored(session):
    """A campaign with one result holding random and planted photos; the wanted hashes."""
    rng = random.Random(20261129)
    campaign = make_campaign(session)
    courier = make_courier(session)
    user = courier_user(session, courier)
    other = make_visit(session, courier=courier, campaign=campaign,
                       business=make_business(session, address="永康市古山镇胜利路99号"))
    wanted = [rng.getrandbits(64) for _ in range(3)] + [0, (1 << 64) - 1]
    values = [rng.getrandbits(64) for _ in range(RANDOM_PHOTOS)]
    for value in wanted:
        values += planted_around(rng, value)
    phashes = [hex64(v) for v in values]
    # Upper case is a valid spelling; hashes that are not 16 hex digits never match.
    phashes[0] = hex64(wanted[0] ^ 1).upper()
    phashes += ["zz" * 8, "abc", None]
    photo_ids = session.execute(
        sa.insert(Photo).returning(Photo.id, sort_by_parameter_order=True),
        [{"sha256": f"{i:064x}", "phash": phash, "storage_key": f"k{i}",
          "mime_type": "image/jpeg", "size_bytes": 1, "width": 1, "height": 1,
          "uploaded_by_id": user.id} for i, phash in enumerate(phashes)],
    ).scalars().all()
    result = make_result(session, visit=other)
    session.execute(sa.insert(ResultPhoto), [
        {"result_id": result.id, "kind": "interior", "photo_sha256": f"{i:064x}",
         "photo_id": photo_id} for i, photo_id in enumerate(photo_ids)
    ])
    # A photo of another campaign's business is no match, however close.
    elsewhere = make_visit(session, courier=courier)
    twin_id = session.execute(
        sa.insert(Photo).returning(Photo.id),
        {"sha256": "f" * 64, "phash": hex64(wanted[1]), "storage_key": "twin",
         "mime_type": "image/jpeg", "size_bytes": 1, "width": 1, "height": 1,
         "uploaded_by_id": user.id},
    ).scalar_one()
    session.add(ResultPhoto(result_id=make_result(session, visit=elsewhere).id,
                            kind="interior", photo_sha256="f" * 64, photo_id=twin_id))
    session.flush()
    reference = [
        (photo_id, int(phash, 16), f"{i:064x}")
        for i, (photo_id, phash) in enumerate(zip(photo_ids, phashes, strict=True))
        if phash and len(phash) == 16 and all(c in "0123456789abcdefABCDEF" for c in phash)
    ]
    return campaign, [hex64(v) for v in wanted], reference


def facts_of(campaign_id: int, hashes: list[str], shas: tuple[str, ...] = ()) -> ResultFacts:
    """A result of a business of its own in the campaign, with photos of these hashes (and
    the stored photos `shas`)."""
    photos = tuple(PhotoFacts(-1 - i, "interior", f"wanted {i}", phash, None, None, None, None)
                   for i, phash in enumerate(hashes))
    photos += tuple(PhotoFacts(-100 - i, "interior", sha, None, None, None, None, None)
                    for i, sha in enumerate(shas))
    return ResultFacts(
        result_id=-1, visit_id=-1, campaign_id=campaign_id, business_id=-1, courier_id=-1,
        courier_territory_id=None, outcome="operating", lon=None, lat=None, accuracy_m=None,
        started_at=None, captured_at=AT, business_lon=None, business_lat=None,
        business_precision="unlocated", business_town=None, business_address=None,
        photos=photos,
    )


def brute_force(reference: list[tuple[int, int, str]], hashes: list[str],
                radius: int) -> set[tuple[str, int, int]]:
    found = set()
    for mine in hashes:
        for photo_id, value, _ in reference:
            distance = (int(mine, 16) ^ value).bit_count()
            if distance <= radius:
                found.add((mine, photo_id, distance))
    return found


@pytest.mark.parametrize("radius", RADII)
def test_search_finds_exactly_what_comparing_every_hash_finds(session, stored, radius):
    campaign, wanted, reference = stored
    for hashes in [[h] for h in wanted] + [wanted[:2]]:
        expected = brute_force(reference, hashes, radius)
        rows = find_similar_photos(session, facts_of(campaign.id, hashes), radius, limit=1000)

        assert {(row.mine, row.photo_id, row.distance) for row in rows} == expected
        assert [row.distance for row in rows] == sorted(row.distance for row in rows)
        assert len(expected) < 1000


def test_radius_ten_finds_hashes_exactly_ten_bits_away_and_none_eleven(session, stored):
    campaign, wanted, reference = stored

    rows = find_similar_photos(session, facts_of(campaign.id, [wanted[2]]), 10)

    distances = [row.distance for row in rows]
    assert distances.count(10) >= 4  # all in one band, in the last band, 3+3+2+2, 3+3+3+1
    assert max(distances) == 10
    assert any(d == 11 for _, _, d in brute_force(reference, [wanted[2]], 11))


def test_the_results_own_photos_and_other_campaigns_are_left_out(session, stored):
    campaign, wanted, reference = stored
    identical = [(photo_id, sha) for photo_id, value, sha in reference
                 if value == int(wanted[1], 16)]
    assert len(identical) == 2  # planted twice in this campaign, once in another one

    rows = find_similar_photos(session, facts_of(campaign.id, [wanted[1]]), 0)
    assert [row.photo_id for row in rows] == [photo_id for photo_id, _ in identical]

    rows = find_similar_photos(
        session, facts_of(campaign.id, [wanted[1]], shas=(identical[0][1],)), 0)
    assert [row.photo_id for row in rows] == [identical[1][0]]


def test_a_malformed_or_negative_query_finds_nothing(session, stored):
    campaign, wanted, _ = stored

    assert find_similar_photos(session, facts_of(campaign.id, ["zz" * 8, "abc"]), 10) == []
    assert find_similar_photos(session, facts_of(campaign.id, wanted), -1) == []


def test_stored_bits_and_bands_are_what_the_search_computes(session):
    courier = make_courier(session)
    photo = Photo(sha256="e" * 64, phash="8000ffff0001a5A5", storage_key="x",
                  mime_type="image/jpeg", size_bytes=1, width=1, height=1,
                  uploaded_by_id=courier.user_id)
    session.add(photo)
    session.flush()
    session.refresh(photo)

    assert photo.phash_bits == phash_bits("8000ffff0001a5A5") == -(1 << 63) + 0xFFFF0001A5A5
    bands = [photo.phash_band0, photo.phash_band1, photo.phash_band2, photo.phash_band3]
    assert bands == [0x8000, 0xFFFF, 0x0001, 0xA5A5]
    assert [[v] for v in bands] == phash_band_values("8000ffff0001a5a5", 3)


def test_band_values_are_every_value_within_a_quarter_of_the_radius():
    values = phash_band_values("0000ffff00000000", 10)

    assert [len(set(v)) for v in values] == [1 + 16 + 120] * 4
    assert 0b11 in values[0] and 0b111 not in values[0]
    assert 0xFFFF ^ 0b101 in values[1] and 0 not in values[1]
    assert phash_band_values("0000ffff00000000", -1) == [[], [], [], []]
