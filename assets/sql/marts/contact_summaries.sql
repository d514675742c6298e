-- What each person's interactions add up to as of $as_of: the sums, counts, medians and
-- gaps that marts.contact_metrics and marts.relationship_status are computed from. This
-- is the one pass over core.interactions the metrics need; everything relative to the
-- as-of time that follows from these columns alone (days silent, tenure, tie strength,
-- layers, statuses) is left to those two marts, which are cheap over one row per person.
--
-- Built incrementally. A person's row depends only on their own rows in core.interactions
-- and on $as_of, so a build redoes the people whose rows changed since the last build
-- (core.interaction_changes, written by core.interactions) and the people with contact
-- whose place relative to the as-of time moved: between the last as-of and this one, or
-- the same band 30, 90 or 365 days back, where the windowed counts gain or lose it.
-- Everything is rebuilt on the first build, when this file or a setting it reads changed
-- ($sql_fingerprint), when the as-of time moved back, when core.interactions was rebuilt
-- whole, or when asked ($full_rebuild). docs/architecture.md has the design.

-- Why everything must be rebuilt; null when the changes alone will do.
create or replace temp table summary_rebuild as
with

last_build as (
    select as_of, fingerprint from marts.contact_summary_builds order by built_at desc limit 1
)

select
    case
        when $full_rebuild then 'a full rebuild was asked for'
        when not exists (select 1 from last_build) then 'first build'
        when (select fingerprint from last_build) <> $sql_fingerprint
            then 'the SQL or a setting it reads changed'
        when $as_of < (select as_of from last_build) then 'the as-of time moved back'
        -- A null person is core.interactions' mark for "every row was rebuilt".
        when exists (select 1 from core.interaction_changes where person_id is null)
            then 'core.interactions was rebuilt whole'
    end as reason,
    (select as_of from last_build) as last_as_of;

-- The people whose rows are (re)built this time: everyone, or those whose interactions
-- changed and those with contact in a band where a figure's window moved.
create or replace temp table summary_scope as
with

everything as (
    select reason is not null as yes from summary_rebuild
),

counted as (
    select person_id, occurred_at
    from core.interactions
    where not is_noise and direction <> 'copied'
),

-- Contact that entered the history (0) or left a window (30, 90, 365 days) since the last
-- as-of time.
moved as (
    select distinct c.person_id
    from counted c, summary_rebuild r
    where (c.occurred_at > r.last_as_of and c.occurred_at <= $as_of)
       or (c.occurred_at > r.last_as_of - interval 30 day
           and c.occurred_at <= $as_of - interval 30 day)
       or (c.occurred_at > r.last_as_of - interval 90 day
           and c.occurred_at <= $as_of - interval 90 day)
       or (c.occurred_at > r.last_as_of - interval 365 day
           and c.occurred_at <= $as_of - interval 365 day)
)

select distinct person_id from counted where (select yes from everything)
union all
(
    select person_id from core.interaction_changes
    where person_id is not null and not (select yes from everything)
    union
    select person_id from moved where not (select yes from everything)
);

delete from marts.contact_summaries
where (select reason is not null from summary_rebuild);

delete from marts.contact_summaries s
where (select reason is null from summary_rebuild)
  and s.person_id in (select person_id from summary_scope);

-- The rows of the people in scope that count, as of $as_of. A macro, not a table or a
-- query step: each statement below scans core.interactions for the columns it needs,
-- which costs a fraction of a second, where a step read by several parts of one query is
-- held whole (the 10M store did not fit under the memory cap that way).
create or replace temp macro summary_rows(as_of) as table
select *
from core.interactions
where not is_noise and direction <> 'copied' and occurred_at <= as_of
  and person_id in (select person_id from summary_scope);

