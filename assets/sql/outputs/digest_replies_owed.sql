-- Digest, "Replies you owe": the open loops where someone wrote and the user has not
-- answered (marts.open_loops, past loops.reply_grace_days), oldest first: the longer a
-- message has waited, the more an answer is owed.
select
    person_id,
    display_name,
    since,
    days_open,
    next_step,
    count(*) over () as total
from marts.open_loops
where loop = 'you_owe_reply'
order by since, person_id
limit $limit;
