-- Digest, "Going cold": ties past their own rhythm (marts.relationship_status), the cold
-- ones first, then the cooling ones, each by attention_rank (strength times urgency).
select
    person_id,
    display_name,
    status,
    reason,
    next_step,
    count(*) over () as total,
    count(*) filter (where status = 'cold') over () as cold
from marts.relationship_status
where status in ('cold', 'cooling')
order by status = 'cooling', attention_rank
limit $limit;