-- The statements below each build one part of a person's row as a temporary table, one
-- row per person; the insert at the end joins them. Each is a plain aggregation, join
-- or window over rows that DuckDB can spill to disk, so a store of any size builds under
-- the memory cap (one query holding all of them at once did not).
create or replace temp table summary_counts as
select
    person_id,
    min(occurred_at) as first_contact_at,
    max(occurred_at) as last_contact_at,
    -- An exchange completes when someone answers the other, or when you meet.
    max(occurred_at) filter (where is_reply or channel = 'meeting') as last_two_way_at,
    max(occurred_at) filter (where direction = 'inbound') as last_inbound_at,
    max(occurred_at) filter (where direction = 'outbound') as last_outbound_at,
    max(occurred_at) filter (where channel = 'meeting') as last_meeting_at,
    -- Whether their latest message answered the user's or opened something new
    -- decides who holds the ball. Ties in time go by key (here and below), so that a
    -- person redone alone comes out as in a full build.
    arg_max(is_reply, (occurred_at, interaction_key)) filter (where direction = 'inbound')
        as last_inbound_was_reply,
    count(*) filter (where occurred_at > $as_of - interval 30 day) as interactions_30d,
    count(*) filter (where occurred_at > $as_of - interval 90 day) as interactions_90d,
    count(*) filter (where occurred_at > $as_of - interval 365 day) as interactions_365d,
    -- Sums of fractions in exact decimals: a double's sum depends on the order rows
    -- arrive in, and a person redone alone must come out as in a full build.
    coalesce(sum(weight::decimal(38, 18)) filter (
        where occurred_at > $as_of - interval 30 day), 0)::double as weighted_30d,
    coalesce(sum(weight::decimal(38, 18)) filter (
        where occurred_at > $as_of - interval 90 day), 0)::double as weighted_90d,
    coalesce(sum(weight::decimal(38, 18)) filter (
        where occurred_at > $as_of - interval 365 day), 0)::double as weighted_365d,
    count(*) filter (where direction = 'outbound') as messages_sent,
    count(*) filter (where direction = 'inbound') as messages_received,
    count(*) filter (where channel = 'meeting') as meetings,
    count(*) filter (where channel = 'meeting' and is_one_on_one) as meetings_one_on_one,
    count(*) filter (where channel = 'meeting' and not is_one_on_one) as meetings_group,
    count(*) filter (where channel = 'meeting' and in_person) as meetings_in_person,
    count(*) filter (where channel = 'meeting' and on_video) as meetings_video,
    coalesce(sum(duration_minutes::decimal(38, 12)) filter (
        where channel = 'meeting'), 0)::double / 60.0 as meeting_hours,
    coalesce(sum(duration_minutes::decimal(38, 12)) filter (
        where channel = 'meeting' and occurred_at > $as_of - interval 365 day), 0)::double
        / 60.0 as meeting_hours_365d,
    -- Contact with nobody else on it: mail to or from them alone, or a meeting.
    bool_or(channel = 'meeting' or n_participants = 1) as has_personal
from summary_rows($as_of)
group by person_id;

-- How fast each side answers: medians over the replies alone, grouped by person and
-- direction (a median keeps every value of its group in memory, so it gets the fewest).
create or replace temp table summary_reply_times as
select
    person_id,
    median(reply_latency_s) filter (where direction = 'inbound') / 3600.0
        as their_median_reply_hours,
    median(reply_latency_s) filter (where direction = 'outbound') / 3600.0
        as your_median_reply_hours
from summary_rows($as_of)
where is_reply and direction in ('inbound', 'outbound')
group by person_id;

-- Each message either way, and whether the other side answered it (a reply naming it):
-- one aggregation over the messages and the replies together, by the key a message has
-- and a reply names, instead of joining the two (both are most of the rows). A message
-- counts once per direction whichever accounts hold it, and it is answered when a reply
-- in the same account names it; that is read from the aggregation directly when the key
-- is in one account, and worked out account by account for the few keys in several.
create or replace temp table summary_reply_keys as
select
    person_id,
    key,
    min(account) <> max(account) as in_several_accounts,
    bool_or(not is_answer and direction = 'outbound') as sent_outbound,
    bool_or(not is_answer and direction = 'inbound') as sent_inbound,
    bool_or(is_answer and direction <> 'outbound') as outbound_answered,
    bool_or(is_answer and direction <> 'inbound') as inbound_answered
