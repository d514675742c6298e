-- Digest, "Reconnect": dormant ties that were real relationships (at least
-- $min_touchpoints touchpoints), ranked by how strong the tie was at its peak: the
-- innermost Dunbar layer and the highest tie strength it reached in
-- marts.status_history. Where the history does not reach the peak, today's strength
-- (already decayed by the silence) is the best figure there is.
with

dormant as (
    select person_id, display_name, reason, next_step, tie_strength
    from marts.relationship_status
    where status = 'dormant' and touchpoints >= $min_touchpoints
),

peaks as (
    select person_id, max(tie_strength) as peak_strength, min(dunbar_layer) as peak_layer
    from history_snapshots
    semi join dormant using (person_id)
    group by person_id
)

select
    d.person_id,
    d.display_name,
    d.reason,
    d.next_step,
    round(greatest(d.tie_strength, coalesce(p.peak_strength, d.tie_strength)), 1)
        as peak_strength,
    p.peak_layer,
    count(*) over () as total
from dormant d
left join peaks p using (person_id)
order by p.peak_layer nulls last, peak_strength desc, d.person_id
limit $limit;
