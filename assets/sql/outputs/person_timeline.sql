-- `keepwarm person` and the digest's person cards: every interaction with each of
-- $people, oldest first, noise included and marked (it is why something did not count).
-- With $timeline_limit, only each person's latest that many (the digest page's cards),
-- and `total` says how many there are in all.
select * exclude (newest)
from (
    select
        person_id,
        occurred_at,
        interaction_key,
        channel,
        direction,
        n_participants,
        is_one_on_one,
        in_person,
        on_video,
        duration_minutes,
        is_reply,
        noise_reason,
        count(*) over (partition by person_id) as total,
        row_number() over (
            partition by person_id order by occurred_at desc, interaction_key desc
        ) as newest
    from core.interactions
    semi join (select unnest($people::varchar[]) as person_id) chosen using (person_id)
)
where $timeline_limit is null or newest <= $timeline_limit
order by person_id, occurred_at, interaction_key;
