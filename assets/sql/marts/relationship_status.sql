-- Where each tie stands, judged against that person's own rhythm rather than one fixed
-- interval. docs/metrics.md explains the rule and its constants.
create or replace table marts.relationship_status as
with

-- As of the time marts.contact_summaries (and so marts.contact_metrics) describe, so that
-- the silence and the rhythm it is judged against are of one moment.
summarised as (
    select as_of from marts.contact_summary_builds order by built_at desc limit 1
),

-- People the user named in status.cadence, resolved to whoever owns the address.
cadences as (
    select identities.person_id, min(named.days) as cadence_days
    from (
        select
            normalize_address(unnest($cadence_addresses), keep := $split_addresses) as address,
            unnest($cadence_days) as days
    ) named
    join core.identities using (address)
    group by identities.person_id
),

-- Address-book labels with a cadence (status.cadence_by_label, the label's name in any
-- case): the shortest of a person's. Below any cadence named for the person themself.
label_cadences as (
    select labelled.person_id, min(named.days) as cadence_days,
           arg_min(labelled.label, named.days) as cadence_label
    from (select person_id, unnest(labels) as label from marts.contact_metrics) labelled
    join (
        select unnest($cadence_labels::varchar[]) as label,
               unnest($cadence_label_days::double[]) as days
    ) named on lower(named.label) = lower(labelled.label)
    group by labelled.person_id
),

-- A job change (marts.job_changes) is a reason to get in touch while it is news: seen in
-- the $job_change_days before the as-of time, and since then no mail from the user nor a
-- meeting. The latest one per person.
job_news as (
    select j.person_id, j.first_seen_at,
           case
               when j.source = 'mail' then printf('mail now comes from %s', j.to_organization)
               when j.to_title is not null and j.to_organization is not null
                   then printf('now %s at %s', j.to_title, j.to_organization)
               else printf('now %s', coalesce(j.to_organization, j.to_title))
           end as job_news
    from marts.job_changes j, summarised
    where j.first_seen_at <= summarised.as_of
      and date_diff('second', j.first_seen_at, summarised.as_of) < $job_change_days * 86400
    qualify row_number() over (partition by j.person_id order by j.first_seen_at desc) = 1
),

-- What the user said with `keepwarm cadence` and `keepwarm snooze` (core.actions, at most
-- one of each per person). A cadence set from the command line wins over status.cadence:
-- it is the later, more specific word about one person, and undoing it gives the file's
-- back. A snooze counts until its day begins (UTC) at the as-of time.
commanded as (
    select
        actions.person_id,
        any_value(actions.cadence_days) filter (where actions.kind = 'cadence') as cadence_days,
        any_value(actions.snoozed_until) filter (
            where actions.kind = 'snooze'
              and make_timestamptz(year(actions.snoozed_until), month(actions.snoozed_until),
                                   day(actions.snoozed_until), 0, 0, 0, 'UTC') > summarised.as_of
        ) as snoozed_until
    from core.actions actions, summarised
    where actions.kind in ('cadence', 'snooze') and actions.person_id is not null
    group by actions.person_id
),

-- Two-way ties, and anyone the user named a cadence for: naming them says they matter.
ties as (
    select
        contact_metrics.*,
        coalesce(commanded.cadence_days, cadences.cadence_days, label_cadences.cadence_days)
            as cadence_days,
        case when coalesce(commanded.cadence_days, cadences.cadence_days) is null
             then label_cadences.cadence_label end as cadence_label,
        commanded.snoozed_until,
        case when job_news.first_seen_at > greatest(
                      coalesce(contact_metrics.last_outbound_at, '-infinity'::timestamptz),
                      coalesce(contact_metrics.last_meeting_at, '-infinity'::timestamptz))
             then job_news.job_news end as job_news
    from marts.contact_metrics
    left join cadences using (person_id)
    left join label_cadences using (person_id)
    left join commanded using (person_id)
    left join job_news using (person_id)
    where is_tie
       or coalesce(commanded.cadence_days, cadences.cadence_days,
                   label_cadences.cadence_days) is not null
),

-- Touchpoints and the gaps between them (marts.contact_summaries): one-to-one mail and
-- meetings, contact within $session_gap_days of the previous one continuing the same
-- conversation, and a gap the silence from one touchpoint's end to the next one's start,
-- the same quantity as the current silence, so the two can be compared. The mean gap, not
-- the median: a silence is judged against the tail of someone's gaps, and for bursty
-- contact the median understates that tail while the mean tracks it.
rhythm as (
    select
        person_id, touchpoints, n_gaps, first_touchpoint_at, mean_gap_days, p90_gap_days,
        last_inbound_was_reply
    from marts.contact_summaries
    where person_id in (select person_id from ties)
),

