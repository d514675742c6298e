-- Key dates per person: birthdays and other dates from the address book (raw.contacts),
-- birthdays from Google Calendar's birthday events (raw.events.event_type = 'birthday',
-- whose through the contact Google made it from (birthday_contact), else an invited
-- address, else the person's name in the title when titles are kept), and first-contact anniversaries of inner-layer ties (Dunbar layer 15 or
-- closer). A 29 February falls on 28 February in a common year.
create or replace table marts.key_dates as
with

today as (
    select timezone('UTC', $as_of::timestamptz)::date as as_of_day
),

-- The address book's dates, for contacts that are someone (core.contact_people).
contact_dates as (
    select person_id, 'birthday' as kind, birthday as date, source
    from core.contact_people
    where person_id is not null and birthday is not null
    union all
    select person_id, ev.kind, ev.date, source
    from (select person_id, source, unnest(events) as ev
          from core.contact_people where person_id is not null)
),

calendar_birthdays as (
    select e.account, e.event_key, e.start_at, e.summary, e.attendees, e.birthday_contact
    from raw.events e
    where e.event_type = 'birthday' and e.status <> 'cancelled'
),

-- Whose: the contact Google made the event from (birthdayProperties.contact), else an
-- invited address, else a person whose name begins the title.
calendar_by_contact as (
    select distinct b.event_key, p.person_id, b.start_at
    from calendar_birthdays b
    join core.contact_people p
        on p.account = b.account and p.source = 'gcontacts'
       and p.contact_key = b.birthday_contact
    where p.person_id is not null
),

calendar_by_address as (
    select distinct b.event_key, i.person_id, b.start_at
    from (select event_key, start_at, unnest(attendees) as a from calendar_birthdays) b
    join core.identities i
        on i.address = normalize_address(b.a.address, keep := $split_addresses)
    where not b.a.is_self and not i.is_self
      and b.event_key not in (select event_key from calendar_by_contact)
),

unclaimed_birthdays as (
    select event_key, start_at, lower(summary) as title
    from calendar_birthdays
    where event_key not in (select event_key from calendar_by_address)
      and event_key not in (select event_key from calendar_by_contact)
),

-- "The title begins with the name" as an equality: every beginning of each distinct title
-- (0 characters to all of them) joined to the lowered names. Tried against every person
-- it was a nested loop, birthday events times people, most of the mart's time at 10M.
title_beginnings as (
    select title, substr(title, 1, n) as beginning
    from (select distinct title from unclaimed_birthdays where title is not null),
         unnest(range(0, length(title) + 1)) as chars(n)
),

calendar_by_name as (
    select distinct b.event_key, p.person_id, b.start_at
    from unclaimed_birthdays b
    join title_beginnings t on t.title = b.title
    join core.people p
        on lower(p.display_name) = t.beginning
       and starts_with(b.title, lower(p.display_name))
    where p.kind = 'person' and p.display_name is not null
),

-- Google gives a recurring birthday event's instances; one date per person is enough.
calendar_dates as (
    select person_id, 'birthday' as kind,
           strftime(min(timezone('UTC', start_at))::date, '--%m-%d') as date, 'gcal' as source
    from (select * from calendar_by_contact union all select * from calendar_by_address
          union all select * from calendar_by_name)
    group by person_id
),

anniversary_dates as (
    select person_id, 'first_contact' as kind,
           strftime(timezone('UTC', first_contact_at)::date, '%Y-%m-%d') as date,
           'history' as source
    from marts.contact_metrics
    where dunbar_layer <= 15 and first_contact_at is not null
),

dates as (
    select distinct person_id, kind, date, source
    from (
        select * from contact_dates
        union all select * from calendar_dates
        union all select * from anniversary_dates
    )
),

parsed as (
    select *,
           case when starts_with(date, '--') then null
                else try_cast(substr(date, 1, 4) as integer) end as year,
           try_cast(substr(date, -5, 2) as integer) as month,
           try_cast(substr(date, -2, 2) as integer) as day
    from dates
),

candidates as (
    select parsed.*, today.as_of_day,
           year(today.as_of_day) + k as y
    from parsed, today, (select unnest([0, 1]) as k)
    where month between 1 and 12 and day between 1 and 31
),

dated as (
    select *,
           try_cast(make_date(y, month,
               case when month = 2 and day = 29
                     and not (y % 4 = 0 and (y % 100 <> 0 or y % 400 = 0))
                    then 28 else day end) as date) as occurrence
    from candidates
)

select
    person_id,
    kind,
    date,
    year,
    month,
    day,
    min(occurrence) as next_occurrence,
    source
from dated
where occurrence >= as_of_day
group by person_id, kind, date, year, month, day, source
order by next_occurrence, person_id, kind;

comment on table marts.key_dates is 'Birthdays, anniversaries and other dates per person, with the next time each comes round. Key: (person_id, kind, date, source).';
comment on column marts.key_dates.person_id is 'The person (core.people).';
comment on column marts.key_dates.kind is 'birthday, anniversary (or another kind the address book gives), or first_contact (the first mail or meeting with an inner-layer tie).';
comment on column marts.key_dates.date is 'The date as the source gives it: YYYY-MM-DD, or --MM-DD without a year.';
comment on column marts.key_dates.year is 'Its year, when known.';
comment on column marts.key_dates.month is 'Its month (1-12).';
comment on column marts.key_dates.day is 'Its day of the month.';
comment on column marts.key_dates.next_occurrence is 'The next day it falls on, from the as-of day on (29 February on 28 February in a common year).';
comment on column marts.key_dates.source is 'Where it comes from: gcontacts, vcard, demo (address book), gcal (birthday calendar) or history (first contact).';
