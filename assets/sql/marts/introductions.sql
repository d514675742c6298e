-- Introductions as one mailbox can see them, up to $as_of. A message introduces two
-- people when it is the first time the mailbox sees them together and exactly those two
-- are on it besides the user:
--   made      the user wrote it, addressed To both A and B, who had never been on a
--             message or meeting together before;
--   received  a tie of the user's (X) wrote it to the user and a newcomer N, who had
--             never appeared in the mailbox before: X referred N.
-- Exactly two: "A, meet B" names two people; with a third, a group thread's first message
-- would pair everyone on it with everyone else.
-- Afterwards, the two introduced are in touch when A writes with B on the message (or B
-- with A) or both meet; for a referral, when the user and N write either way or meet.
create or replace table marts.introductions as
with

people as (
    select person_id, display_name from core.people where kind = 'person'
),

ties as (
    select person_id from marts.contact_metrics where is_tie
),

identities as (
    select address, person_id, is_self from core.identities
),

-- Who was on each message or meeting that counts, besides the user.
presence as (
    select
        account, interaction_key, channel, direction, person_id, occurred_at, thread_key,
        n_participants
    from core.interactions
    where not is_noise and occurred_at <= $as_of
      and person_id in (select person_id from people)
),

messages as (
    select
        account,
        interaction_key,
        any_value(thread_key) as thread_key,
        any_value(occurred_at) as occurred_at,
        bool_or(direction = 'outbound') as from_user,
        any_value(person_id) filter (where direction = 'inbound') as sender_id,
        list_sort(list_distinct(list(person_id))) as others
    from presence
    -- Two others the user wrote to, or a sender and one other beside the user, take at
    -- least two recipients; most mail has one, and grouping it all is the costly part.
    where channel = 'email' and n_participants >= 2
    group by account, interaction_key
),

two_others as (
    select * from messages where len(others) = 2
),

-- The To and Cc headers of those messages, as people; core.interactions does not keep
-- them apart, and a blind copy is in neither.
addressed as (
    select
        r.account,
        r.message_key as interaction_key,
        list_distinct(list(i.person_id) filter (where h.field = 'to' and not i.is_self)) as to_ids,
        bool_or(i.is_self) as user_addressed
    from raw.messages r
    join two_others m on m.account = r.account and m.interaction_key = r.message_key
    cross join unnest(
        list_transform(r.to_addrs, lambda x: {'field': 'to', 'address': x.address})
        || list_transform(r.cc_addrs, lambda x: {'field': 'cc', 'address': x.address})
    ) as header(h)
    join identities i on i.address = normalize_address(h.address, keep := $split_addresses)
    group by r.account, r.message_key
),

-- Addressed To both: someone the user merely copies (a colleague kept informed on a
-- note to a client) is not being introduced.
made_candidates as (
    select
        m.account, m.interaction_key, m.thread_key, m.occurred_at,
        m.others[1] as person_a_id,
        m.others[2] as person_b_id
    from two_others m
    join addressed a using (account, interaction_key)
    where m.from_user and list_has_all(a.to_ids, m.others)
),

-- The user must be addressed, To or Cc: a blind copy of X's note to N is an FYI, not an
-- introduction of the user. N may be in either header: "cc'ing N, who can help" is the
-- commonest way to bring someone in.
received_candidates as (
    select
        m.account, m.interaction_key, m.thread_key, m.occurred_at,
        m.sender_id as introducer_id,
        list_filter(m.others, lambda p: p <> m.sender_id)[1] as newcomer_id
    from two_others m
    join addressed a using (account, interaction_key)
    where not m.from_user and m.sender_id is not null and a.user_addressed
),

-- Everyone a candidate names: the only people the checks below look up in presence, which
-- is the whole history. Narrowed to them, it is read once more, not four times over.
involved as (
    select person_a_id as person_id from made_candidates
    union
    select person_b_id from made_candidates
    union
    select newcomer_id from received_candidates
),

-- Their rows of presence (they are people, being in it), read afresh from
-- core.interactions: a second reader of presence itself would make DuckDB keep it whole.
seen as (
    select
        account, interaction_key, channel, direction, person_id, occurred_at, thread_key,
        n_participants
    from core.interactions
    where not is_noise and occurred_at <= $as_of
      and person_id in (select person_id from involved)
),

made as (
    select
        'made' as kind,
        c.account, c.interaction_key, c.thread_key, c.occurred_at,
        null as introducer_id,
        c.person_a_id,
        c.person_b_id
    from made_candidates c
    where not exists (
        select 1
        from seen a
        join seen b using (account, interaction_key)
        where a.person_id = c.person_a_id and b.person_id = c.person_b_id
          and a.occurred_at < c.occurred_at
    )
    qualify row_number() over (
        partition by c.person_a_id, c.person_b_id order by c.occurred_at, c.interaction_key
    ) = 1
),

