-- `keepwarm person` and the digest's person cards: every interaction with each of
-- $people, oldest first, noise included and marked (it is why something did not count).
select
    person_id,
    occurred_at,
    channel,
    direction,
    n_participants,
    is_one_on_one,
    in_person,
    on_video,
    duration_minutes,
    is_reply,
    noise_reason
from core.interactions
semi join (select unnest($people::varchar[]) as person_id) chosen using (person_id)
order by person_id, occurred_at, interaction_key;