from (
    select person_id, account, interaction_key as key, direction, false as is_answer
    from summary_rows($as_of)
    where channel = 'email'
    union all
    select person_id, account, in_reply_to_key, direction, true
    from summary_rows($as_of)
    where in_reply_to_key is not null
)
group by person_id, key;

create or replace temp table summary_reply_rates as
with

several as (
    select person_id, key from summary_reply_keys where in_several_accounts
),

-- Keys in several accounts: each message with whether a reply in its account names it.
several_messages as (
    select
        sent.person_id,
        sent.direction,
        sent.interaction_key,
        bool_or(answer.interaction_key is not null) as answered
    from summary_rows($as_of) sent
    semi join several s on s.person_id = sent.person_id and s.key = sent.interaction_key
    left join summary_rows($as_of) answer
        on answer.person_id = sent.person_id
        and answer.account = sent.account
        and answer.in_reply_to_key = sent.interaction_key
        and answer.direction <> sent.direction
    where sent.channel = 'email'
    group by all
),

messages as (
    select person_id, 'outbound' as direction, outbound_answered as answered
    from summary_reply_keys
    where sent_outbound and not in_several_accounts
    union all
    select person_id, 'inbound', inbound_answered
    from summary_reply_keys
    where sent_inbound and not in_several_accounts
    union all
    select person_id, direction, answered from several_messages
)

select
    person_id,
    avg(answered::int) filter (where direction = 'outbound') as their_reply_rate,
    avg(answered::int) filter (where direction = 'inbound') as your_reply_rate
from messages
group by person_id;

-- Who opened each thread with this person: the direction of its first message to or from
-- them, ties in time going by key. The first time each way decides it; only a thread
-- whose first messages either way share their time needs its rows read again.
create or replace temp table summary_threads as
select
    person_id,
    coalesce(thread_key, interaction_key) as thread,
    min(occurred_at) filter (where direction = 'outbound') as first_outbound_at,
    min(occurred_at) filter (where direction = 'inbound') as first_inbound_at
from summary_rows($as_of)
where channel = 'email'
group by all;

create or replace temp table summary_initiation as
with

tied as (
    select person_id, thread, first_outbound_at as first_at
    from summary_threads
    where first_outbound_at = first_inbound_at
),

tie_breaks as (
    select t.person_id, t.thread, arg_min(i.direction, i.interaction_key) as opened_by
    from summary_rows($as_of) i
    join tied t
        on t.person_id = i.person_id
        and t.thread = coalesce(i.thread_key, i.interaction_key)
        and t.first_at = i.occurred_at
    where i.channel = 'email'
    group by all
),

threads as (
    select
        person_id,
        thread,
        case
            when first_inbound_at is null or first_outbound_at < first_inbound_at
                then 'outbound'
            when first_outbound_at is null or first_inbound_at < first_outbound_at
                then 'inbound'
        end as opened_by
    from summary_threads
)

select
    t.person_id,
    avg((coalesce(t.opened_by, b.opened_by) = 'outbound')::int) as initiation_share,
    count(*) as threads
from threads t
left join tie_breaks b using (person_id, thread)
group by t.person_id;

-- Messages one side sent since last hearing from the other (a meeting answers both).
create or replace temp table summary_streaks as
select
    i.person_id,
    count(*) filter (
        where i.direction = 'outbound'
          and i.occurred_at > coalesce(greatest(p.last_inbound_at, p.last_meeting_at), '-infinity')
    ) as unanswered_outbound_streak,
    count(*) filter (
        where i.direction = 'inbound'
          and i.occurred_at > coalesce(greatest(p.last_outbound_at, p.last_meeting_at), '-infinity')
    ) as unanswered_inbound_streak
from summary_rows($as_of) i
join summary_counts p using (person_id)
group by i.person_id;

