-- Digest, "Coming up": key dates in the $days days from the as-of day (UTC) on.
--   birthday     a calendar birthday event (Google's birthday calendar): whose, from a
--                person invited to it, else its title when store_subjects keeps titles.
--   anniversary  a whole number of years since the first contact with an inner-layer
--                tie (Dunbar layer 15 or closer). A first contact in the first 30 days of
--                the history is where the history begins, not the tie: skipped.
with

today as (
    select timezone('UTC', $as_of::timestamptz)::date as as_of_day
),

birthday_events as (
    select e.account, e.event_key, timezone('UTC', e.start_at)::date as day, e.summary,
           e.attendees
    from raw.events e, today
    where e.event_type = 'birthday' and e.status <> 'cancelled'
      and timezone('UTC', e.start_at)::date between today.as_of_day and today.as_of_day + ($days - 1)
),

invited as (
    select account, event_key, unnest(attendees) as a from birthday_events
),

birthday_people as (
    select v.account, v.event_key, i.person_id
    from invited v
    join core.identities i
        on i.address = normalize_address(v.a.address, keep := $split_addresses)
    where not v.a.is_self and not i.is_self
),

birthdays as (
    select distinct
        b.day,
        'birthday' as kind,
        p.person_id,
        coalesce(people.display_name, b.summary) as name,
        null::integer as years
    from birthday_events b
    left join birthday_people p using (account, event_key)
    left join core.people people using (person_id)
),

history as (
    select min(first_contact_at) as started_at from marts.contact_metrics
),

inner_ties as (
    select person_id, display_name, timezone('UTC', first_contact_at)::date as first_day
    from marts.contact_metrics, history
    where dunbar_layer <= 15 and first_contact_at > history.started_at + interval 30 day
),

anniversaries as (
    select day, 'anniversary' as kind, person_id, display_name as name,
           (year(day) - year(first_day))::integer as years
    from (
        select t.*, (t.first_day + to_years(year(today.as_of_day) - year(t.first_day) + k))::date
            as day
        from inner_ties t, today, (select unnest([0, 1]) as k)
    ), today
    where day between today.as_of_day and today.as_of_day + ($days - 1) and day > first_day
),

dates as (
    select * from birthdays
    union all
    select * from anniversaries
)

select day, kind, person_id, name, years, count(*) over () as total
from dates
order by day, kind, name, person_id
limit $limit;
