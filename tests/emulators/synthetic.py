"""A synthetic, threaded Gmail mailbox of any size, for benchmarks and large tests.

Shape (defaults, chosen to look like a busy professional inbox rather than a list
archive): about half of all threads are single messages (newsletters, notifications,
one-off notes), the rest are conversations of 2 to 80 messages (2 + an exponential with
mean 3); 3,000 correspondents, some with RFC 2047 encoded display names; 1.5% of threads
in Trash and 0.5% in Spam. Ids grow with internalDate and a thread is named after its
first message, as in Gmail.
"""

from __future__ import annotations

import random
from base64 import b64encode
from datetime import UTC, datetime, timedelta

from tests.emulators.gmail import GmailMailbox, StoredMessage

_FIRST = ["Ana", "Li", "Sam", "Noor", "Kofi", "Mia", "Raj", "Eva", "Tom", "Yuki", "Omar", "Ida"]
_LAST = ["Silva", "Chen", "Okafor", "Novak", "Haddad", "Berg", "Kim", "Rossi", "Patel", "Lund"]
_ACCENTED = ["Zoë", "Åsa", "José", "Łukasz", "Ségolène", "Jürgen", "Δημήτρης", "Миша"]
_DOMAINS = ["example.com", "example.org", "acme.test", "initech.test", "globex.test"]
_BRANDS = ["news", "updates", "digest", "billing", "alerts"]


def _encoded(name: str) -> str:
    return f"=?utf-8?b?{b64encode(name.encode()).decode()}?="


def synthetic_mailbox(
    n_messages: int,
    *,
    address: str = "owner@example.com",
    seed: int = 0,
    singleton_share: float = 0.5,
    mean_extra: float = 3.0,
    n_contacts: int = 3000,
    start: datetime = datetime(2023, 1, 1, tzinfo=UTC),
    span_days: int = 3 * 365,
) -> GmailMailbox:
    """A mailbox of exactly `n_messages` messages in realistic threads."""
    rng = random.Random(seed)
    contacts = []
    for i in range(n_contacts):
        first = rng.choice(_ACCENTED) if rng.random() < 0.05 else rng.choice(_FIRST)
        last = rng.choice(_LAST)
        name = f"{first} {last}"
        addr = f"{first.lower()[:3]}.{last.lower()}{i}@{rng.choice(_DOMAINS)}".encode(
            "ascii", "ignore"
        ).decode()
        shown = _encoded(name) if not name.isascii() else f'"{name}"'
        contacts.append(f"{shown} <{addr}>")
    me = f"Owner <{address}>"

    drafts: list[
        tuple[int, int, list[str], list[tuple[str, str]]]
    ] = []  # (ms, thread, labels, headers)
    thread_no = 0
    while len(drafts) < n_messages:
        remaining = n_messages - len(drafts)
        if rng.random() < singleton_share:
            size = 1
        else:
            size = min(2 + int(rng.expovariate(1 / mean_extra)), 80)
        size = min(size, remaining)
        t = start + timedelta(seconds=rng.uniform(0, span_days * 86400))
        folder = rng.random()
        extra = ["TRASH"] if folder < 0.015 else (["SPAM"] if folder < 0.02 else [])
        if size == 1 and rng.random() < 0.6:
            brand = rng.choice(_BRANDS)
            domain = rng.choice(_DOMAINS)
            headers = [
                ("From", f"{brand.title()} <{brand}@{domain}>"),
                ("To", me),
                ("Date", t.strftime("%a, %d %b %Y %H:%M:%S +0000")),
                ("Message-ID", f"<n{thread_no}.{rng.getrandbits(32):x}@{domain}>"),
                ("List-Id", f"{brand.title()} <{brand}.{domain}>"),
                ("List-Unsubscribe", f"<mailto:unsubscribe@{domain}>"),
                ("Precedence", "bulk"),
                ("Subject", f"{brand} #{thread_no}"),
            ]
            labels = ["CATEGORY_UPDATES"] + (extra or ["INBOX"])
            drafts.append((int(t.timestamp() * 1000), thread_no, labels, headers))
            thread_no += 1
            continue
        people = rng.sample(contacts, rng.choice((1, 1, 1, 2, 2, 3)))
        references: list[str] = []
        for k in range(size):
            sender = me if rng.random() < 0.4 else rng.choice(people)
            others = [p for p in [me, *people] if p != sender]
            msgid = f"<c{thread_no}.{k}.{rng.getrandbits(40):x}@mail.example.net>"
            headers = [
                ("From", sender),
                ("To", ", ".join(others[:1])),
                ("Date", t.strftime("%a, %d %b %Y %H:%M:%S +0000")),
                ("Message-ID", msgid),
                ("Subject", f"{'Re: ' if k else ''}topic {thread_no}"),
            ]
            if len(others) > 1:
                headers.append(("Cc", ", ".join(others[1:])))
            if references:
                headers.append(("In-Reply-To", references[-1]))
                headers.append(("References", " ".join(references[-10:])))
            references.append(msgid)
            if sender == me:
                labels = ["SENT"]
            else:
                labels = ["INBOX"]
                if rng.random() < 0.3:
                    labels.append("IMPORTANT")
                if rng.random() < 0.1:
                    labels.append("UNREAD")
            if extra:
                labels = [x for x in labels if x != "INBOX"] + extra
            drafts.append((int(t.timestamp() * 1000), thread_no, labels, headers))
            t += timedelta(hours=rng.expovariate(1 / 20))
        thread_no += 1

    drafts.sort(key=lambda d: d[0])
    box = GmailMailbox(address)
    thread_ids: dict[int, str] = {}
    messages = []
    next_id = 0x1840_0000_0000_0000
    for history, (ms, thread, labels, headers) in enumerate(drafts, start=box.history_id + 1):
        next_id += rng.randint(1, 4096)
        mid = format(next_id, "x")
        thread_ids.setdefault(thread, mid)
        messages.append(
            StoredMessage(
                id=mid,
                thread_id=thread_ids[thread],
                labels=labels,
                internal_date=ms,
                history_id=history,
                headers=headers,
                size_estimate=2000 + rng.randint(0, 50_000),
            )
        )
    box.load_messages(messages)
    return box