-- People with few gaps borrow strength from the network's typical rhythm.
network_prior as (
    select coalesce(median(mean_gap_days), $fallback_prior_gap_days) as prior_gap_days
    from rhythm
    where n_gaps >= 3
),

-- Where the history begins: the first contact with anyone. Before it nothing was seen.
history as (
    select min(first_contact_at) as started_at from marts.contact_metrics
),

-- Gaps are modelled as exponential with an unknown rate whose prior is worth
-- $prior_weight gaps at the network's rhythm. After n gaps totalling S days the rate is
-- Gamma(a = prior_weight + n, b = prior_weight * prior + S), the expected gap is b / a, and
-- the chance that a silence lasts at least s days is (b / (b + s))^a. Few gaps leave that
-- tail heavy, so a thin history needs a longer silence before it is called cold.
--
-- Why the lead-in counts (left censoring): gaps alone under-sample a slow rhythm, since
-- the wait from the start of the history to the first contact (L days) is silence too. If
-- the tie predates the history, that wait is a gap like any other (memoryless), one more
-- gap of L days; if the tie began at its first contact, it says nothing. The odds of the
-- first are the prior odds ($predates_history_probability) times the likelihood ratio
-- [a / (b + L)] (b / (b + L))^a against 1 / H, a start anywhere in the H days of history:
-- a long wait before a quick rhythm means a new tie. The lead-in then counts with that
-- probability w: a = prior_weight + n + w, b = prior_weight * prior + S + w * L.
-- The current silence is left out of a and b: it is what the tail judges.
lead_in as (
    select
        rhythm.*,
        $prior_weight + rhythm.n_gaps as gaps_shape,
        $prior_weight * network_prior.prior_gap_days
            + rhythm.n_gaps * coalesce(rhythm.mean_gap_days, 0) as gaps_scale_days,
        date_diff('second', history.started_at, rhythm.first_touchpoint_at) / 86400.0
            as lead_in_days,
        date_diff('second', history.started_at, summarised.as_of) / 86400.0 as history_days
    from rhythm, network_prior, history, summarised
),

predates as (
    select
        *,
        $predates_history_probability / (1 - $predates_history_probability)
            * history_days * gaps_shape / (gaps_scale_days + lead_in_days)
            * pow(gaps_scale_days / (gaps_scale_days + lead_in_days), gaps_shape)
            as predates_odds
    from lead_in
),

posterior as (
    select
        *,
        gaps_shape + predates_odds / (1 + predates_odds) as shape,
        gaps_scale_days + predates_odds / (1 + predates_odds) * lead_in_days as scale_days
    from predates
),

thresholds as (
    select
        *,
        scale_days / shape as expected_gap_days,
        -- Solve (b / (b + s))^a = p for s: the silence whose chance is p.
        scale_days * (pow($cooling_probability, -1.0 / shape) - 1) as cooling_silence_days,
        scale_days * (pow($cold_probability, -1.0 / shape) - 1) as cold_silence_days
    from posterior
),

judged as (
    select
        ties.*,
        coalesce(thresholds.last_inbound_was_reply, false) as last_inbound_was_reply,
        thresholds.touchpoints,
        thresholds.mean_gap_days,
        thresholds.p90_gap_days,
        thresholds.expected_gap_days,
        greatest(thresholds.cooling_silence_days, $min_cooling_days) as cooling_after_days,
        greatest(thresholds.cold_silence_days, $min_cold_days) as cold_after_days,
        pow(
            thresholds.scale_days
                / (thresholds.scale_days
                   + date_diff('second', ties.last_contact_at, summarised.as_of) / 86400.0),
            thresholds.shape
        ) as silence_probability,
        date_diff('second', ties.last_contact_at, summarised.as_of) / 86400.0 as days_silent,
        date_diff('second', ties.first_contact_at, summarised.as_of) / 86400.0 as days_known
    from ties
    join thresholds using (person_id)
    cross join summarised
),

