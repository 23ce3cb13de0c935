#!/usr/bin/env python3
"""Evaluates quality checks, review and verdicts on a simulated campaign of a county.

Imports the county (gazetteer, both bureau lists, segments, couriers) into a throwaway
database, plans a campaign, then plays it day by day through the real use cases: couriers
upload photos and submit results (`submit_result`, which runs the checks), a supervisor
rejects flagged results and accepts the others in bulk (`decide`, `accept_unflagged`),
re-check and third visits are worked like any other visit, until nothing is open.

Honest couriers answer what truth.csv says, from where the business really is, with their
own photos. A few couriers fabricate part of their visits:
  station  submit from their station, with fresh photos taken there;
  reuse    submit from where they are (their previous stop) with photos of another
           business: the same file, or a copy re-saved, resized and slightly cropped;
  blind    answer from home in the evening without visiting: a tap-through, a photo or
           two from the gallery or none, often indoors with a poor fix or no fix at all.
The script prints the share of fabricated results flagged, the share of honest results
flagged (false alarms) and the verdict accuracy on resolved businesses, against truth.

Usage: scripts/eval_quality.py [COUNTY_DIR] [--seed 7] [--fabricators 2] [--share 0.5]
       [--keep]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import math
import random
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from PIL import ExifTags, Image, ImageDraw, ImageEnhance

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fieldcheck.auth.models import User
from fieldcheck.auth.service import add_user
from fieldcheck.config import Settings
from fieldcheck.db import make_session_factory
from fieldcheck.dispatch.intake import import_couriers, import_territories
from fieldcheck.dispatch.models import Courier, Visit
from fieldcheck.dispatch.service import (
    OUTCOME_PHOTO_DEFAULTS,
    CampaignSpec,
    create_campaign,
    request_plan,
)
from fieldcheck.evidence.service import PhotoLimits, upload_photo
from fieldcheck.evidence.storage import LocalStorage
from fieldcheck.fieldwork.inputs import (
    Corrections,
    DevicePosition,
    NamedPhoto,
    ResultSubmission,
)
from fieldcheck.fieldwork.models import VisitResult
from fieldcheck.fieldwork.service import LateResultError, submit_result
from fieldcheck.jobs.service import execute_job
from fieldcheck.quality.models import Flag
from fieldcheck.review import service as review
from fieldcheck.review.models import CampaignSupervisor, Finding, ReviewDecision
from fieldcheck.review.service import QueueFilter
from scripts.county_db import ThrowawayDatabase, import_file

DEFAULT_COUNTY = Path(__file__).resolve().parents[2] / "shared" / "data" / "yongkang-2k"
ZONE = ZoneInfo("Asia/Shanghai")
FIRST_DAY = date(2026, 10, 12)  # a Monday
WORKING_WEEKDAYS = {1, 2, 3, 4, 5, 6}
GOALS = {"fabricated_flagged": 0.97, "honest_flagged": 0.02, "verdict_accuracy": 0.995}
LIMITS = PhotoLimits(max_bytes=15 * 1024 * 1024, max_pixels=50_000_000)
# Outcomes whose shop front photo shows the building rather than a shop of the business.
NO_OWN_FRONT = {"closed", "shell", "not_found", "relocated"}
K = math.pi / 180 * 6371008.8


def offset(lon: float, lat: float, east_m: float, north_m: float) -> tuple[float, float]:
    return lon + east_m / (K * math.cos(math.radians(lat))), lat + north_m / K


def metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    x = (b[0] - a[0]) * K * math.cos(math.radians((a[1] + b[1]) / 2))
    return math.hypot(x, (b[1] - a[1]) * K)


# --- photos -------------------------------------------------------------------------------


def scene(key: str) -> Image.Image:
    """The same place looks the same: a picture drawn from the scene's key."""
    rnd = random.Random(key)
    width, height = 400, 300
    image = Image.new("RGB", (width, height), tuple(rnd.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    for _ in range(14):
        x, y = rnd.randrange(width), rnd.randrange(height)
        w, h = rnd.randrange(width // 8, width // 2), rnd.randrange(height // 8, height // 2)
        shape = draw.ellipse if rnd.random() < 0.5 else draw.rectangle
        shape((x, y, x + w, y + h), fill=tuple(rnd.randrange(256) for _ in range(3)))
    return image


def _exif(at: tuple[float, float] | None, taken: datetime | None, with_offset: bool
          ) -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "HUAWEI"
    exif[ExifTags.Base.Model] = "P60"
    if at is not None:
        gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
        for value, ref_tag, tag, refs in ((at[1], ExifTags.GPS.GPSLatitudeRef,
                                           ExifTags.GPS.GPSLatitude, "NS"),
                                          (at[0], ExifTags.GPS.GPSLongitudeRef,
                                           ExifTags.GPS.GPSLongitude, "EW")):
            gps[ref_tag] = refs[0] if value >= 0 else refs[1]
            value = abs(value)
            degrees = int(value)
            minutes = int((value - degrees) * 60)
            seconds = round(((value - degrees) * 60 - minutes) * 60, 4)
            gps[tag] = (degrees, minutes, seconds)
    if taken is not None:
        details = exif.get_ifd(ExifTags.IFD.Exif)
        details[ExifTags.Base.DateTimeOriginal] = taken.astimezone(ZONE).strftime(
            "%Y:%m:%d %H:%M:%S")
        if with_offset:
            details[ExifTags.Base.OffsetTimeOriginal] = "+08:00"
    return exif


def shoot(key: str, rnd: random.Random, *, at: tuple[float, float] | None,
          taken: datetime | None) -> bytes:
    """A phone photo of a scene: a slightly different framing and light each time."""
    image = scene(key)
    w, h = image.size
    cw, ch = int(w * rnd.uniform(0.86, 0.94)), int(h * rnd.uniform(0.86, 0.94))
    x, y = rnd.randrange(0, w - cw + 1), rnd.randrange(0, h - ch + 1)
    image = image.crop((x, y, x + cw, y + ch)).resize((320, 240))
    image = ImageEnhance.Brightness(image).enhance(rnd.uniform(0.85, 1.15))
    # Phones: most write the GPS position, most the time with its offset.
    gps = at if rnd.random() < 0.7 else None
    style = rnd.random()
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=rnd.randrange(75, 95),
               exif=_exif(gps, taken if style < 0.95 else None, with_offset=style < 0.8))
    return out.getvalue()


def resave(data: bytes, rnd: random.Random) -> bytes:
    """A copy made by an editing or chat app: resized, recompressed, maybe cropped or
    brightened, its EXIF dropped."""
    image = Image.open(io.BytesIO(data)).convert("RGB")
    w, h = image.size
    scale = rnd.uniform(0.6, 1.0)
    image = image.resize((max(64, int(w * scale)), max(48, int(h * scale))))
    if rnd.random() < 0.5:
        cw, ch = image.size
        m = rnd.uniform(0.0, 0.04)
        image = image.crop((int(cw * m), int(ch * m), cw - int(cw * m), ch - int(ch * m)))
    if rnd.random() < 0.5:
        image = ImageEnhance.Brightness(image).enhance(rnd.uniform(0.9, 1.1))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=rnd.randrange(50, 85))
    return out.getvalue()


# --- the county ---------------------------------------------------------------------------


@dataclass
class Target:
    business_id: int
    entity: str
    truth: dict[str, str]
    registered: tuple[float, float]
    address: str

    @property
    def state(self) -> str:
        return self.truth["field_state"]

    @property
    def real(self) -> tuple[float, float]:
        if self.truth["real_lon"] and self.state not in ("relocated", "shell", "not_found"):
            return float(self.truth["real_lon"]), float(self.truth["real_lat"])
        # Gone, moved or never there: the courier stands at the registered door.
        return self.registered


@dataclass
class Worker:
    courier_id: int
    staff_no: str
    user: User
    station: tuple[float, float]
    fabricates: float = 0.0
    home: tuple[float, float] | None = None
    photos: dict[str, list[bytes]] = field(default_factory=lambda: defaultdict(list))
    last_point: tuple[float, float] | None = None
    last_time: datetime | None = None


@dataclass
class Submitted:
    result_id: int
    fabricated: str | None  # the mode, or None for an honest result
    business_id: int


# --- one day of one courier ----------------------------------------------------------------


class Simulation:
    def __init__(self, engine: sa.Engine, county: Path, seed: int, fabricators: int,
                 share: float) -> None:
        self.sessions = make_session_factory(engine)
        self.engine = engine
        self.county = county
        self.rnd = random.Random(seed)
        self.fabricator_count = fabricators
        self.share = share
        self.storage = LocalStorage(Path(tempfile.mkdtemp(prefix="fc-eval-photos-")))
        self.submitted: list[Submitted] = []
        self.targets: dict[int, Target] = {}
        self.workers: dict[int, Worker] = {}
        self.redo: set[int] = set()  # visits rejected: their courier redoes them honestly
        self.campaign_id = 0
        self.supervisor: User

    # setup ------------------------------------------------------------------------------

    def load(self) -> None:
        header_rows = {}
        for kind, name in (("gazetteer", "gazetteer.csv"), ("tax", "tax_registry.csv"),
                           ("commerce", "commerce_registry.xlsx")):
            result = import_file(self.engine, kind, self.county / name)
            if kind != "gazetteer":
                header_rows[kind] = result["header_row"]
        settings = Settings.from_env({}, mode="dev", database_url=str(self.engine.url))
        with self.sessions() as session:
            import_territories(session, path=self.county / "territories.geojson", actor_id=None)
            import_couriers(session, path=self.county / "couriers.csv", settings=settings,
                            actor_id=None)
            campaign = create_campaign(session, spec=CampaignSpec(name="eval",
                                                                  starts_on=FIRST_DAY),
                                       actor_id=None)
            self.campaign_id = campaign.id
            job_id = request_plan(session, campaign_id=campaign.id, actor_id=None).id
            self.supervisor = add_user(session, username="eval-supervisor", role="supervisor",
                                       password=None)
            session.add(CampaignSupervisor(user_id=self.supervisor.id, campaign_id=campaign.id))
            session.commit()
        execute_job(self.engine, job_id)
        self._load_truth(header_rows)
        self._load_workers()

    def _load_truth(self, header_rows: dict[str, int]) -> None:
        record_entity: dict[tuple[str, int], str] = {}
        entities: dict[str, dict[str, str]] = {}
        with open(self.county / "truth.csv", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                entities[row["entity"]] = row
                for bureau, column in (("tax", "tax_rows"), ("commerce", "commerce_rows")):
                    for index in filter(None, row[column].split("|")):
                        record_entity[(bureau, int(index))] = row["entity"]
        votes: dict[int, Counter[str]] = defaultdict(Counter)
        with self.engine.connect() as conn:
            for bureau, row_number, business_id in conn.execute(sa.text(
                    "SELECT bureau, row_number, business_id FROM source_records "
                    "WHERE is_current AND business_id IS NOT NULL")):
                entity = record_entity.get((bureau, row_number - header_rows[bureau]))
                if entity:
                    votes[business_id][entity] += 1
            points = {r.id: r for r in conn.execute(sa.text(
                "SELECT id, address, ST_X(location) AS lon, ST_Y(location) AS lat "
                "FROM businesses"))}
        for business_id, counts in votes.items():
            entity = counts.most_common(1)[0][0]
            point = points[business_id]
            self.targets[business_id] = Target(business_id, entity, entities[entity],
                                               (point.lon, point.lat), point.address or "")

    def _load_workers(self) -> None:
        with self.sessions() as session:
            rows = session.execute(
                sa.select(Courier, User, sa.func.ST_X(Courier.station),
                          sa.func.ST_Y(Courier.station))
                .join(User, User.id == Courier.user_id).order_by(Courier.id)
            ).all()
        for courier, user, lon, lat in rows:
            self.workers[courier.id] = Worker(courier.id, courier.staff_no, user, (lon, lat))
        for worker in self.rnd.sample(sorted(self.workers.values(), key=lambda w: w.courier_id),
                                      self.fabricator_count):
            worker.fabricates = self.share
            angle = self.rnd.uniform(0, 2 * math.pi)
            distance = self.rnd.uniform(800, 2500)
            worker.home = offset(*worker.station, distance * math.cos(angle),
                                 distance * math.sin(angle))

    # work -------------------------------------------------------------------------------

    def work_day(self, day: int, when: date) -> int:
        """Every courier works the day's visits; the supervisor reviews in the evening."""
        with self.sessions() as session:
            visits = list(session.scalars(
                sa.select(Visit).where(Visit.campaign_id == self.campaign_id,
                                       Visit.courier_id.is_not(None),
                                       Visit.state.in_(("assigned", "rejected")))
                .order_by(Visit.courier_id, Visit.planned_day, Visit.route_order, Visit.id)
            ))
        todo: dict[int, list[Visit]] = defaultdict(list)
        for visit in visits:
            # Redone and re-check visits come first; planned ones on their day.
            if visit.state == "rejected" or visit.kind == "recheck" or (
                    visit.planned_day is not None and visit.planned_day <= day):
                todo[visit.courier_id].append(visit)
        before = len(self.submitted)
        for courier_id, queue in todo.items():
            queue.sort(key=lambda v: (v.state != "rejected", v.kind != "recheck",
                                      v.planned_day or 0, v.route_order or 0, v.id))
            self._courier_day(self.workers[courier_id], queue[:45], when)
        return len(self.submitted) - before

    def _courier_day(self, worker: Worker, visits: list[Visit], when: date) -> None:
        now = datetime.combine(when, clock(8, 30), ZONE)
        here = worker.station
        evening: list[tuple[Visit, str]] = []
        for visit in visits:
            target = self.targets.get(visit.business_id)
            if target is None:
                continue
            mode = None
            if visit.id not in self.redo and self.rnd.random() < worker.fabricates:
                mode = self.rnd.choices(("station", "reuse", "blind"), (0.4, 0.3, 0.3))[0]
                if mode == "reuse" and not worker.photos["storefront"]:
                    mode = "station"
            if mode in ("station", "blind"):
                evening.append((visit, mode))
                continue
            if mode == "reuse":
                # Sits at the previous stop a few minutes and makes this one up.
                now += timedelta(minutes=self.rnd.uniform(2, 6))
                self._fabricate(worker, visit, target, "reuse", here, now)
                continue
            travel = metres(here, target.real) * 1.3 / (15 / 3.6)
            now += timedelta(seconds=travel)
            now = self._honest(worker, visit, target, now)
            here = target.real
            self.redo.discard(visit.id)
        # Back at the station, or at home after dark, for the made-up ones.
        now += timedelta(seconds=metres(here, worker.station) * 1.3 / (15 / 3.6))
        for visit, mode in evening:
            target = self.targets[visit.business_id]
            if mode == "blind":
                now = max(now, datetime.combine(when, clock(20, 0), ZONE))
            now += timedelta(minutes=self.rnd.uniform(1, 4))
            self._fabricate(worker, visit, target, mode, worker.station, now)

    def _honest(self, worker: Worker, visit: Visit, target: Target, arrive: datetime
                ) -> datetime:
        rnd = self.rnd
        outcome = target.state
        stay = timedelta(seconds=max(45.0, rnd.lognormvariate(math.log(270), 0.45)))
        started, captured = arrive, arrive + stay
        accuracy = rnd.lognormvariate(math.log(9), 0.5)
        if rnd.random() < 0.004:  # under a concrete canopy, between tall buildings
            accuracy = rnd.uniform(55, 120)
        error = abs(rnd.gauss(0, accuracy / 1.5))
        angle = rnd.uniform(0, 2 * math.pi)
        at = offset(*target.real, error * math.cos(angle), error * math.sin(angle))
        photos = []
        for i, kind in enumerate(OUTCOME_PHOTO_DEFAULTS[outcome]):
            taken = started + (stay * (i + 1)) / (len(OUTCOME_PHOTO_DEFAULTS[outcome]) + 1)
            if kind == "doorplate":
                key = f"door:{target.address}"
            elif kind == "storefront" and outcome in NO_OWN_FRONT:
                key = f"front:{target.address}"
            else:
                key = f"{kind}:{target.business_id}"
            camera = offset(*at, rnd.gauss(0, 4), rnd.gauss(0, 4))
            photos.append((kind, shoot(key, rnd, at=camera, taken=taken)))
        corrections = Corrections()
        if outcome == "operating_changed":
            corrections = Corrections(phone=target.truth["real_phone"] or "13800000000")
        elif outcome == "relocated":
            corrections = Corrections(relocated_to_address=target.truth["real_address"] or None)
        self._submit(worker, visit, outcome, at, accuracy, started, captured, photos,
                     corrections, fabricated=None)
        return captured

    def _fabricate(self, worker: Worker, visit: Visit, target: Target, mode: str,
                   here: tuple[float, float], now: datetime) -> None:
        rnd = self.rnd
        outcome = rnd.choices(("operating", "not_found", "closed"), (0.8, 0.12, 0.08))[0]
        photos: list[tuple[str, bytes]] = []
        kinds = OUTCOME_PHOTO_DEFAULTS[outcome]
        accuracy: float | None = rnd.uniform(5, 15)
        at: tuple[float, float] | None
        if mode == "station":
            at = offset(*here, rnd.gauss(0, 6), rnd.gauss(0, 6))
            started = now
            captured = now + timedelta(seconds=rnd.uniform(120, 300))
            for i, kind in enumerate(kinds):
                photos.append((kind, shoot(f"junk:{uuid.uuid4()}", rnd, at=at,
                                           taken=started + timedelta(seconds=40 * (i + 1)))))
        elif mode == "reuse":
            # At the previous stop, or at this door (the shop shut, the photo from elsewhere).
            spot = here if rnd.random() < 0.5 else target.real
            at = offset(*spot, rnd.gauss(0, 10), rnd.gauss(0, 10))
            started = now
            captured = now + timedelta(seconds=rnd.uniform(90, 240))
            for kind in kinds:
                pool = worker.photos[kind] or worker.photos["storefront"]
                old = rnd.choice(pool)
                photos.append((kind, old if rnd.random() < 0.5 else resave(old, rnd)))
        else:  # blind: from home, without going
            assert worker.home is not None
            at = offset(*worker.home, rnd.gauss(0, 15), rnd.gauss(0, 15))
            accuracy = rnd.uniform(20, 80)
            if rnd.random() < 0.2:
                at, accuracy = None, None
            started = now
            captured = now + timedelta(seconds=rnd.uniform(15, 60))
            style = rnd.random()
            if style < 0.3 and worker.photos["storefront"]:
                photos.append(("storefront", rnd.choice(worker.photos["storefront"])))
            elif style < 0.6:
                spot = worker.home
                for i, kind in enumerate(kinds):
                    photos.append((kind, shoot(f"home:{uuid.uuid4()}", rnd, at=spot,
                                               taken=started + timedelta(seconds=5 * (i + 1)))))
        # Never name one file twice in a result (the phone app refuses it too).
        seen: set[bytes] = set()
        photos = [(k, d) for k, d in photos if not (d in seen or seen.add(d))]
        self._submit(worker, visit, outcome, at, accuracy, started, captured, photos,
                     Corrections(), fabricated=mode)

    def _submit(self, worker: Worker, visit: Visit, outcome: str,
                at: tuple[float, float] | None, accuracy: float | None, started: datetime,
                captured: datetime, photos: list[tuple[str, bytes]], corrections: Corrections,
                *, fabricated: str | None) -> None:
        with self.sessions() as session:
            for _, data in photos:
                upload_photo(session, storage=self.storage, uploader=worker.user, data=data,
                             claimed_type="image/jpeg", limits=LIMITS)
            submission = ResultSubmission(
                submission_id=str(uuid.UUID(int=self.rnd.getrandbits(128))),
                visit_id=visit.id,
                outcome=outcome,
                not_found_reason="unknown_at_address" if outcome == "not_found" else None,
                captured_at=captured,
                started_at=started,
                position=DevicePosition(at[0], at[1], accuracy_m=round(accuracy, 1),
                                        fix_time=captured) if at else None,
                photos=tuple(NamedPhoto(kind, hashlib.sha256(data).hexdigest())
                             for kind, data in photos),
                corrections=corrections,
            )
            try:
                receipt = submit_result(session, courier_user=worker.user,
                                        submission=submission,
                                        now=captured + timedelta(minutes=2))
            except LateResultError as late:
                receipt = late.receipt
        if fabricated is None:
            for kind, data in photos:
                worker.photos[kind].append(data)
        self.submitted.append(Submitted(receipt.result.id, fabricated, visit.business_id))

    # review -----------------------------------------------------------------------------

    def review_day(self, when: date) -> None:
        """Flagged results are rejected (a visit rejected twice is looked at closely and
        accepted); everything else is accepted in bulk."""
        evening = datetime.combine(when, clock(21, 30), ZONE)
        with self.sessions() as session:
            while True:
                items, _ = review.list_review_queue(
                    session, viewer=self.supervisor, now=evening, limit=500,
                    filters=QueueFilter(campaign_id=self.campaign_id, flagged=True))
                if not items:
                    break
                for item in items:
                    rejected_before = session.scalar(
                        sa.select(sa.func.count()).select_from(VisitResult)
                        .join(ReviewDecision, sa.and_(
                            ReviewDecision.result_id == VisitResult.id,
                            ReviewDecision.superseded_by_id.is_(None),
                            ReviewDecision.decision == "reject"))
                        .where(VisitResult.visit_id == item.visit.id))
                    if rejected_before >= 2 or item.result.late:
                        review.decide(session, result_id=item.result.id, decision="accept",
                                      reason="checked by hand", actor=self.supervisor,
                                      now=evening)
                        continue
                    reason = "; ".join(f.message for f in item.flags)[:2000]
                    review.decide(session, result_id=item.result.id, decision="reject",
                                  reason=reason, actor=self.supervisor, now=evening)
                    self.redo.add(item.visit.id)
            review.accept_unflagged(session, campaign_id=self.campaign_id,
                                    actor=self.supervisor, now=evening)

    def open_visits(self) -> Counter[str]:
        with self.sessions() as session:
            return Counter(dict(session.execute(
                sa.select(Visit.state, sa.func.count()).where(
                    Visit.campaign_id == self.campaign_id,
                    Visit.state.in_(("planned", "assigned", "rejected", "submitted")))
                .group_by(Visit.state)).all()))


# --- scoring ------------------------------------------------------------------------------


def working_days(start: date) -> list[date]:
    days, current = [], start
    while len(days) < 80:
        if current.isoweekday() in WORKING_WEEKDAYS:
            days.append(current)
        current += timedelta(days=1)
    return days


def score(sim: Simulation) -> dict[str, Any]:
    with sim.sessions() as session:
        flags: dict[int, set[str]] = defaultdict(set)
        for result_id, kind in session.execute(sa.select(Flag.result_id, Flag.kind)):
            flags[result_id].add(kind)
        findings = list(session.scalars(sa.select(Finding).where(
            Finding.campaign_id == sim.campaign_id)))
        visits = Counter(kind for (kind,) in session.execute(
            sa.select(Visit.kind).where(Visit.campaign_id == sim.campaign_id)))
        unassigned = session.scalar(sa.select(sa.func.count()).select_from(Visit).where(
            Visit.campaign_id == sim.campaign_id, Visit.courier_id.is_(None)))
    fabricated = [s for s in sim.submitted if s.fabricated]
    honest = [s for s in sim.submitted if not s.fabricated]
    by_mode: dict[str, list[bool]] = defaultdict(list)
    for s in fabricated:
        by_mode[s.fabricated or ""].append(bool(flags.get(s.result_id)))
    honest_kinds = Counter(k for s in honest for k in flags.get(s.result_id, ()))
    with sim.sessions() as session:
        examples = session.execute(
            sa.select(Flag.result_id, Flag.kind, Flag.message)
            .where(Flag.result_id.in_([s.result_id for s in honest if flags.get(s.result_id)]))
            .order_by(Flag.result_id).limit(12)
        ).all()
    fabricated_kinds = Counter(k for s in fabricated for k in flags.get(s.result_id, ()))

    verdicts: Counter[str] = Counter()
    wrong: list[tuple[int, str, str]] = []
    resolved = 0
    for finding in findings:
        truth = sim.targets[finding.business_id].state
        if finding.verdict == "unresolved":
            verdicts[f"unresolved (truth {truth})"] += 1
            continue
        resolved += 1
        if finding.verdict != truth:
            wrong.append((finding.business_id, finding.verdict, truth))
    return {
        "results": len(sim.submitted),
        "fabricated": len(fabricated),
        "honest": len(honest),
        "fabricated_flagged": sum(bool(flags.get(s.result_id)) for s in fabricated)
        / max(len(fabricated), 1),
        "honest_flagged": sum(bool(flags.get(s.result_id)) for s in honest) / max(len(honest), 1),
        "by_mode": {m: (sum(v), len(v)) for m, v in sorted(by_mode.items())},
        "honest_kinds": honest_kinds,
        "honest_examples": examples,
        "fabricated_kinds": fabricated_kinds,
        "findings": len(findings),
        "businesses": len(sim.targets),
        "resolved": resolved,
        "verdict_accuracy": (resolved - len(wrong)) / max(resolved, 1),
        "wrong": wrong,
        "unresolved": verdicts,
        "visits": visits,
        "unassigned": unassigned,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("county", nargs="?", type=Path, default=DEFAULT_COUNTY)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--fabricators", type=int, default=2,
                        help="couriers who fabricate part of their visits")
    parser.add_argument("--share", type=float, default=0.5,
                        help="share of their visits a fabricator makes up")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()

    started = time.perf_counter()
    with ThrowawayDatabase(f"fceval_{uuid.uuid4().hex[:8]}", keep=args.keep) as db:
        sim = Simulation(db.engine, args.county, args.seed, args.fabricators, args.share)
        sim.load()
        fabricators = [w.staff_no for w in sim.workers.values() if w.fabricates]
        print(f"county: {args.county}  businesses: {len(sim.targets)}  "
              f"couriers: {len(sim.workers)}  fabricating: {', '.join(fabricators)} "
              f"({args.share:.0%} of their visits)")
        days = working_days(FIRST_DAY)
        for number, when in enumerate(days, start=1):
            done = sim.work_day(number, when)
            sim.review_day(when)
            if not done:
                break
        figures = score(sim)
        figures["days"] = number
        figures["still_open"] = dict(sim.open_visits())
    elapsed = time.perf_counter() - started
    report(figures, elapsed)


def report(f: dict[str, Any], elapsed: float) -> None:
    goal = GOALS
    print(f"campaign worked in {f['days']} days ({elapsed:.0f} s): {f['results']} results "
          f"({f['honest']} honest, {f['fabricated']} fabricated); visits {dict(f['visits'])}; "
          f"left unassigned {f['unassigned']}; still open {f['still_open']}")
    print(f"fabricated results flagged: {f['fabricated_flagged']:7.2%}   "
          f"(goal >= {goal['fabricated_flagged']:.0%})")
    for mode, (hit, n) in f["by_mode"].items():
        print(f"    {mode:<8} {hit:5d} / {n:<5d} {hit / n:7.2%}")
    print(f"honest results flagged:     {f['honest_flagged']:7.2%}   "
          f"(goal <= {goal['honest_flagged']:.0%})")
    for kind, n in f["honest_kinds"].most_common():
        print(f"    {kind:<20} {n:5d}  {n / max(f['honest'], 1):7.2%}")
    for result_id, kind, message in f["honest_examples"]:
        print(f"      e.g. result {result_id} {kind}: {message}")
    print(f"verdict accuracy on resolved businesses: {f['verdict_accuracy']:7.2%}   "
          f"(goal >= {goal['verdict_accuracy']:.1%}); resolved {f['resolved']} of "
          f"{f['businesses']} businesses, {f['findings']} with a finding")
    for business_id, verdict, truth in f["wrong"][:20]:
        print(f"    business {business_id}: verdict {verdict}, truth {truth}")
    for key, n in f["unresolved"].most_common():
        print(f"    {key:<32} {n:5d}")
    print("flags on fabricated results by kind: "
          + ", ".join(f"{k} {n}" for k, n in f["fabricated_kinds"].most_common()))


if __name__ == "__main__":
    main()
