-- Per-person recency, frequency, reciprocity, meeting and tie-strength figures, for every
-- person with at least one interaction that counts (noise excluded). The sums and counts
-- come from marts.contact_summaries; what follows from them and the as-of time alone is
-- worked out here. docs/metrics.md gives each formula and why it was chosen.
create or replace table marts.contact_metrics as
with

-- The as-of time the summaries were built for, not this run's own: refreshing this table
-- alone must not mix last night's window counts with today's silences.
summarised as (
    select as_of from marts.contact_summary_builds order by built_at desc limit 1
),

people as (
    select person_id, display_name, addresses from core.people where kind = 'person'
),

-- Address-book labels: the groups of each contact as it stands (core.contact_people, which
-- says whose contact it is), by name. Only the user's own labels: Google's system groups
-- (myContacts, starred, ...), and those two names as a .vcf's CATEGORIES (Takeout writes
-- them there), are not labels anyone chose.
labels as (
    select m.person_id, list_sort(list(distinct coalesce(g.name, m.group_key))) as labels
    from (select account, source, person_id, unnest(groups) as group_key
          from core.contact_people where person_id is not null) m
    left join raw.contact_groups g using (account, source, group_key)
    where g.group_type = 'USER_CONTACT_GROUP'
       or (g.group_key is null and not starts_with(m.group_key, 'contactGroups/')
           and lower(m.group_key) not in ('mycontacts', 'starred'))
    group by m.person_id
),

measured as (
    select
        s.*,
        case
            when messages_sent + messages_received > 0
                then (messages_sent - messages_received) / (messages_sent + messages_received)
        end as reciprocity_balance,
        date_diff('second', first_contact_at, summarised.as_of) / 86400.0 as tenure_days,
        date_diff('second', last_contact_at, summarised.as_of) / 86400.0 as days_since_contact,
        (messages_sent > 0 and messages_received > 0) or meetings > 0 as is_tie
    from marts.contact_summaries s, summarised
    where person_id in (select person_id from people)
),

-- Tie strength: five components in [0, 1], each a column, combined with fixed weights.
-- Saturating curves, so that no single heavy channel can carry a tie alone.
strength as (
    select
        *,
        1 - exp(-weighted_365d / $strength_frequency_scale) as frequency_score,
        pow(0.5, days_since_contact / $strength_recency_half_life_days) as recency_score,
        -- Meetings are two-way by nature; mail is judged by its balance.
        coalesce(1 - abs(reciprocity_balance), 1) as reciprocity_score,
        1 - exp(-meeting_hours_365d / $strength_face_time_scale_hours) as face_time_score,
        least(tenure_days / $strength_tenure_full_days, 1) as tenure_score
    from measured
),

scored as (
    select
        *,
        100 * (
            $strength_frequency_weight * frequency_score
            + $strength_recency_weight * recency_score
            + $strength_reciprocity_weight * reciprocity_score
            + $strength_face_time_weight * face_time_score
            + $strength_tenure_weight * tenure_score
        ) as tie_strength,
        is_tie and days_since_contact <= $dormant_after_days as is_active_tie
    from strength
),

-- Cumulative Dunbar layers: the strongest 5 active ties, then the next to 15, 50, 150, 500.
layered as (
    select
        scored.*,
        case
            when not is_active_tie then null
            when strength_rank <= 5 then 5
            when strength_rank <= 15 then 15
            when strength_rank <= 50 then 50
            when strength_rank <= 150 then 150
            when strength_rank <= 500 then 500
            else 1500
        end as dunbar_layer
    from (
        select
            *,
            case when is_active_tie then row_number() over (
                partition by is_active_tie order by tie_strength desc, person_id
            ) end as strength_rank
        from scored
    ) scored
)

select
    people.person_id,
    people.display_name,
    people.addresses,
    m.first_contact_at,
    m.last_contact_at,
    m.last_two_way_at,
    m.last_inbound_at,
    m.last_outbound_at,
    m.last_meeting_at,
    m.interactions_30d,
    m.interactions_90d,
    m.interactions_365d,
    round(m.weighted_30d, 3) as weighted_30d,
    round(m.weighted_90d, 3) as weighted_90d,
    round(m.weighted_365d, 3) as weighted_365d,
    m.messages_sent,
    m.messages_received,
    round(m.reciprocity_balance, 4) as reciprocity_balance,
    round(m.initiation_share, 4) as initiation_share,
    m.threads,
    round(m.their_reply_rate, 4) as their_reply_rate,
    round(m.your_reply_rate, 4) as your_reply_rate,
    round(m.their_median_reply_hours, 2) as their_median_reply_hours,
    round(m.your_median_reply_hours, 2) as your_median_reply_hours,
    m.unanswered_outbound_streak,
    m.unanswered_inbound_streak,
    m.meetings,
    m.meetings_one_on_one,
    m.meetings_group,
    m.meetings_in_person,
    m.meetings_video,
    round(m.meeting_hours, 2) as meeting_hours,
    round(m.meeting_hours_365d, 2) as meeting_hours_365d,
    round(m.tenure_days, 1) as tenure_days,
    round(m.frequency_score, 4) as frequency_score,
    round(m.recency_score, 4) as recency_score,
    round(m.reciprocity_score, 4) as reciprocity_score,
    round(m.face_time_score, 4) as face_time_score,
    round(m.tenure_score, 4) as tenure_score,
    round(m.tie_strength, 1) as tie_strength,
    m.is_tie,
    m.is_active_tie,
    m.strength_rank,
    m.dunbar_layer,
    coalesce(labels.labels, []::varchar[]) as labels
