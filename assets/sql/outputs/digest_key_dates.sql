-- Digest, "Coming up": key dates in the $days days from the as-of day (UTC) on.
--   marts.key_dates   birthdays and other dates (anniversaries, ...) from the address book,
--                     birthdays from Google's birthday calendar, and first-contact
--                     anniversaries of inner-layer ties (kind first_contact). A first
--                     contact in the first 30 days of the history is where the history
--                     begins, not the tie: skipped.
--   unlinked          a calendar birthday event no person could be found for: listed by
--                     its contact's name (a contact with no address), else its title
--                     when store_subjects keeps titles.
-- One entry per day, kind and person, whichever sources agree on it.
with

today as (
    select timezone('UTC', $as_of::timestamptz)::date as as_of_day
),

history as (
    select min(first_contact_at) as started_at from marts.contact_metrics
),

known as (
    select k.next_occurrence as day, k.kind, k.person_id, p.display_name as name,
           case when k.year is not null
                then (year(k.next_occurrence) - k.year)::integer end as years
    from marts.key_dates k
    join core.people p using (person_id)
    left join marts.contact_metrics m using (person_id), today, history
    where k.next_occurrence between today.as_of_day and today.as_of_day + ($days - 1)
      and (k.kind <> 'first_contact'
           or (m.first_contact_at > history.started_at + interval 30 day
               and k.next_occurrence > timezone('UTC', m.first_contact_at)::date))
),

-- Google's birthday events name the contact they were made from (birthday_contact), a
-- People resource name of the calendar account's own address book.
contact_names as (
    select account, contact_key, display_name, person_id
    from core.contact_people
    where source = 'gcontacts'
),

-- Events marts.key_dates links to a person: by their contact, or an invitee's address.
linked_birthday_events as (
    select distinct b.event_key
    from (select event_key, unnest(attendees) as a from raw.events
          where event_type = 'birthday') b
    join core.identities i
        on i.address = normalize_address(b.a.address, keep := $split_addresses)
    where not b.a.is_self and not i.is_self
    union
    select distinct e.event_key
    from raw.events e
    join contact_names c on c.account = e.account and c.contact_key = e.birthday_contact
    where e.event_type = 'birthday' and c.person_id is not null
),

unlinked as (
    select distinct timezone('UTC', e.start_at)::date as day, 'birthday' as kind,
           null::varchar as person_id, coalesce(c.display_name, e.summary) as name,
           null::integer as years
    from raw.events e
    left join contact_names c
        on c.account = e.account and c.contact_key = e.birthday_contact, today
    where e.event_type = 'birthday' and e.status <> 'cancelled'
      and timezone('UTC', e.start_at)::date
          between today.as_of_day and today.as_of_day + ($days - 1)
      and e.event_key not in (select event_key from linked_birthday_events)
      and not exists (
          select 1 from core.people p
          where p.kind = 'person' and p.display_name is not null and e.summary is not null
            and starts_with(lower(e.summary), lower(p.display_name)))
),

dates as (
    select day, kind, person_id, any_value(name) as name, max(years) as years
    from known
    group by day, kind, person_id
    union all
    select * from unlinked
)

select day, kind, person_id, name, years, count(*) over () as total
from dates
order by day, kind, name, person_id
limit $limit;