statused as (
    select
        *,
        coalesce(last_inbound_at >= last_contact_at, false) as they_wrote_last,
        case
            -- A cadence the user set overrides the learned rhythm: due, then overdue.
            when cadence_days is not null then
                case
                    when days_silent > 1.5 * cadence_days then 'cold'
                    when days_silent > cadence_days then 'cooling'
                    else 'active'
                end
            when days_known <= $new_days and touchpoints < $min_touchpoints then 'new'
            -- A contact that never became a relationship, silent past its cold line or a
            -- year: with so few touchpoints there is no rhythm for a long silence to keep.
            when touchpoints < $min_touchpoints
                 and (days_silent > cold_after_days or days_silent > $dormant_after_days)
                then 'dormant'
            -- Lapsed: cold by their own rhythm, and for long. A long silence alone is not
            -- a lapse (someone seen once every eight months is on rhythm at 370 days), and
            -- a silence past the cold line is not yet dormant while it is under
            -- $dormant_after_days: it is still worth acting on now.
            when days_silent > cold_after_days and days_silent > $dormant_after_days
                then 'dormant'
            when days_silent > cold_after_days then 'cold'
            when days_silent > cooling_after_days then 'cooling'
            else 'active'
        end as status,
        -- The whole days the reason states: the published columns (rounded to a tenth)
        -- rounded half away from zero, the one rule every number shown follows.
        round(round(expected_gap_days, 1))::int as gap_shown,
        round(round(days_silent, 1))::int as silent_shown
    from judged
),

explained as (
    select
        *,
        case
            when cadence_days is not null then printf(
                'you want contact every %d days%s; silent %d days', round(cadence_days)::int,
                coalesce(printf(' (label %s)', cadence_label), ''), silent_shown)
            else case status
            when 'new' then printf('first contact %d days ago', round(days_known)::int)
            when 'dormant' then
                case when touchpoints < $min_touchpoints
                    then printf('only %d touchpoint(s), the last %d days ago: never became a regular contact',
                                touchpoints, silent_shown)
                    else printf(
                        'usually every %d days; silent %d days (%.1fx that), over %d days: '
                        'fewer than 1 in %d of their gaps last this long',
                        gap_shown, silent_shown, round(silent_shown / gap_shown, 1),
                        round($dormant_after_days)::int, floor(1 / $cold_probability + 1e-9)::int)
                end
            when 'active' then printf(
                'usually every %d days; silent %d days (%.1fx that)',
                gap_shown, silent_shown, round(silent_shown / gap_shown, 1))
            else printf(
                'usually every %d days; silent %d days (%.1fx that): '
                'fewer than 1 in %d of their gaps last this long',
                gap_shown, silent_shown, round(silent_shown / gap_shown, 1),
                floor(1 / case status when 'cold' then $cold_probability
                                      else $cooling_probability end + 1e-9)::int
            )
            end
        end as reason,
        case
            when status = 'active' and job_news is null then 'nothing needed'
            when unanswered_outbound_streak >= 3 then printf(
                'they left your last %d messages unanswered: try another channel, or a meeting',
                unanswered_outbound_streak)
            -- News is a reason to write that beats a generic check-in, and revives a
            -- dormant tie better than none.
            when job_news is not null then printf('congratulate them on the new job: %s',
                                                  job_news)
            -- Before reply and follow-up: a message or meeting past the cold line and a
            -- year old is no longer a loop to close but a tie to revive.
            when status = 'dormant' then 'reconnect if they matter: old ties revive well'
            when they_wrote_last and not last_inbound_was_reply
                then printf('reply: they wrote on %s and have not heard back',
                            strftime(last_inbound_at, '%Y-%m-%d'))
            when last_meeting_at is not null and last_meeting_at >= last_contact_at
                then printf('follow up on your meeting of %s', strftime(last_meeting_at, '%Y-%m-%d'))
            when status = 'new' then 'follow up while the first contact is fresh'
            when they_wrote_last
                then printf('write again: they answered you last, on %s',
                            strftime(last_inbound_at, '%Y-%m-%d'))
            else printf('check in: you wrote last, on %s', strftime(last_outbound_at, '%Y-%m-%d'))
        end as next_step
    from statused
),

-- How much acting on this tie is worth: its strength times how pressing the status is,
-- so a strong tie cooling comes before a weak tie gone cold.
ranked as (
    select
        *,
        tie_strength * case status
            when 'cold' then 1.0 when 'cooling' then 0.6 when 'new' then 0.4
            when 'dormant' then 0.3 else 0.0
        end as attention_score
    from explained
)

select
    person_id,
    display_name,
    addresses[1] as address,
    status,
    reason,
    next_step,
    last_contact_at,
    round(days_silent, 1) as days_silent,
    round(expected_gap_days, 1) as usual_gap_days,
    round(mean_gap_days, 1) as mean_gap_days,
    round(p90_gap_days, 1) as p90_gap_days,
    touchpoints,
    round(cooling_after_days, 1) as cooling_after_days,
    round(cold_after_days, 1) as cold_after_days,
    round(silence_probability, 4) as silence_probability,
    weighted_365d,
    tie_strength,
    dunbar_layer,
    cadence_days,
    cadence_label,
    snoozed_until,
    round(attention_score, 1) as attention_score,
    row_number() over (
        order by attention_score desc, tie_strength desc, days_silent desc, person_id
    ) as attention_rank
