-- Conversations left hanging as of $as_of: a message nobody answered, or a meeting nobody
-- followed up. Only ties count (a stranger's pitch is not a loop), and only within the
-- last $loop_window_days, so that last year's silence does not crowd out this week's.
create or replace table marts.open_loops as
with

ties as (
    select person_id, display_name from marts.contact_metrics where is_tie
),

-- Mail inside the window only, and that is all this file needs: a thread's latest message
-- is a loop only when it falls inside the window, and then every later message of the
-- thread does too; a meeting's follow-up comes after the meeting, itself inside it.
-- Reading the whole history for those few weeks was most of the mart's time.
mail as (
    select *
    from core.interactions
    where not is_noise and channel = 'email' and direction in ('inbound', 'outbound')
      and occurred_at <= $as_of
      and occurred_at > $as_of - to_seconds($loop_window_days * 86400)
      and person_id in (select person_id from ties)
),

-- The latest message of each thread with each person. When it opened the thread or
-- asked afresh (it is no reply itself), whoever received it owes an answer; a reply that
-- ends a thread ("thanks, will do") closes it.
thread_ends as (
    select mail.*
    from mail
    qualify row_number() over (
        partition by person_id, coalesce(thread_key, interaction_key)
        order by occurred_at desc, interaction_key
    ) = 1
),

unanswered as (
    select
        person_id,
        case direction when 'inbound' then 'you_owe_reply' else 'they_owe_reply' end as loop,
        occurred_at as since,
        interaction_key,
        thread_key
    from thread_ends
    where not is_reply
      and occurred_at > $as_of - to_seconds($loop_window_days * 86400)
      and (
        (direction = 'inbound' and occurred_at <= $as_of - to_seconds($reply_grace_days * 86400))
        or (direction = 'outbound' and occurred_at <= $as_of - to_seconds($answer_grace_days * 86400))
      )
),

-- One-on-ones only: a weekly team meeting needs no personal follow-up. Contact the user
-- logged (account 'logged') is what they told keepwarm happened, a call or a coffee, not
-- a meeting it saw: it asks for no follow-up.
meetings as (
    select *
    from core.interactions
    where not is_noise and channel = 'meeting' and is_one_on_one and occurred_at <= $as_of
      and account <> 'logged'
      and person_id in (select person_id from ties)
      and occurred_at > $as_of - to_seconds($loop_window_days * 86400)
      and occurred_at <= $as_of - to_seconds($meeting_follow_up_days * 86400)
),

-- A meeting followed by no mail with that person within $meeting_follow_up_days.
unfollowed as (
    select
        m.person_id,
        'meeting_without_follow_up' as loop,
        m.occurred_at as since,
        m.interaction_key,
        null as thread_key
    from meetings m
    where not exists (
        select 1 from mail
        where mail.person_id = m.person_id
          and mail.occurred_at > m.occurred_at
          and mail.occurred_at <= m.occurred_at + to_seconds($meeting_follow_up_days * 86400)
    )
),

loops as (
    select * from unanswered
    union all
    select * from unfollowed
)

select
    loops.person_id,
    ties.display_name,
    loops.loop,
    loops.since,
    round(date_diff('second', loops.since, $as_of) / 86400.0, 1) as days_open,
    case loops.loop
        when 'you_owe_reply' then printf('reply to their message of %s', strftime(loops.since, '%Y-%m-%d'))
        when 'they_owe_reply' then printf('nudge them: your message of %s is unanswered', strftime(loops.since, '%Y-%m-%d'))
        else printf('follow up on your meeting of %s', strftime(loops.since, '%Y-%m-%d'))
    end as next_step,
    loops.interaction_key,
    loops.thread_key
from loops
join ties using (person_id)
order by case loops.loop when 'you_owe_reply' then 1 when 'meeting_without_follow_up' then 2 else 3 end,
         loops.since desc, loops.person_id;

comment on table marts.open_loops is 'Conversations left hanging: messages you never answered, messages of yours left unanswered, meetings with no follow-up. One row per loop, ties only, within loops.window_days.';
comment on column marts.open_loops.person_id is 'core.people.person_id.';
comment on column marts.open_loops.display_name is 'Their name.';
comment on column marts.open_loops.loop is 'you_owe_reply (their message, not itself a reply, ends the thread), they_owe_reply (yours does, past answer_grace_days), meeting_without_follow_up (no mail within meeting_follow_up_days after a one-on-one calendar meeting; contact logged with keepwarm log asks for none).';
comment on column marts.open_loops.since is 'When the unanswered message was sent or the meeting started.';
comment on column marts.open_loops.days_open is 'Days from then to the as-of time.';
comment on column marts.open_loops.next_step is 'What closes the loop.';
comment on column marts.open_loops.interaction_key is 'The message or meeting (core.interactions.interaction_key).';
comment on column marts.open_loops.thread_key is 'Thread of the unanswered message; null for meetings.';
