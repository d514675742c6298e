"""A deterministic simulation of one professional's email and calendar, with ground truth.

The simulated user ("Alex Morgan", two addresses) keeps up relationships in Dunbar-like
segments: a handful of close ties, a dozen regular ones, a few dozen acquaintances and an
outer ring, each person with a rhythm of their own (gamma-distributed gaps around a
personal mean, so some are steady and some bursty). On top of that come colleagues'
group threads and team meetings, an all-hands, newsletters and notifications with bulk
headers, cold outreach nobody answers, introductions the user makes, and relationships
that stop at planted times. Everything is drawn from one `random.Random(seed)`, so a seed
and an end date give the same mailbox byte for byte.

The reply-delay model follows Kooti et al. 2015 (arXiv 1504.00704): half of replies come
within about 47 minutes and most within a day (log-normal, median 47 min, sigma 1.7).
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta

from connectors.records import Address, Attendee, EventRecord, MessageRecord

DAY = timedelta(days=1)

FIRST_NAMES = (
    "Ana", "Ben", "Chen", "Dara", "Elif", "Femi", "Gita", "Hugo", "Ines", "Jonas", "Kavya",
    "Liam", "Mei", "Nadia", "Omar", "Pia", "Quinn", "Rosa", "Sami", "Tomas", "Uma", "Vera",
    "Wen", "Xavier", "Yara", "Zane", "Aiko", "Bruno", "Clara", "Dmitri", "Esther", "Farid",
    "Greta", "Hassan", "Ivy", "Jamal", "Kira", "Leon", "Maya", "Nico",
)  # fmt: skip
LAST_NAMES = (
    "Alvarez", "Brooks", "Castro", "Dubois", "Eriksen", "Fischer", "Garcia", "Haddad",
    "Ivanova", "Jensen", "Kowalski", "Lindqvist", "Moreau", "Nakamura", "Okafor", "Petrov",
    "Quispe", "Rossi", "Schmidt", "Tanaka", "Usman", "Varga", "Weber", "Xu", "Yilmaz",
    "Zhou", "Adeyemi", "Bianchi", "Costa", "Dimitrov",
)  # fmt: skip
COMPANIES = (
    "acme", "globex", "initech", "umbrella", "hooli", "vandelay", "stark", "wayne",
    "tyrell", "cyberdyne", "soylent", "wonka", "gringotts", "oscorp", "massive",
)  # fmt: skip
BULK_SENDERS = (
    ("newsletter@weekly-digest.example", "The Weekly Digest", "list", 7),
    ("news@industry-report.example", "Industry Report", "list", 14),
    ("noreply@calendar-tool.example", "Calendar Tool", "auto", 3),
    ("notifications@code-host.example", "Code Host", "auto", 1),
    ("no-reply@travel.example", "Travel Bookings", "auto", 30),
    ("digest@community-forum.example", "Community Forum", "list", 7),
    ("billing@saas-vendor.example", "SaaS Vendor Billing", "auto", 30),
    ("hello@startup-news.example", "Startup News", "list", 10),
)

# Segment: (count, mean gap range in days, share of contact that is a meeting).
SEGMENTS = {
    "close": (5, (3.0, 8.0), 0.30),
    "regular": (12, (10.0, 21.0), 0.22),
    "acquaintance": (35, (24.0, 50.0), 0.15),
    "outer": (90, (55.0, 110.0), 0.10),
}


@dataclass(frozen=True, slots=True)
class Profile:
    """How a kind of professional differs from the default: multipliers on SEGMENTS."""

    people: float = 1.0  # people per segment
    gaps: float = 1.0  # mean gap between contacts
    meetings: float = 1.0  # share of contact that is a meeting (capped at 0.9)


PROFILES = {
    "default": Profile(),
    # Fewer people, seen less often, mostly by mail.
    "sparse": Profile(people=0.6, gaps=1.6, meetings=0.5),
    # Most contact happens in meetings; mail is the exception.
    "meetings": Profile(people=1.0, gaps=0.9, meetings=4.0),
}
GAP_SHAPES = (1.3, 3.0)  # gamma shape of a person's gaps: 1 is memoryless, 3 steady
PREDATES_WINDOW = 0.8  # share of ties that began before the simulated window
PREDATES_BY_DAYS = 400.0  # ...by up to this many days
NEW_TIE_END_MARGIN_DAYS = 10.0  # the others begin inside it, up to this long before its end
# The calendar ahead of the end date the demo fills: meetings and birthdays.
UPCOMING_DAYS = 14
REFERRED_GAPS = (30.0, 70.0)  # mean gap range of people introduced to the user
# Referred people begin this long after the window opens and before it ends, at the least.
REFERRED_START_MARGINS_DAYS = (60.0, 20.0)
PLANTED_SHARE = 0.15
PLANTED_MIN_GAPS = 3.5  # a planted silence lasts at least this many mean gaps...
PLANTED_MIN_DAYS = 30.0  # ...and a month
CONTACTS_BEFORE_STOP = 4  # a stop comes after at least this many earlier contacts
ONE_OFF_PEOPLE = 70
OUTREACH_PEOPLE = 25
INTRODUCTIONS = 8
REFERRALS = 6
MAX_SILENCE_FOR_COLD_DAYS = 330  # stop points beyond this would read as dormant, not cold
USER = ("alex@northwind.example", "alex.morgan@gmail.com")
MERGED_PERSON = ("priya.shah@acme.example", "priyashah@gmail.com")


@dataclass(frozen=True, slots=True)
class Person:
    name: str
    address: str
    company: str
    segment: str
    mean_gap_days: float
    gap_shape: float
    meeting_share: float
    user_initiates: float  # probability the user starts a given thread
    replies: float  # probability the other side answers a message
    started_at: datetime
    stopped_at: datetime | None = None
    alt_address: str | None = None


@dataclass(frozen=True, slots=True)
class TruthRow:
    """What the simulator planted for one person (see raw.demo_truth)."""

    account: str
    address: str
    name: str
    segment: str
    mean_gap_days: float | None
    started_at: datetime | None
    stopped_at: datetime | None
    planted_cold: bool


@dataclass(frozen=True, slots=True)
class Introduction:
    """An introduction the simulator made: `introducer` ("you" or an address) put a and b
    in touch at `at`."""

    introducer: str
    a: str
    b: str
    at: datetime


@dataclass(slots=True)
class DemoNetwork:
    """The simulated mailbox: records as a connector would emit them, plus the truth."""

    user_addresses: tuple[str, ...]
    messages: list[MessageRecord] = field(default_factory=list)
    events: list[EventRecord] = field(default_factory=list)
    truth: list[TruthRow] = field(default_factory=list)
    merges: list[tuple[str, ...]] = field(default_factory=list)
    introductions: list[Introduction] = field(default_factory=list)
    # The simulator's own view, never loaded into the warehouse: the window simulated,
    # and each person's contact episodes (after any planted stop) by main address. It lets
    # bench/cold_ceiling.py ask what a rule could score if it saw the rhythm directly.
    window_start: datetime | None = None
    window_end: datetime | None = None
    contact_times: dict[str, list[datetime]] = field(default_factory=dict)


class _Simulation:
    def __init__(self, seed: int, end: date, months: int, scale: float,
                 profile: Profile) -> None:
        self.rng = random.Random(seed)
        self.seed = seed
        self.end = datetime.combine(end, time(0), tzinfo=UTC)
        self.start = self.end - timedelta(days=round(months * 30.44))
        self.scale = scale
        self.profile = profile
        self.user = Address(USER[0], "Alex Morgan")
        self.user_alias = Address(USER[1], "Alex Morgan")
        self.network = DemoNetwork(user_addresses=(self.user.address, self.user_alias.address))
        self._counter = 0
        self._used_names: set[str] = set()
        self._taken_addresses: set[str] = set()
        self.people: list[Person] = []

    # -- identities ---------------------------------------------------------------
    def _new_name(self) -> str:
        # Names repeat only once the 1,200 combinations run out (large scales).
        for _ in range(50):
            name = f"{self.rng.choice(FIRST_NAMES)} {self.rng.choice(LAST_NAMES)}"
            if name not in self._used_names:
                break
        self._used_names.add(name)
        return name

    def _address_for(self, name: str, company: str) -> str:
        first, last = name.lower().split(" ")
        base = f"{first}.{last}@{company}.example"
        suffix = 2
        address = base
        while address in self._taken_addresses:
            address = base.replace("@", f"{suffix}@")
            suffix += 1
        self._taken_addresses.add(address)
        return address

    def _person(self, segment: str, gap_range: tuple[float, float], meeting_share: float,
                started_at: datetime) -> Person:
        name = self._new_name()
        company = self.rng.choice(COMPANIES)
        return Person(
            name=name,
            address=self._address_for(name, company),
            company=company,
            segment=segment,
            mean_gap_days=self.rng.uniform(*gap_range),
            gap_shape=self.rng.uniform(*GAP_SHAPES),
            meeting_share=meeting_share,
            user_initiates=min(0.9, max(0.1, self.rng.betavariate(3, 3))),
            replies=self.rng.uniform(0.75, 0.95),
            started_at=started_at,
        )

    def build_people(self) -> None:
        span = (self.end - self.start).days
        for segment, (count, gap_range, meeting_share) in SEGMENTS.items():
            gap_range = (gap_range[0] * self.profile.gaps, gap_range[1] * self.profile.gaps)
            meeting_share = min(0.9, meeting_share * self.profile.meetings)
            for _ in range(max(1, round(count * self.scale * self.profile.people))):
                # Most ties predate the window; some begin inside it (new ties).
                if self.rng.random() < PREDATES_WINDOW:
                    started = self.start - timedelta(
                        days=self.rng.uniform(0, PREDATES_BY_DAYS))
                else:
                    started = self.start + timedelta(
                        days=self.rng.uniform(0, span - NEW_TIE_END_MARGIN_DAYS))
                self.people.append(self._person(segment, gap_range, meeting_share, started))
        span_days = (self.end - self.start).days
        for _ in range(max(1, round(REFERRALS * self.scale * self.profile.people))):
            after_start, before_end = REFERRED_START_MARGINS_DAYS
            started = self.start + timedelta(
                days=self.rng.uniform(after_start, span_days - before_end))
            self.people.append(self._person("referred", REFERRED_GAPS, 0.15, started))
        self.contact_times = {p.address: self._contact_times(p) for p in self.people}
        self._plant_stops()
        # One contact writes from two addresses (work and personal); the user's config
        # confirms the merge, as METRICS.md recommends over guessing by display name.
        # Her name and addresses are fixed so that the merge in keepwarm.yaml holds for
        # every seed.
        regulars = [p for p in self.people if p.segment == "regular" and p.stopped_at is None]
        if regulars:
            p = regulars[0]
            self._taken_addresses.update(MERGED_PERSON)
            self.people[self.people.index(p)] = replace(
                p, name="Priya Shah", address=MERGED_PERSON[0], alt_address=MERGED_PERSON[1]
            )
            self.contact_times[MERGED_PERSON[0]] = self.contact_times.pop(p.address)
            self.network.merges.append(MERGED_PERSON)

    def _contact_times(self, p: Person) -> list[datetime]:
        """When contact with `p` happens inside the window: a renewal process of gamma gaps."""
        # Begin at a random phase of the rhythm, not all on the window's first day.
        t = max(p.started_at, self.start - self._gamma_gap(p) * self.rng.random())
        t = t + self._gamma_gap(p) * self.rng.random() if p.started_at < self.start else t
        times = []
        while t < self.end:
            if t >= self.start:
                times.append(t)
            t = t + self._gamma_gap(p)
        return times

    def _plant_stops(self) -> None:
        """Stop some relationships after a contact that leaves a clearly lapsed silence.

        The stop is always an actual contact, so the silence the truth promises is the
        silence in the mailbox: 3.5 or more usual gaps (and a month at least), under a year,
        after at least four earlier contacts to learn the rhythm from.
        """
        for i, p in enumerate(self.people):
            times = self.contact_times[p.address]
            if self.rng.random() >= PLANTED_SHARE:
                continue
            lo = timedelta(days=max(PLANTED_MIN_GAPS * p.mean_gap_days, PLANTED_MIN_DAYS))
            hi = timedelta(days=MAX_SILENCE_FOR_COLD_DAYS)
            candidates = [t for t in times[CONTACTS_BEFORE_STOP:] if lo <= self.end - t <= hi]
            if not candidates:
                continue
            stop = self.rng.choice(candidates)
            self.contact_times[p.address] = [t for t in times if t <= stop]
            self.people[i] = replace(p, stopped_at=stop)

    # -- records ------------------------------------------------------------------
    def _id(self, prefix: str) -> str:
        self._counter += 1
        digest = hashlib.sha1(f"{self.seed}:{prefix}:{self._counter}".encode()).hexdigest()
        return digest[:16]

    def _work_time(self, day: datetime) -> datetime:
        """A plausible sending time on the given day (UTC, mostly office hours)."""
        hour = min(22.9, max(6.0, self.rng.gauss(13.0, 3.0)))
        midnight = day.replace(hour=0, minute=0, second=0, microsecond=0)
        return midnight + timedelta(seconds=round(hour * 3600))

    def _reply_delay(self) -> timedelta:
        minutes = math.exp(math.log(47.0) + 1.7 * self.rng.gauss(0.0, 1.0))
        return timedelta(minutes=min(minutes, 14 * 24 * 60))

    def _message(self, sender: Address, to: list[Address], sent_at: datetime, *,
                 cc: list[Address] | None = None, thread: list[MessageRecord] | None = None,
                 labels: list[str] | None = None, **bulk) -> MessageRecord:
        key = self._id("msg")
        rfc_id = f"{key}@{sender.address.split('@')[1]}"
        thread = thread if thread is not None else []
        outbound = sender.address in self.network.user_addresses
        record = MessageRecord(
            account=self.user.address,
            source="demo",
            message_key=key,
            rfc_message_id=rfc_id,
            thread_key=thread[0].message_key if thread else key,
            sent_at=sent_at,
            date_source="simulated",
            from_addrs=[sender],
            to_addrs=to,
            cc_addrs=cc or [],
            in_reply_to=thread[-1].rfc_message_id if thread else None,
            references=[m.rfc_message_id for m in thread],
            labels=labels or (["SENT"] if outbound else ["INBOX"]),
            **bulk,
        )
        self.network.messages.append(record)
        return record

    def _user_address(self) -> Address:
        # The user sends about one message in seven from the personal address.
        return self.user_alias if self.rng.random() < 0.15 else self.user

    def _their_address(self, p: Person) -> Address:
        if p.alt_address and self.rng.random() < 0.4:
            return Address(p.alt_address, p.name)
        return Address(p.address, p.name)

    def email_thread(self, p: Person, when: datetime, *, user_first: bool,
                     cc: list[Person] | None = None, max_len: int = 6) -> datetime:
        """A back-and-forth between the user and `p`; returns the time of the last message."""
        thread: list[MessageRecord] = []
        t = self._work_time(when)
        user_turn = user_first
        cc_addrs = [Address(c.address, c.name) for c in cc or []]
        for _ in range(max_len):
            if t >= self.end:
                break
            if user_turn:
                thread.append(self._message(self._user_address(), [self._their_address(p)], t,
                                            cc=cc_addrs, thread=thread))
                answers = p.replies
            else:
                thread.append(self._message(self._their_address(p), [self.user], t,
                                            cc=cc_addrs, thread=thread))
                answers = 0.85
            # Threads end when someone does not answer; longer threads grow less likely.
            if self.rng.random() > answers * (0.75 if len(thread) > 1 else 1.0):
                break
            t = t + self._reply_delay()
            user_turn = not user_turn
        return thread[-1].sent_at if thread else when

    def meeting(self, organizer: Address, attendees: list[tuple[Address, str]], when: datetime,
                minutes: int, *, in_person: bool, status: str = "confirmed",
                recurring: str | None = None, event_type: str = "default") -> None:
        start = self._work_time(when).replace(minute=0 if self.rng.random() < 0.6 else 30,
                                              second=0, microsecond=0)
        people = [
            Attendee(
                address=a.address,
                name=a.name,
                response_status=response,
                is_self=a.address in self.network.user_addresses,
                is_organizer=a.address == organizer.address,
                is_resource=a.address.startswith("room-"),
            )
            for a, response in attendees
        ]
        key = self._id("evt")
        self.network.events.append(
            EventRecord(
                account=self.user.address,
                source="demo",
                calendar_id="primary",
                event_key=key,
                ical_uid=f"{key}@demo.keepwarm",
                recurring_event_id=recurring,
                status=status,
                start_at=start,
                end_at=start + timedelta(minutes=minutes),
                organizer=organizer.address,
                attendees=people,
                has_conference=not in_person,
                has_location=in_person,
                event_type=event_type,
            )
        )

    def _gamma_gap(self, p: Person) -> timedelta:
        days = self.rng.gammavariate(p.gap_shape, p.mean_gap_days / p.gap_shape)
        return timedelta(days=max(0.5, days))

    def relationship(self, p: Person) -> None:
        """Every contact episode with one person, up to the end or the planted stop."""
        times = self.contact_times[p.address]
        if p.segment == "referred" and times:
            # A referred person opens with a note of their own, answering the introduction.
            self.email_thread(p, times[0], user_first=False)
            times = times[1:]
        for t in times:
            self._episode(p, t)

    def _episode(self, p: Person, t: datetime) -> None:
        if self.rng.random() < p.meeting_share:
            in_person = self.rng.random() < 0.4
            organizer = self.user if self.rng.random() < p.user_initiates else Address(
                p.address, p.name)
            self.meeting(organizer, [(self.user, "accepted"), (Address(p.address, p.name),
                                                               "accepted")],
                         t, self.rng.choice((30, 45, 60, 60, 90)), in_person=in_person)
            if self.rng.random() < 0.5:  # a follow-up note after the meeting
                self.email_thread(p, t + timedelta(hours=self.rng.uniform(2, 30)),
                                  user_first=True, max_len=2)
        else:
            self.email_thread(p, t, user_first=self.rng.random() < p.user_initiates)
        # Noise that must not count as contact: a declined or cancelled invitation.
        roll = self.rng.random()
        if roll < 0.04:
            self.meeting(Address(p.address, p.name),
                         [(self.user, "declined"), (Address(p.address, p.name), "accepted")],
                         t + timedelta(days=self.rng.uniform(1, 10)), 30, in_person=False)
        elif roll < 0.07:
            self.meeting(self.user, [(self.user, "accepted"), (Address(p.address, p.name),
                                                               "accepted")],
                         t + timedelta(days=self.rng.uniform(1, 10)), 30, in_person=False,
                         status="cancelled")

    def colleagues(self) -> None:
        """A team at the user's company: weekly meetings, group threads, a monthly all-hands."""
        team = [p for p in self.people if p.segment in ("close", "regular")][:6]
        if not team:
            return
        team_addrs = [Address(p.address, p.name) for p in team]
        room = Address("room-3a@northwind.example", "Room 3A")
        series = self._id("series")
        day = self.start + timedelta(days=(7 - self.start.weekday()) % 7 + 1)  # a Tuesday
        while day < self.end:
            present = [a for a, p in zip(team_addrs, team, strict=True)
                       if p.stopped_at is None or day < p.stopped_at]
            if present:
                self.meeting(self.user,
                             [(self.user, "accepted"), (room, "accepted"),
                              *[(a, "accepted") for a in present]],
                             day, 45, in_person=True, recurring=series)
            day += 7 * DAY
        month = self.start
        everyone = [Address(p.address, p.name) for p in self.people][:40]
        while month < self.end:
            self.meeting(Address("ceo@northwind.example", "Jordan Lee"),
                         [(self.user, "accepted"), *[(a, "accepted") for a in everyone]],
                         month + 3 * DAY, 60, in_person=False)
            month += 30 * DAY

    def group_threads(self) -> None:
        """Threads with several contacts at once, diluting each one's share of attention."""
        core = [p for p in self.people if p.segment in ("regular", "acquaintance")]
        t = self.start
        while t < self.end and len(core) >= 3:
            t += timedelta(days=self.rng.uniform(5, 15))
            group = self.rng.sample(core, self.rng.randint(3, 6))
            group = [g for g in group if g.stopped_at is None or t < g.stopped_at]
            if len(group) >= 2 and t < self.end:
                lead, *rest = group
                self.email_thread(lead, t, user_first=self.rng.random() < 0.5, cc=rest,
                                  max_len=3)

    def introductions(self) -> None:
        """The user writes to A and B together; A answers B (the user now in Bcc), and
        often B writes to A later with the user in copy."""
        pool = [p for p in self.people if p.segment == "outer" and p.stopped_at is None]
        for _ in range(max(1, round(INTRODUCTIONS * self.scale))):
            if len(pool) < 2:
                return
            a, b = self.rng.sample(pool, 2)
            if a.company == b.company:
                continue
            t = self._work_time(self.start + (self.end - self.start) * self.rng.uniform(0.2, 0.9))
            intro = self._message(self.user, [Address(a.address, a.name),
                                              Address(b.address, b.name)], t)
            self.network.introductions.append(Introduction("you", a.address, b.address, t))
            self._message(Address(a.address, a.name), [Address(b.address, b.name)],
                          t + self._reply_delay(), thread=[intro])
            if self.rng.random() < 0.6:
                later = t + timedelta(days=self.rng.uniform(7, 40))
                if later < self.end:
                    self._message(Address(b.address, b.name), [Address(a.address, a.name)],
                                  self._work_time(later), cc=[self.user])

    def referrals(self) -> None:
        """Someone the user knows brings a new person into a thread; a tie grows from it."""
        introducers = [p for p in self.people
                       if p.segment in ("close", "regular") and p.stopped_at is None]
        for p in self.people:
            if p.segment != "referred" or not introducers:
                continue
            c = self.rng.choice(introducers)
            at = p.started_at - timedelta(days=self.rng.uniform(1, 4))
            self._message(Address(c.address, c.name),
                          [self.user, Address(p.address, p.name)], self._work_time(at))
            self.network.introductions.append(Introduction(c.address, self.user.address,
                                                           p.address, at))

    def bulk(self) -> None:
        for address, name, kind, every_days in BULK_SENDERS:
            sender = Address(address, name)
            t = self.start + timedelta(days=self.rng.uniform(0, every_days))
            while t < self.end:
                headers = (
                    {"list_id": f"<{address.split('@')[1]}>", "has_list_unsubscribe": True,
                     "precedence": "bulk"}
                    if kind == "list" else {"auto_submitted": "auto-generated"}
                )
                category = "CATEGORY_PROMOTIONS" if kind == "list" else "CATEGORY_UPDATES"
                self._message(sender, [self.user], self._work_time(t),
                              labels=["INBOX", category], **headers)
                t += timedelta(days=every_days * self.rng.uniform(0.7, 1.3))

    def outreach(self) -> list[Person]:
        """Strangers who write once to three times and never get an answer."""
        strangers = []
        for _ in range(max(1, round(OUTREACH_PEOPLE * self.scale))):
            when = self.start + (self.end - self.start) * self.rng.random()
            p = self._person("outreach", (20.0, 20.0), 0.0, when)
            strangers.append(p)
            t = when
            thread: list[MessageRecord] = []
            for _ in range(self.rng.randint(1, 3)):
                if t >= self.end:
                    break
                thread.append(self._message(Address(p.address, p.name), [self.user],
                                            self._work_time(t), thread=thread))
                t += timedelta(days=self.rng.uniform(4, 14))
        return strangers

    def one_offs(self) -> list[Person]:
        """The long tail: one exchange with someone, and then nothing."""
        tail = []
        for _ in range(max(1, round(ONE_OFF_PEOPLE * self.scale))):
            when = self.start + (self.end - self.start) * self.rng.random()
            p = self._person("one_off", (365.0, 365.0), 0.0, when)
            tail.append(p)
            self.email_thread(p, when, user_first=self.rng.random() < 0.5, max_len=3)
        return tail

    def user_calendar(self) -> None:
        """Events that are not meetings: focus time and out-of-office."""
        day = self.start
        while day < self.end:
            if day.weekday() == 2:
                self.meeting(self.user, [(self.user, "accepted")], day, 120, in_person=False,
                             event_type="focusTime")
            day += DAY

    def upcoming(self) -> None:
        """The calendar ahead of the end date, and birthdays: what a real calendar sync
        also delivers (`future_days`), and what the digest's "Before your meetings" and
        "Coming up" read.

        Drawn from a generator of its own, after everything else: the past the model
        judges stays exactly what it was without these events.
        """
        rng = random.Random(f"{self.seed}:upcoming")
        active = [p for p in self.people if p.stopped_at is None
                  and p.segment in ("close", "regular", "acquaintance")]
        lapsed = [p for p in self.people if p.stopped_at is not None]
        for offset in range(UPCOMING_DAYS):
            day = self.end + offset * DAY
            if day.weekday() >= 5 or not active:
                continue
            # Most working days hold a one-to-one; now and then a small group meeting, or
            # a coffee with someone the user has lost touch with.
            for _ in range(rng.choice((0, 1, 1, 2))):
                who = [rng.choice(active)]
                roll = rng.random()
                if roll < 0.2 and len(active) >= 3:
                    who = rng.sample(active, 3)
                elif roll < 0.35 and lapsed:
                    who = [rng.choice(lapsed)]
                start = day + timedelta(hours=rng.choice((9, 10, 11, 14, 15, 16)))
                self._upcoming_event(start, start + timedelta(minutes=rng.choice((30, 45, 60))),
                                     [Address(p.address, p.name) for p in who],
                                     in_person=rng.random() < 0.4)
        # Google's birthday calendar: one all-day instance a year; the demo names whose
        # birthday it is by inviting them (a real one says so only in its title).
        first_year, last_year = self.start.year, (self.end + UPCOMING_DAYS * DAY).year
        for p in active:
            month, day_of_month = rng.randint(1, 12), rng.randint(1, 28)
            for year in range(first_year, last_year + 1):
                date_at = datetime(year, month, day_of_month, tzinfo=UTC)
                if self.start <= date_at < self.end + UPCOMING_DAYS * DAY:
                    self._upcoming_event(date_at, date_at + DAY, [Address(p.address, p.name)],
                                         event_type="birthday", all_day=True)

    def _upcoming_event(self, start: datetime, end: datetime, people: list[Address], *,
                        in_person: bool = False, event_type: str = "default",
                        all_day: bool = False) -> None:
        key = self._id("upcoming")
        invited = [] if event_type == "birthday" else [
            Attendee(address=self.user.address, name=self.user.name,
                     response_status="accepted", is_self=True, is_organizer=True)]
        invited += [Attendee(address=a.address, name=a.name,
                             response_status="needsAction" if event_type == "birthday"
                             else "accepted") for a in people]
        self.network.events.append(EventRecord(
            account=self.user.address, source="demo", calendar_id="primary", event_key=key,
            ical_uid=f"{key}@demo.keepwarm", status="confirmed", start_at=start, end_at=end,
            all_day=all_day, organizer=None if event_type == "birthday" else self.user.address,
            attendees=invited, has_conference=event_type == "default" and not in_person,
            has_location=in_person, event_type=event_type,
        ))

    def run(self) -> DemoNetwork:
        self.build_people()
        for p in self.people:
            self.relationship(p)
        self.colleagues()
        self.group_threads()
        self.introductions()
        self.referrals()
        self.bulk()
        self.user_calendar()
        extra = self.outreach() + self.one_offs()
        self.upcoming()
        self.network.messages.sort(key=lambda m: (m.sent_at, m.message_key))
        self.network.events.sort(key=lambda e: (e.start_at, e.event_key))
        self.network.window_start, self.network.window_end = self.start, self.end
        self.network.contact_times = self.contact_times
        self.network.truth = [self._truth(p) for p in self.people + extra] + [
            TruthRow(self.user.address, address, name, "bulk", float(days), None, None, False)
            for address, name, _, days in BULK_SENDERS
        ]
        return self.network

    def _truth(self, p: Person) -> TruthRow:
        return TruthRow(
            account=self.user.address,
            address=p.address,
            name=p.name,
            segment=p.segment,
            mean_gap_days=round(p.mean_gap_days, 2),
            started_at=p.started_at,
            stopped_at=p.stopped_at,
            planted_cold=p.stopped_at is not None,
        )


def simulate(seed: int = 7, end: date | None = None, months: int = 24,
             scale: float = 1.0, profile: str = "default") -> DemoNetwork:
    """Simulate a professional's mailbox and calendar.

    Args:
        seed: the random seed; the same seed and end date give the same network.
        end: the last day simulated (exclusive); today (UTC) when None.
        months: how far back the simulation starts.
        scale: multiplies the number of people in each segment (1.0 is about 250 people
            and 8-9 thousand messages over two years).
        profile: "default", "sparse" (fewer people, rarer contact, mostly mail) or
            "meetings" (a heavy meeting-taker).

    Returns:
        A DemoNetwork with messages, events, ground truth and the address merges the
        user would confirm.
    """
    if profile not in PROFILES:
        raise ValueError(f"unknown demo profile {profile!r}; choose one of {sorted(PROFILES)}")
    end = end or datetime.now(UTC).date()
    return _Simulation(seed, end, months, scale, PROFILES[profile]).run()