from layered m
join people using (person_id)
left join labels using (person_id)
order by m.last_contact_at desc, people.person_id;

comment on table marts.contact_metrics is 'One row per person (not lists, role or machine addresses) with contact that counts (bulk mail, declined, cancelled and oversized meetings excluded), as of the as-of time marts.contact_summaries was built for, with tie strength and its components.';
comment on column marts.contact_metrics.person_id is 'core.people.person_id.';
comment on column marts.contact_metrics.display_name is 'Their name.';
comment on column marts.contact_metrics.addresses is 'All their normalised addresses.';
comment on column marts.contact_metrics.first_contact_at is 'First message or meeting with them.';
comment on column marts.contact_metrics.last_contact_at is 'Latest message either way or meeting.';
comment on column marts.contact_metrics.last_two_way_at is 'Latest completed exchange: a reply either way, or a meeting.';
comment on column marts.contact_metrics.last_inbound_at is 'Latest message they sent the user.';
comment on column marts.contact_metrics.last_outbound_at is 'Latest message the user sent them.';
comment on column marts.contact_metrics.last_meeting_at is 'Latest meeting with them.';
comment on column marts.contact_metrics.interactions_30d is 'Messages either way plus meetings in the 30 days before as-of.';
comment on column marts.contact_metrics.interactions_90d is 'The same over 90 days.';
comment on column marts.contact_metrics.interactions_365d is 'The same over 365 days.';
comment on column marts.contact_metrics.weighted_30d is 'Interactions over 30 days, each weighted by 1 / audience size.';
comment on column marts.contact_metrics.weighted_90d is 'The same over 90 days.';
comment on column marts.contact_metrics.weighted_365d is 'Interactions over 365 days, each weighted by 1 / audience size.';
comment on column marts.contact_metrics.messages_sent is 'Messages the user sent them (all time).';
comment on column marts.contact_metrics.messages_received is 'Messages they sent the user (all time).';
comment on column marts.contact_metrics.reciprocity_balance is '(sent - received) / (sent + received), from -1 (they always write) to 1 (the user always writes).';
comment on column marts.contact_metrics.initiation_share is 'Share of email threads with them that the user opened (the first message in the thread to or from them was the user''s).';
comment on column marts.contact_metrics.threads is 'Email threads with them.';
comment on column marts.contact_metrics.their_reply_rate is 'Share of the user''s messages to them that they answered (a reply naming the message).';
comment on column marts.contact_metrics.your_reply_rate is 'Share of their messages to the user that the user answered.';
comment on column marts.contact_metrics.their_median_reply_hours is 'Median hours they took to answer the user.';
comment on column marts.contact_metrics.your_median_reply_hours is 'Median hours the user took to answer them.';
comment on column marts.contact_metrics.unanswered_outbound_streak is 'Messages the user sent them since they last wrote or met; 3 or more is being ignored.';
comment on column marts.contact_metrics.unanswered_inbound_streak is 'Messages they sent since the user last wrote or met: the user owes a reply.';
comment on column marts.contact_metrics.meetings is 'Meetings with them that counted.';
comment on column marts.contact_metrics.meetings_one_on_one is 'Of which just the two of you.';
comment on column marts.contact_metrics.meetings_group is 'Of which with more people.';
comment on column marts.contact_metrics.meetings_in_person is 'Of which in person (a location and no video link).';
comment on column marts.contact_metrics.meetings_video is 'Of which with a video link.';
comment on column marts.contact_metrics.meeting_hours is 'Hours spent in those meetings.';
comment on column marts.contact_metrics.meeting_hours_365d is 'Hours in meetings with them over the last 365 days.';
comment on column marts.contact_metrics.tenure_days is 'Days since first contact.';
comment on column marts.contact_metrics.frequency_score is 'Tie-strength component: 1 - exp(-weighted_365d / strength.frequency_scale).';
comment on column marts.contact_metrics.recency_score is 'Tie-strength component: 0.5 ^ (days since last contact / strength.recency_half_life_days).';
comment on column marts.contact_metrics.reciprocity_score is 'Tie-strength component: 1 - |reciprocity_balance| (1 for meetings-only ties).';
comment on column marts.contact_metrics.face_time_score is 'Tie-strength component: 1 - exp(-meeting_hours_365d / strength.face_time_scale_hours).';
comment on column marts.contact_metrics.tenure_score is 'Tie-strength component: tenure_days / strength.tenure_full_days, at most 1.';
comment on column marts.contact_metrics.tie_strength is '0-100: 100 x the weighted sum of the five component scores (weights in config strength.*; docs/metrics.md).';
comment on column marts.contact_metrics.is_tie is 'Two-way contact: at least one message each way, or a meeting. One-way senders are not ties.';
comment on column marts.contact_metrics.is_active_tie is 'A tie with contact within status.dormant_after_days: counts against the ~150 limit.';
comment on column marts.contact_metrics.strength_rank is 'Rank of tie_strength among active ties (1 = strongest).';
comment on column marts.contact_metrics.dunbar_layer is 'Cumulative Dunbar layer of an active tie by strength rank: 5, 15, 50, 150, 500, else 1500; null when not active.';
comment on column marts.contact_metrics.labels is 'Their address-book labels (the user''s own contact groups, by name, sorted; empty without any): status.cadence_by_label gives each a cadence.';