-- A stranger's pitch copying a colleague of theirs is not a referral: the introducer is
-- a tie (two-way contact by $as_of). Not "known before": a friend's first mail is often
-- the introduction itself.
received as (
    select
        'received' as kind,
        c.account, c.interaction_key, c.thread_key, c.occurred_at,
        c.introducer_id,
        null as person_a_id,
        c.newcomer_id as person_b_id
    from received_candidates c
    where not exists (
        select 1 from seen p
        where p.person_id = c.newcomer_id and p.occurred_at < c.occurred_at
    )
      and c.introducer_id in (select person_id from ties)
    qualify row_number() over (
        partition by c.newcomer_id order by c.occurred_at, c.interaction_key
    ) = 1
),

introductions as (
    select * from made
    union all
    select * from received
),

-- Each of the two introduced, facing the other.
made_sides as (
    select interaction_key, account, occurred_at, person_a_id as person_id, person_b_id as other_id
    from made
    union all
    select interaction_key, account, occurred_at, person_b_id, person_a_id
    from made
),

-- A and B in touch: one of them wrote with the other on the message, or both met.
made_follow_ups as (
    select s.interaction_key, s.account, spoke.interaction_key as follow_up_key, spoke.occurred_at
    from made_sides s
    join seen spoke
        on spoke.person_id = s.person_id
        and spoke.direction in ('inbound', 'meeting')
        and spoke.occurred_at > s.occurred_at
    join seen heard
        on heard.account = spoke.account and heard.interaction_key = spoke.interaction_key
        and heard.person_id = s.other_id
),

-- The user and N in touch: a message either way or a meeting.
received_follow_ups as (
    select i.interaction_key, i.account, p.interaction_key as follow_up_key, p.occurred_at
    from received i
    join seen p
        on p.person_id = i.person_b_id
        and p.direction in ('inbound', 'outbound', 'meeting')
        and p.occurred_at > i.occurred_at
),

follow_ups as (
    select
        interaction_key, account,
        count(distinct follow_up_key) as follow_ups,
        min(occurred_at) as first_follow_up_at,
        max(occurred_at) as last_follow_up_at
    from (select * from made_follow_ups union all select * from received_follow_ups)
    group by interaction_key, account
)

select
    i.kind,
    i.occurred_at as introduced_at,
    i.introducer_id,
    case when i.introducer_id is null then 'you' else introducer.display_name end
        as introducer_name,
    i.person_a_id,
    case when i.person_a_id is null then 'you' else a.display_name end as person_a_name,
    i.person_b_id,
    b.display_name as person_b_name,
    f.first_follow_up_at is not null as followed_up,
    f.first_follow_up_at,
    round(date_diff('second', i.occurred_at, f.first_follow_up_at) / 86400.0, 1) as days_to_follow_up,
    f.last_follow_up_at,
    coalesce(f.follow_ups, 0) as follow_ups,
    case when i.kind = 'received' then coalesce(metrics.is_tie, false) end as became_tie,
    i.account,
    i.interaction_key,
    i.thread_key
from introductions i
left join follow_ups f using (interaction_key, account)
left join people introducer on introducer.person_id = i.introducer_id
left join people a on a.person_id = i.person_a_id
left join people b on b.person_id = i.person_b_id
left join marts.contact_metrics metrics
    on i.kind = 'received' and metrics.person_id = i.person_b_id
order by i.occurred_at desc, i.interaction_key;

comment on table marts.introductions is 'Introductions the user made (you wrote To A and B, never before on a message or meeting together) and received (a tie of yours wrote to you and someone new to the mailbox: who referred whom), one row each, with whether the two introduced were in touch afterwards.';
comment on column marts.introductions.kind is 'made: the user introduced person_a and person_b; received: introducer_id introduced the user to person_b (a referral).';
comment on column marts.introductions.introduced_at is 'When the introducing message was sent.';
comment on column marts.introductions.introducer_id is 'Who made the introduction (core.people.person_id); null when the user did.';
comment on column marts.introductions.introducer_name is 'Their name, or "you".';
comment on column marts.introductions.person_a_id is 'The first of the two introduced (core.people.person_id); null when it is the user (a referral).';
comment on column marts.introductions.person_a_name is 'Their name, or "you".';
comment on column marts.introductions.person_b_id is 'The second of the two introduced; for a referral, the newcomer.';
comment on column marts.introductions.person_b_name is 'Their name.';
comment on column marts.introductions.followed_up is 'The two introduced were in touch afterwards, as far as the mailbox shows: one wrote with the other on the message, or they met (for a referral: any message either way or meeting between the user and the newcomer).';
comment on column marts.introductions.first_follow_up_at is 'Their first contact after the introduction.';
comment on column marts.introductions.days_to_follow_up is 'Days from the introduction to that first contact.';
comment on column marts.introductions.last_follow_up_at is 'Their latest contact seen.';
comment on column marts.introductions.follow_ups is 'Messages and meetings between the two introduced since the introduction.';
comment on column marts.introductions.became_tie is 'For a referral: the newcomer is now a tie of the user''s (marts.contact_metrics.is_tie); null for introductions made, whose outcome the mailbox cannot see.';
comment on column marts.introductions.account is 'Mailbox the introducing message was read from.';
comment on column marts.introductions.interaction_key is 'The introducing message (core.interactions.interaction_key).';
comment on column marts.introductions.thread_key is 'Its thread.';
