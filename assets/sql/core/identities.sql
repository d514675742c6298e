-- Every address seen in mail or on the calendar, normalised, mapped to the person it
-- belongs to. Merges the user confirmed in config arrive as $merge_addresses (each
-- address) and $merge_into (the address of the person it belongs to), in the same order.
create or replace table core.identities as
with

message_addresses as (
    select unnest(from_addrs || to_addrs || cc_addrs || bcc_addrs) as a
    from raw.messages
),

event_addresses as (
    select unnest(attendees) as a from raw.events
),

seen as (
    select a.address as written, a.name from message_addresses
    union all
    select a.address, a.name from event_addresses
    union all
    select organizer, null from raw.events where organizer is not null
),

normalised as (
    select normalize_address(written) as address, written, nullif(trim(name), '') as name
    from seen
    where written like '%_@_%'
),

-- Whoever sent mail that Gmail labelled SENT is the user, whatever the config says.
sent_by_user as (
    select distinct normalize_address(from_addrs[1].address) as address
    from raw.messages
    where list_contains(labels, 'SENT') and len(from_addrs) > 0
),

user_addresses as (
    select normalize_address(unnest($self_addresses)) as address
    union
    select address from sent_by_user
),

confirmed_merges as (
    select
        normalize_address(unnest($merge_addresses)) as address,
        normalize_address(unnest($merge_into)) as person_id
),

allowed as (
    select lower(unnest($allow_list)) as pattern
),

addresses as (
    select
        address,
        list_sort(list_distinct(list(written))) as spellings,
        mode(name) as display_name,
        count(*) as times_seen
    from normalised
    group by address
)

select
    addresses.address,
    coalesce(confirmed_merges.person_id, addresses.address) as person_id,
    addresses.display_name,
    addresses.spellings,
    addresses.times_seen,
    addresses.address in (select address from user_addresses) as is_self,
    regexp_matches(
        split_part(addresses.address, '@', 1),
        '^(no-?reply|do-?not-?reply|donotreply|notifications?|notify|mailer-daemon|postmaster|bounces?|alerts?)([.-].*)?$'
    )
    and not exists (
        select 1 from allowed
        where allowed.pattern = addresses.address
           or (starts_with(allowed.pattern, '@') and ends_with(addresses.address, allowed.pattern))
    ) as is_automated
from addresses
left join confirmed_merges using (address)
order by person_id, address;

comment on table core.identities is 'Every address seen, normalised (lower case, no +tag, gmail dots and googlemail.com folded), and the person it belongs to.';
comment on column core.identities.address is 'Normalised address; the key of this table.';
comment on column core.identities.person_id is 'The person this address belongs to: the first address of a merge confirmed in config, else the address itself.';
comment on column core.identities.display_name is 'The name most often written beside this address.';
comment on column core.identities.spellings is 'Every way this address was written before normalising.';
comment on column core.identities.times_seen is 'How many headers or attendee lists carried it.';
comment on column core.identities.is_self is 'One of the user''s own addresses (config me.addresses, or the sender of mail labelled SENT).';
comment on column core.identities.is_automated is 'The local part marks a machine sender (noreply, notifications, mailer-daemon, ...) and the allow-list does not name it.';
