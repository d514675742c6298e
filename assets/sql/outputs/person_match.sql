-- The people whose name or address matches $query, best first (engine/people.py; every
-- command that takes QUERY). exact: the name (any case) or one of their addresses is the
-- query; words: the query's words start words of the name or an address, in order ("ana
-- eri" for Ana Eriksen, but not Rosa Tanaka); partial: the query is part of the name or an
-- address; similarity: Jaro-Winkler of the query against the name and each address, the
-- best of them (1 = equal).
with

query as (
    select
        lower(trim($query)) as q,
        -- Letters and digits only, each word behind a space: ' ana eri'.
        ' ' || trim(regexp_replace(lower($query), '[^\pL\pN]+', ' ', 'g')) as q_words
),

people as (
    select p.person_id, p.display_name, p.addresses, m.last_contact_at, m.tie_strength
    from core.people p
    left join marts.contact_metrics m using (person_id)
    where p.kind = 'person'
),

scored as (
    select
        people.*,
        lower(display_name) = q
            or list_contains(addresses, normalize_address(q, keep := $split_addresses))
            as exact,
        q_words <> ' ' and (
            contains(' ' || trim(regexp_replace(lower(display_name), '[^\pL\pN]+', ' ', 'g')),
                     q_words)
            or list_bool_or(list_transform(addresses, lambda a: contains(
                ' ' || trim(regexp_replace(a, '[^\pL\pN]+', ' ', 'g')), q_words)))
        ) as words,
        contains(lower(display_name), q)
            or list_bool_or(list_transform(addresses, lambda a: contains(a, q))) as partial,
        greatest(
            jaro_winkler_similarity(lower(display_name), q),
            list_max(list_transform(addresses, lambda a: jaro_winkler_similarity(a, q)))
        ) as similarity
    from people, query
)

select person_id, display_name, addresses[1] as address, last_contact_at, exact, words,
       partial, round(similarity, 3) as similarity
from scored
where exact or words or partial or similarity >= $min_similarity
order by exact desc, words desc, partial desc, similarity desc, tie_strength desc nulls last,
         person_id
limit 20;
