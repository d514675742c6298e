-- One row per person other than the user, with one display name and all their addresses.
create or replace table core.people as
with

identities as (
    select * from core.identities where not is_self
),

names as (
    select person_id, display_name, sum(times_seen) as times_seen
    from identities
    where display_name is not null
    group by all
),

-- Ties go to the alphabetically first name, so the choice does not depend on the order
-- rows happen to arrive in.
best_name as (
    select person_id, first(display_name order by times_seen desc, display_name) as display_name
    from names
    group by person_id
)

select
    identities.person_id,
    coalesce(best_name.display_name, split_part(identities.person_id, '@', 1)) as display_name,
    list_sort(list(identities.address)) as addresses,
    count(*) as n_addresses,
    bool_and(identities.is_automated) as is_automated,
    -- One ordinary address among a person's (a merge the user confirmed) makes them a
    -- person; otherwise the address says what kind of sender this is.
    case
        when bool_or(not (identities.is_automated or identities.is_role or identities.is_list))
            then 'person'
        when bool_or(identities.is_list) then 'list'
        when bool_or(identities.is_role) then 'role'
        else 'automated'
    end as kind
from identities
left join best_name using (person_id)
group by identities.person_id, best_name.display_name
order by identities.person_id;

comment on table core.people is 'Everyone the user has mailed or met, one row per person (merged addresses together); the user is not in it.';
comment on column core.people.person_id is 'Stable id: the person''s main normalised address.';
comment on column core.people.display_name is 'The name most often written beside any of their addresses (else the address''s local part).';
comment on column core.people.addresses is 'All their normalised addresses.';
comment on column core.people.n_addresses is 'How many addresses they have.';
comment on column core.people.is_automated is 'Every address of theirs looks like a machine sender.';
comment on column core.people.kind is 'person; or what else the addresses are: list (a mailing list), role (a shared mailbox such as info@ or team@) or automated (noreply and the like). Only people get metrics.';
