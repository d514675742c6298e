-- Every address seen in mail or on the calendar, normalised, mapped to the person it
-- belongs to. Merges the user confirmed in config arrive as $merge_addresses (each
-- address) and $merge_into (the address of the person it belongs to), in the same order;
-- $split_addresses are spellings the user wants kept apart from what folding would join
-- them to. The noise allow-list ($allow_list) also vouches that an address is a person.
create or replace table core.identities as
with

-- Each header or attendee list is unnested once and counted per (spelling, name):
-- millions of occurrences fold into a few spellings each, and only those are normalised.
seen as (
    select written, name, count(*) as times
    from (
        select a.address as written, nullif(trim(a.name), '') as name
        from (
            -- Each list on its own: concatenating them first copies every address once
            -- more, and costs twice the unnesting.
            select unnest(from_addrs) as a from raw.messages
            union all
            select unnest(to_addrs) from raw.messages
            union all
            select unnest(cc_addrs) from raw.messages
            union all
            select unnest(bcc_addrs) from raw.messages
        )
        union all
        select a.address, nullif(trim(a.name), '')
        from (select unnest(attendees) as a from raw.events)
        union all
        select organizer, null from raw.events where organizer is not null
    )
    where written like '%_@_%'
    group by all
),

spellings as (
    select written, normalize_address(written, keep := $split_addresses) as address
    from (select distinct written from seen)
),

normalised as (
    select spellings.address, seen.written, seen.name, seen.times
    from seen
    join spellings using (written)
),

-- Whoever sent mail that Gmail labelled SENT is the user, whatever the config says.
sent_by_user as (
    select distinct normalize_address(written, keep := $split_addresses) as address
    from (
        select distinct from_addrs[1].address as written
        from raw.messages
        where list_contains(labels, 'SENT') and len(from_addrs) > 0
    )
),

-- The calendar marks the owner's own entry with self = true, and a Gmail mailbox's
-- account is its profile address.
self_on_calendar as (
    select distinct normalize_address(written, keep := $split_addresses) as address
    from (
        select distinct a.address as written
        from (select unnest(attendees) as a from raw.events)
        where a.is_self
    )
),

user_addresses as (
    select normalize_address(unnest($self_addresses), keep := $split_addresses) as address
    union
    select address from sent_by_user
    union
    select address from self_on_calendar
    union
    select distinct normalize_address(account) from raw.messages where source = 'gmail'
),

-- A mailing list's List-Id is its address with the first '@' written as '.'
-- (RFC 2919 recommends it; Mailman and Google Groups follow it).
list_addresses as (
    select distinct
        regexp_replace(
            lower(coalesce(regexp_extract(list_id, '<([^>]+)>', 1), list_id)), '\.', '@'
        ) as address
    from raw.messages
    where list_id is not null
),

confirmed_merges as (
    select
        normalize_address(unnest($merge_addresses), keep := $split_addresses) as address,
        normalize_address(unnest($merge_into), keep := $split_addresses) as person_id
),

allowed as (
    select lower(unnest($allow_list)) as pattern
),

-- The address book (core.contacts: each contact as it stands, addresses normalised). All
-- addresses of one contact are one person, named by the contact's first address seen in
-- mail or on the calendar; a merge confirmed in config still wins, and an address in two
-- contacts goes with the contact listed first (by account, source, key). A contact is
-- keyed by its account too: two address books may give one key to different people.
contact_addresses as (
    select c.account, c.source, c.contact_key, c.display_name as contact_name,
           a.address, a.position
    from core.contacts c,
         unnest(c.addresses) with ordinality as a(address, position)
),

contact_first_seen as (
    select account, source, contact_key, any_value(contact_name) as contact_name,
           arg_min(address, position) as person_id
    from contact_addresses
    where address in (select address from normalised)
    group by account, source, contact_key
),

contact_merges as (
    select ca.address,
           first(cf.person_id order by cf.account, cf.source, cf.contact_key) as person_id,
           first(cf.contact_name order by cf.account, cf.source, cf.contact_key) as contact_name
    from contact_addresses ca
    join contact_first_seen cf using (account, source, contact_key)
    group by ca.address
),

names as (
    select address, name, sum(times) as times
    from normalised
    where name is not null
    group by all
),

-- The name written most often beside the address; ties go to the alphabetically first,
-- so the choice does not depend on the order rows happen to arrive in.
best_name as (
    select address, first(name order by times desc, name) as display_name
    from names
    group by address
),

addresses as (
    select
        address,
        list_sort(list_distinct(list(written))) as spellings,
        best_name.display_name,
        sum(times) as times_seen
    from normalised
    left join best_name using (address)
    group by address, best_name.display_name
),

classified as (
    select
        addresses.*,
        exists (
            select 1 from allowed
            where allowed.pattern = addresses.address
               or (starts_with(allowed.pattern, '@') and ends_with(addresses.address, allowed.pattern))
        ) as is_allowed
    from addresses
)

select
    addresses.address,
    coalesce(confirmed_merges.person_id, contact_merges.person_id, addresses.address)
        as person_id,
    coalesce(contact_merges.contact_name, addresses.display_name) as display_name,
    addresses.spellings,
    addresses.times_seen,
    addresses.address in (select address from user_addresses) as is_self,
    list_contains($role_local_parts, split_part(addresses.address, '@', 1))
        and not addresses.is_allowed as is_role,
    addresses.address in (select address from list_addresses)
        and not addresses.is_allowed as is_list,
    regexp_matches(
        split_part(addresses.address, '@', 1),
        '^(no-?reply|do-?not-?reply|donotreply|notifications?|notify|mailer-daemon|postmaster|bounces?|alerts?)([.-].*)?$'
    )
        and not addresses.is_allowed as is_automated
from classified addresses
left join confirmed_merges using (address)
left join contact_merges using (address)
order by person_id, address;

comment on table core.identities is 'Every address seen, normalised (lower case, no +tag, gmail dots and googlemail.com folded), and the person it belongs to.';
comment on column core.identities.address is 'Normalised address; the key of this table.';
comment on column core.identities.person_id is 'The person this address belongs to: the first address of a merge confirmed in config, else the first address (seen in mail or on the calendar) of the address-book contact that lists it, else the address itself.';
comment on column core.identities.display_name is 'The name of the address-book contact that lists this address, else the name most often written beside it.';
comment on column core.identities.spellings is 'Every way this address was written before normalising.';
comment on column core.identities.times_seen is 'How many headers or attendee lists carried it.';
comment on column core.identities.is_self is 'One of the user''s own addresses: config me.addresses, the sender of mail labelled SENT, a Gmail account synced, or a calendar attendee marked self.';
comment on column core.identities.is_role is 'A shared mailbox, not a person: the local part is a role (info@, team@, support@, ... see noise.role_local_parts) and noise.allow does not name it.';
comment on column core.identities.is_list is 'A mailing list: the address matches a List-Id header seen in mail (RFC 2919), and noise.allow does not name it.';
comment on column core.identities.is_automated is 'The local part marks a machine sender (noreply, notifications, mailer-daemon, ...) and the allow-list does not name it.';
