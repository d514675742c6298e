-- Digest, "Before your meetings": meetings that count as personal time (not declined,
-- cancelled, all-day or over noise.max_meeting_attendees) from the start of the as-of
-- day (UTC) to the end of the $days-th day after it, each with who else is invited.
with

today as (
    select timezone('UTC', date_trunc('day', timezone('UTC', $as_of::timestamptz))) as starts
),

meetings as (
    select
        account,
        interaction_key,
        min(occurred_at) as starts_at,
        max(duration_minutes) as minutes,
        bool_or(in_person) as in_person,
        bool_or(on_video) as on_video,
        list(distinct person_id order by person_id) as attendee_ids
    from core.interactions, today
    -- Contact logged with `keepwarm log` enters core.interactions as a meeting of the
    -- account 'logged': it happened, it is not on a calendar ahead.
    where channel = 'meeting' and account <> 'logged' and not is_noise
      and occurred_at >= today.starts
      and occurred_at < today.starts + to_days($days + 1)
    group by account, interaction_key
)

select
    m.*,
    (select any_value(e.summary) from raw.events e
     where e.account = m.account and e.event_key = m.interaction_key) as title,
    count(*) over () as total
from meetings m
order by starts_at, interaction_key
limit $limit;