from ranked
order by attention_rank;

comment on table marts.relationship_status is 'One row per tie: whether it is new, active, cooling, cold or dormant, why, and what to do next. Ordered by attention_rank.';
comment on column marts.relationship_status.person_id is 'core.people.person_id.';
comment on column marts.relationship_status.display_name is 'Their name.';
comment on column marts.relationship_status.address is 'Their main address.';
comment on column marts.relationship_status.status is 'new (known under new_days, few touchpoints), active, cooling (silent past cooling_after_days), cold (past cold_after_days), dormant (past cold_after_days and silent over status.dormant_after_days: lapsed; or, with under min_touchpoints touchpoints, past cold_after_days or dormant_after_days: never became regular). A long silence on a slow rhythm is not dormant.';
comment on column marts.relationship_status.reason is 'The status in words: their usual gap and silence in whole days (usual_gap_days and days_silent rounded half away from zero), the silence as a multiple of the gap, and how rare a gap that long is for them (fewer than 1 in 1/cold_probability when cold or dormant, 1/cooling_probability when cooling).';
comment on column marts.relationship_status.next_step is 'A suggested action: congratulate them on a new job (marts.job_changes seen in the last status.job_change_days and no mail from you nor meeting since; even for an active tie), reply (they opened something you never answered), follow up on a meeting, write again (they answered you last), check in (you wrote last); for a dormant tie, reconnect.';
comment on column marts.relationship_status.last_contact_at is 'Latest message either way or meeting.';
comment on column marts.relationship_status.days_silent is 'Days from last contact of any kind (group mail included) to the as-of time.';
comment on column marts.relationship_status.usual_gap_days is 'Expected gap: their mean gap shrunk toward the network''s typical rhythm, (prior_weight x prior + sum of gaps + w x lead-in) / (prior_weight + gaps + w), the lead-in (history start to first contact) counted as one more gap with w the probability that the tie predates the history.';
comment on column marts.relationship_status.mean_gap_days is 'Mean silence between touchpoints with them (null with one touchpoint): one-to-one mail and meetings, not group mail.';
comment on column marts.relationship_status.p90_gap_days is '90th percentile of those silences.';
comment on column marts.relationship_status.touchpoints is 'Separate conversations: contact within session_gap_days of the last one continues it. Counts one-to-one mail (nobody else on it) and meetings; group mail only for someone with no other contact.';
comment on column marts.relationship_status.cooling_after_days is 'Silence after which the tie is cooling: the silence whose chance under their rhythm is cooling_probability (at least min_cooling_days).';
comment on column marts.relationship_status.cold_after_days is 'Silence after which it is cold: the silence whose chance under their rhythm is cold_probability (at least min_cold_days).';
comment on column marts.relationship_status.silence_probability is 'Chance that a gap lasts at least days_silent, given their rhythm and how much of it has been seen: small means unusual.';
comment on column marts.relationship_status.weighted_365d is 'Audience-weighted interactions over the last year: how much this tie mattered lately.';
comment on column marts.relationship_status.tie_strength is 'marts.contact_metrics.tie_strength (0-100).';
comment on column marts.relationship_status.dunbar_layer is 'marts.contact_metrics.dunbar_layer: 5, 15, 50, 150, 500, 1500, or null when not active.';
comment on column marts.relationship_status.cadence_days is 'The rhythm the user set for this person, with keepwarm cadence (which wins), in status.cadence, or for one of their address-book labels in status.cadence_by_label (the shortest); when set, status follows it: cooling past it, cold past 1.5 times it.';
comment on column marts.relationship_status.cadence_label is 'The label whose status.cadence_by_label gave cadence_days; null when none did.';
comment on column marts.relationship_status.snoozed_until is 'The day a snooze (keepwarm snooze) ends, while it lasts at the as-of time; null when not snoozed. The status is still computed; lists of who is going cold leave snoozed people out.';
comment on column marts.relationship_status.attention_score is 'tie_strength x urgency (cold 1, cooling 0.6, new 0.4, dormant 0.3, active 0): what attention_rank sorts by.';
comment on column marts.relationship_status.attention_rank is '1 = most worth acting on: by attention_score, so a strong tie cooling comes before a weak tie gone cold.';
