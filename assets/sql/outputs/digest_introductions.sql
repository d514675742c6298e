-- Digest, "Introductions not yet taken", from marts.introductions over the last
-- $days days: ones the user made whose two people have not been in touch since, and
-- referrals the user received whose newcomer has not become a tie. Newest first.
select
    kind,
    introduced_at,
    introducer_id,
    introducer_name,
    person_a_id,
    person_a_name,
    person_b_id,
    person_b_name,
    follow_ups,
    count(*) over () as total
from marts.introductions
where introduced_at > $as_of::timestamptz - to_days($days)
  and (
    (kind = 'made' and not followed_up)
    or (kind = 'received' and not coalesce(became_tie, false))
  )
order by introduced_at desc, interaction_key
limit $limit;
