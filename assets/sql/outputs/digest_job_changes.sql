-- Digest, "New jobs": job changes (marts.job_changes) first seen in the $days days up to
-- the as-of time, newest first, one per person (the latest), with the tie's next step
-- (marts.relationship_status: congratulate them while it is news, unless you have written
-- or met since).
with

summarised as (
    select as_of from marts.contact_summary_builds order by built_at desc limit 1
),

recent as (
    select j.*
    from marts.job_changes j, summarised
    where j.first_seen_at <= summarised.as_of
      and date_diff('second', j.first_seen_at, summarised.as_of) < $days * 86400
    qualify row_number() over (partition by j.person_id order by j.first_seen_at desc) = 1
)

select
    r.person_id,
    p.display_name,
    r.from_organization,
    r.from_title,
    r.to_organization,
    r.to_title,
    r.first_seen_at,
    r.source,
    s.status,
    s.next_step,
    count(*) over () as total
from recent r
join core.people p using (person_id)
left join marts.relationship_status s using (person_id)
order by r.first_seen_at desc, r.person_id
limit $limit;
