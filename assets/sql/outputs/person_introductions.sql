-- `keepwarm person`: the introductions one of $people took part in, as introducer or as
-- one of the two introduced (marts.introductions), newest first.
select
    kind,
    introduced_at,
    introducer_id,
    introducer_name,
    person_a_id,
    person_a_name,
    person_b_id,
    person_b_name,
    followed_up,
    follow_ups,
    became_tie,
    list_filter([introducer_id, person_a_id, person_b_id],
                lambda x: list_contains($people::varchar[], x)) as involved
from marts.introductions
where list_has_any([introducer_id, person_a_id, person_b_id], $people::varchar[])
order by introduced_at desc, interaction_key;
