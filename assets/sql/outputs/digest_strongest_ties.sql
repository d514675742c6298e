-- Digest, "Your network": the ten strongest active ties today (marts.contact_metrics
-- strength_rank) and each one's strength day by day over the last year
-- (marts.status_history), for sparklines.
with

strongest as (
    select person_id, display_name, tie_strength, dunbar_layer, strength_rank
    from marts.contact_metrics
    where strength_rank <= 10
),

history as (
    select h.person_id, list(h.snapshot_date order by h.snapshot_date) as days,
           list(h.tie_strength order by h.snapshot_date) as strengths
    from history_snapshots h
    semi join strongest s using (person_id)
    where h.snapshot_date > timezone('UTC', $as_of::timestamptz)::date - 365
    group by h.person_id
)

select s.person_id, s.display_name, s.tie_strength, s.dunbar_layer,
       coalesce(h.days, []) as days, coalesce(h.strengths, []) as strengths
from strongest s
left join history h using (person_id)
order by s.strength_rank;
