-- Digest, "Replies you owe": the people whose messages the user has not answered
-- (marts.open_loops, past loops.reply_grace_days), one entry per person however many of
-- their messages wait, the person waiting longest first: the longer a message has
-- waited, the more an answer is owed.
select
    person_id,
    any_value(display_name) as display_name,
    min(since) as since,
    list(since order by since) as waiting_since,
    -- Whole days as the other sections round them (half away from zero).
    round(max(days_open))::int as days_open,
    arg_min(next_step, since) as next_step,
    count(*) over () as total,
    sum(count(*)) over ()::int as messages
from marts.open_loops
where loop = 'you_owe_reply'
group by person_id
order by since, person_id
limit $limit;
