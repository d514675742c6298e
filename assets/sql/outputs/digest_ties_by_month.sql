-- Digest, "Your network": ties gained and lost month by month over the last year, from
-- marts.status_history. A tie is kept up on a day as the headline above the table counts
-- it (marts.contact_metrics.is_active_tie): silent no longer than $dormant_after_days at
-- the snapshot's moment, the end of its day (the snapshot keeps the silence to a tenth of
-- a day, so a tie within 0.05 days of the line may fall either side). Not "status is not
-- dormant": a tie that never became regular turns dormant sooner, and the month's figure
-- then disagreed with the headline's. Each month's last snapshot is compared with the
-- previous month's: gained are kept now and not then (or not yet known), lost are kept
-- then and not now.
with

month_ends as (
    select date_trunc('month', snapshot_date)::date as month, max(snapshot_date) as day
    from history_snapshots
    where snapshot_date > timezone('UTC', $as_of::timestamptz)::date - 400
    group by 1
),

months as (
    select month, day, lag(month) over (order by month) as previous
    from month_ends
),

kept as (
    select m.month, h.person_id
    from history_snapshots h
    join month_ends m on h.snapshot_date = m.day
    where h.days_silent <= $dormant_after_days
),

gained as (
    select k.month, count(*) as gained
    from kept k
    join months m using (month)
    anti join kept p on p.month = m.previous and p.person_id = k.person_id
    group by k.month
),

lost as (
    select m.month, count(*) as lost
    from months m
    join kept p on p.month = m.previous
    anti join kept k on k.month = m.month and k.person_id = p.person_id
    group by m.month
),

sizes as (
    select month, count(*) as kept from kept group by month
)

select
    m.month,
    m.day as snapshot_date,
    coalesce(g.gained, 0) as gained,
    coalesce(l.lost, 0) as lost,
    coalesce(s.kept, 0) as kept
from months m
left join gained g using (month)
left join lost l using (month)
left join sizes s using (month)
where m.previous is not null
order by m.month desc
limit 12;