-- The rhythm is that of contact between the user and them: mail with nobody else on it,
-- and meetings. Group mail (a thread with several people, an introduction the user makes)
-- follows the group's or the introduction's timing, not the tie's, and its extra short
-- gaps make a slow tie look quicker than it is. Someone seen only in group mail keeps
-- all of it. The silence still ends at any contact (last_contact_at).
--
-- Contact within $session_gap_days of the previous one continues the same conversation,
-- so a three-day thread is one touchpoint, not three. A gap is the silence between one
-- touchpoint's end and the next one's start: the same quantity as the current silence,
-- so the two can be compared. That is the time from each contact to the one before it
-- where that is more than $session_gap_days, so one pass in time order finds every gap
-- (contacts at the same moment count once: the second one is no new touchpoint).
create or replace temp table summary_rhythm as
with

contacts as (
    select i.person_id, i.occurred_at
    from summary_rows($as_of) i
    join summary_counts p using (person_id)
    where i.channel = 'meeting' or i.n_participants = 1 or not p.has_personal
),

ordered as (
    select
        person_id,
        occurred_at,
        lag(occurred_at) over (partition by person_id order by occurred_at) as previous_at
    from contacts
),

gaps as (
    select
        person_id,
        occurred_at,
        case
            when previous_at < occurred_at
             and date_diff('second', previous_at, occurred_at) / 86400.0 > $session_gap_days
                then date_diff('second', previous_at, occurred_at)
        end as gap_seconds
    from ordered
)

-- The mean gap, not the median: a silence is judged against the tail of someone's gaps,
-- and for bursty contact the median understates that tail while the mean tracks it.
select
    person_id,
    count(gap_seconds) + 1 as touchpoints,
    count(gap_seconds) as n_gaps,
    min(occurred_at) as first_touchpoint_at,
    -- Whole seconds summed: exact, whatever order the rows come in.
    sum(gap_seconds) / count(gap_seconds) / 86400.0 as mean_gap_days,
    quantile_cont(gap_seconds / 86400.0, 0.9) as p90_gap_days
from gaps
group by person_id;

insert into marts.contact_summaries by name
select
    p.person_id,
    p.first_contact_at,
    p.last_contact_at,
    p.last_two_way_at,
    p.last_inbound_at,
    p.last_outbound_at,
    p.last_meeting_at,
    p.last_inbound_was_reply,
    p.interactions_30d,
    p.interactions_90d,
    p.interactions_365d,
    p.weighted_30d,
    p.weighted_90d,
    p.weighted_365d,
    p.messages_sent,
    p.messages_received,
    reply_times.their_median_reply_hours,
    reply_times.your_median_reply_hours,
    reply_rates.their_reply_rate,
    reply_rates.your_reply_rate,
    initiation.initiation_share,
    coalesce(initiation.threads, 0) as threads,
    streaks.unanswered_outbound_streak,
    streaks.unanswered_inbound_streak,
    p.meetings,
    p.meetings_one_on_one,
    p.meetings_group,
    p.meetings_in_person,
    p.meetings_video,
    p.meeting_hours,
    p.meeting_hours_365d,
    rhythm.touchpoints,
    rhythm.n_gaps,
    rhythm.first_touchpoint_at,
    rhythm.mean_gap_days,
    rhythm.p90_gap_days
from summary_counts p
left join summary_reply_times reply_times using (person_id)
left join summary_reply_rates reply_rates using (person_id)
left join summary_initiation initiation using (person_id)
left join summary_streaks streaks using (person_id)
left join summary_rhythm rhythm using (person_id);

insert into marts.contact_summary_builds (
    built_at, as_of, mode, reason, people_rebuilt, fingerprint
)
select
    now(),
    $as_of,
    case when reason is null then 'incremental' else 'full' end,
    coalesce(reason, 'only the people whose contact changed or moved'),
    (select count(*) from summary_scope),
    $sql_fingerprint
from summary_rebuild;

-- Read: the next build starts from here.
delete from core.interaction_changes;
