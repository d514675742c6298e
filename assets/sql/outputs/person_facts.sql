-- Everything the digest and `keepwarm person` say about each of $people (person ids) as of
-- $as_of: who they are, the tie's strength and its parts, where it stands and why, its
-- rhythm and give-and-take, the last contact and how it happened, the last meeting in
-- person, who introduced them, their next birthday, and the tie's peak in the history.
-- Every figure is the marts' own; this only gathers them for a few people.
with

chosen as (
    select distinct unnest($people::varchar[]) as person_id
),

contact as (
    select
        i.person_id,
        arg_max(
            {'at': i.occurred_at, 'channel': i.channel, 'direction': i.direction,
             'n_participants': i.n_participants, 'is_one_on_one': i.is_one_on_one,
             'in_person': i.in_person, 'on_video': i.on_video, 'logged_how': logged.how},
            i.occurred_at
        ) as last_contact,
        max(i.occurred_at) filter (where i.channel = 'meeting' and i.in_person)
            as last_in_person_at
    from core.interactions i
    semi join chosen using (person_id)
    -- Contact logged with `keepwarm log` is a meeting of the account 'logged' in
    -- core.interactions; how it happened (a call, in person) is the action's.
    left join core.actions logged
        on i.account = 'logged' and i.interaction_key = 'log-' || logged.action_id
    where not i.is_noise and i.occurred_at <= $as_of::timestamptz
    group by i.person_id
),

referrals as (
    select person_b_id as person_id,
           arg_min({'id': introducer_id, 'name': introducer_name, 'at': introduced_at},
                   introduced_at) as introduced_by
    from marts.introductions
    where kind = 'received' and person_b_id in (select person_id from chosen)
    group by person_b_id
),

loops as (
    select person_id,
           list({'loop': loop, 'since': since, 'days_open': days_open, 'next_step': next_step}
                order by since) as open_loops
    from marts.open_loops
    semi join chosen using (person_id)
    group by person_id
),

-- The next birthday from marts.key_dates: the address book's or the birthday calendar's,
-- whichever comes first.
birthdays as (
    select person_id, min(next_occurrence) as next_birthday
    from marts.key_dates
    semi join chosen using (person_id)
    where kind = 'birthday'
    group by person_id
),

peaks as (
    select person_id, max(tie_strength) as peak_strength, min(dunbar_layer) as peak_layer
    from history_snapshots
    semi join chosen using (person_id)
    group by person_id
)

select
    c.person_id,
    coalesce(p.display_name, c.person_id) as display_name,
    coalesce(p.addresses, [c.person_id]) as addresses,
    m.is_tie,
    m.dunbar_layer,
    m.strength_rank,
    coalesce(m.labels, []) as labels,
    m.tie_strength,
    m.frequency_score,
    m.recency_score,
    m.reciprocity_score,
    m.face_time_score,
    m.tenure_score,
    m.first_contact_at,
    m.last_contact_at,
    m.last_meeting_at,
    m.messages_sent,
    m.messages_received,
    m.reciprocity_balance,
    m.initiation_share,
    m.threads,
    m.their_reply_rate,
    m.your_reply_rate,
    m.their_median_reply_hours,
    m.your_median_reply_hours,
    m.unanswered_outbound_streak,
    m.unanswered_inbound_streak,
    m.meetings,
    m.meetings_one_on_one,
    m.meetings_in_person,
    m.meetings_video,
    m.meeting_hours,
    s.status,
    s.reason,
    s.next_step,
    -- Whole days as the reason words them (SQL's round, half away from zero), so the
    -- card's rhythm never says 54 where its reason says 55; and the model's own
    -- thresholds beside the usual gap, not a percentile of another quantity.
    round(s.days_silent)::int as days_silent,
    round(s.usual_gap_days)::int as usual_gap_days,
    round(s.cooling_after_days)::int as cooling_after_days,
    round(s.cold_after_days)::int as cold_after_days,
    s.touchpoints,
    round(s.cadence_days)::int as cadence_days,  -- as the reason states it
    s.attention_rank,
    contact.last_contact,
    contact.last_in_person_at,
    referrals.introduced_by,
    coalesce(loops.open_loops, []) as open_loops,
    birthdays.next_birthday,
    peaks.peak_strength,
    peaks.peak_layer
from chosen c
left join core.people p using (person_id)
left join marts.contact_metrics m using (person_id)
left join marts.relationship_status s using (person_id)
left join contact using (person_id)
left join referrals using (person_id)
left join loops using (person_id)
left join birthdays using (person_id)
left join peaks using (person_id)
order by c.person_id;
