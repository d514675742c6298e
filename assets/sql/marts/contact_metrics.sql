-- Per-person recency, frequency, reciprocity and meeting figures as of $as_of, for
-- everyone with at least one interaction that counts (noise excluded).
create or replace table marts.contact_metrics as
with

people as (
    select person_id, display_name, addresses, is_automated from core.people
),

interactions as (
    select *
    from core.interactions
    where not is_noise and direction <> 'copied' and occurred_at <= $as_of
),

per_person as (
    select
        person_id,
        min(occurred_at) as first_contact_at,
        max(occurred_at) as last_contact_at,
        max(occurred_at) filter (where direction = 'inbound') as last_inbound_at,
        max(occurred_at) filter (where direction = 'outbound') as last_outbound_at,
        max(occurred_at) filter (where channel = 'meeting') as last_meeting_at,
        count(*) filter (where occurred_at > $as_of - interval 30 day) as interactions_30d,
        count(*) filter (where occurred_at > $as_of - interval 90 day) as interactions_90d,
        count(*) filter (where occurred_at > $as_of - interval 365 day) as interactions_365d,
        coalesce(sum(weight) filter (where occurred_at > $as_of - interval 365 day), 0)
            as weighted_365d,
        count(*) filter (where direction = 'outbound') as messages_sent,
        count(*) filter (where direction = 'inbound') as messages_received,
        count(*) filter (where channel = 'meeting') as meetings,
        count(*) filter (where channel = 'meeting' and is_one_on_one) as meetings_one_on_one,
        count(*) filter (where channel = 'meeting' and in_person) as meetings_in_person,
        coalesce(sum(duration_minutes) filter (where channel = 'meeting'), 0) / 60.0
            as meeting_hours
    from interactions
    group by person_id
)

select
    people.person_id,
    people.display_name,
    people.addresses,
    per_person.first_contact_at,
    per_person.last_contact_at,
    per_person.last_inbound_at,
    per_person.last_outbound_at,
    per_person.last_meeting_at,
    per_person.interactions_30d,
    per_person.interactions_90d,
    per_person.interactions_365d,
    round(per_person.weighted_365d, 3) as weighted_365d,
    per_person.messages_sent,
    per_person.messages_received,
    case
        when per_person.messages_sent + per_person.messages_received > 0
            then round(
                (per_person.messages_sent - per_person.messages_received)
                / (per_person.messages_sent + per_person.messages_received), 4)
    end as reciprocity_balance,
    per_person.meetings,
    per_person.meetings_one_on_one,
    per_person.meetings_in_person,
    round(per_person.meeting_hours, 2) as meeting_hours,
    (per_person.messages_sent > 0 and per_person.messages_received > 0)
        or per_person.meetings > 0 as is_tie
from per_person
join people using (person_id)
where not people.is_automated
order by per_person.last_contact_at desc, people.person_id;

comment on table marts.contact_metrics is 'One row per person with contact that counts (bulk mail, declined, cancelled and oversized meetings excluded), as of the run''s as-of time.';
comment on column marts.contact_metrics.person_id is 'core.people.person_id.';
comment on column marts.contact_metrics.display_name is 'Their name.';
comment on column marts.contact_metrics.addresses is 'All their normalised addresses.';
comment on column marts.contact_metrics.first_contact_at is 'First message or meeting with them.';
comment on column marts.contact_metrics.last_contact_at is 'Latest message either way or meeting.';
comment on column marts.contact_metrics.last_inbound_at is 'Latest message they sent the user.';
comment on column marts.contact_metrics.last_outbound_at is 'Latest message the user sent them.';
comment on column marts.contact_metrics.last_meeting_at is 'Latest meeting with them.';
comment on column marts.contact_metrics.interactions_30d is 'Messages either way plus meetings in the 30 days before as-of.';
comment on column marts.contact_metrics.interactions_90d is 'The same over 90 days.';
comment on column marts.contact_metrics.interactions_365d is 'The same over 365 days.';
comment on column marts.contact_metrics.weighted_365d is 'Interactions over 365 days, each weighted by 1 / audience size.';
comment on column marts.contact_metrics.messages_sent is 'Messages the user sent them (all time).';
comment on column marts.contact_metrics.messages_received is 'Messages they sent the user (all time).';
comment on column marts.contact_metrics.reciprocity_balance is '(sent - received) / (sent + received), from -1 (they always write) to 1 (the user always writes).';
comment on column marts.contact_metrics.meetings is 'Meetings with them that counted.';
comment on column marts.contact_metrics.meetings_one_on_one is 'Of which just the two of you.';
comment on column marts.contact_metrics.meetings_in_person is 'Of which in person (a location and no video link).';
comment on column marts.contact_metrics.meeting_hours is 'Hours spent in those meetings.';
comment on column marts.contact_metrics.is_tie is 'Two-way contact: at least one message each way, or a meeting. One-way senders are not ties.';
