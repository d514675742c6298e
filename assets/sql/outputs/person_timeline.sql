-- `keepwarm person` and the digest's person cards: every interaction with each of
-- $people, oldest first, noise included and marked (it is why something did not count).
-- With $timeline_limit, only each person's latest that many (the digest page's cards),
-- and `total` says how many there are in all.
select * exclude (newest)
from (
    select
        i.person_id,
        i.occurred_at,
        i.interaction_key,
        i.channel,
        i.direction,
        i.n_participants,
        i.is_one_on_one,
        i.in_person,
        i.on_video,
        i.duration_minutes,
        i.is_reply,
        i.noise_reason,
        -- How a contact logged with `keepwarm log` happened (null for mail and calendar).
        logged.how as logged_how,
        count(*) over (partition by i.person_id) as total,
        row_number() over (
            partition by i.person_id order by i.occurred_at desc, i.interaction_key desc
        ) as newest
    from core.interactions i
    semi join (select unnest($people::varchar[]) as person_id) chosen using (person_id)
    left join core.actions logged
        on i.account = 'logged' and i.interaction_key = 'log-' || logged.action_id
)
where $timeline_limit is null or newest <= $timeline_limit
order by person_id, occurred_at, interaction_key;
