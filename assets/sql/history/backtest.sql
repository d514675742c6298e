-- The cold rule judged on the user's own history. Statuses as of many past dates arrive as
-- the view status_snapshots (as_of, person_id, status, last_contact_at, touchpoints, usual_gap_days). Each
-- silence is judged once: it really lapsed when it lasted at least
-- max($backtest_window_days, $backtest_gap_multiple x the usual gap); the rule called it
-- when some snapshot during the silence said cold. A cold call on a silence that ended
-- sooner was a false alarm.
create or replace table marts.backtest as
with

-- Only established ties are judged: dormant ones are already lost, and a contact with
-- fewer than $min_touchpoints touchpoints never became a relationship to lose.
snapshots as (
    select *, last_contact_at as silence_began_at
    from status_snapshots
    where status in ('active', 'cooling', 'cold') and touchpoints >= $min_touchpoints
),

contacts as (
    select distinct person_id, occurred_at
    from core.interactions
    where not is_noise and direction <> 'copied'
),

-- One row per silence seen by the snapshots, with the span that would make it a lapse.
silences as (
    select
        person_id,
        silence_began_at,
        arg_min(usual_gap_days, as_of) as usual_gap_days,
        greatest($backtest_window_days, $backtest_gap_multiple * arg_min(usual_gap_days, as_of))
            as lapse_days
    from snapshots
    group by person_id, silence_began_at
),

ended as (
    select
        s.*,
        s.silence_began_at + to_seconds((s.lapse_days * 86400)::bigint) as lapse_at,
        (
            select min(c.occurred_at) from contacts c
            where c.person_id = s.person_id and c.occurred_at > s.silence_began_at
        ) as broken_at
    from silences s
),

-- Only silences whose outcome is known by now are judged.
judged as (
    select
        e.person_id,
        e.silence_began_at,
        e.lapse_at,
        coalesce(e.broken_at > e.lapse_at, true) as lapsed,
        exists (
            select 1 from snapshots f
            where f.person_id = e.person_id
              and f.silence_began_at = e.silence_began_at
              and f.status = 'cold'
        ) as flagged
    from ended e
    where e.lapse_at <= $as_of or e.broken_at <= e.lapse_at
)

select
    date_trunc('month', silence_began_at) as month,
    count(*) as silences,
    count(*) filter (where flagged) as flagged_cold,
    count(*) filter (where lapsed) as lapsed,
    count(*) filter (where flagged and lapsed) as flagged_and_lapsed,
    round(count(*) filter (where flagged and lapsed) / nullif(count(*) filter (where flagged), 0), 4)
        as precision,
    round(count(*) filter (where flagged and lapsed) / nullif(count(*) filter (where lapsed), 0), 4)
        as recall
from judged
group by all
order by month;

comment on table marts.backtest is 'The cold rule backtested on the user''s own history, by the month each silence began: silences the snapshots saw, how many the rule called cold before they would count as a lapse, how many really lapsed (lasted max(backtest.window_days, backtest.gap_multiple x the usual gap)), and precision and recall.';
comment on column marts.backtest.month is 'Month in which the silences began (the last contact before them).';
comment on column marts.backtest.silences is 'Silences of established ties (active, cooling or cold, at least status.min_touchpoints touchpoints) seen by the snapshots, whose outcome is known.';
comment on column marts.backtest.flagged_cold is 'Of which the rule called cold at some snapshot before the lapse point.';
comment on column marts.backtest.lapsed is 'Of which really lapsed: no contact until the lapse point.';
comment on column marts.backtest.flagged_and_lapsed is 'Called cold and really lapsed.';
comment on column marts.backtest.precision is 'flagged_and_lapsed / flagged_cold: how often a cold flag was right.';
comment on column marts.backtest.recall is 'flagged_and_lapsed / lapsed: how many lapses the rule caught in time.';
