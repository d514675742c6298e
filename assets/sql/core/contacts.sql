-- The address book as it stands: each contact's latest version (raw.contacts keeps every
-- version), left out when that version records the contact's deletion. The one place the
-- latest version is chosen: core.identities reads it to merge a contact's addresses into
-- one person, core.contact_people to say which person each contact is. Only
-- marts.job_changes reads raw.contacts itself, for the changes between versions.
-- Addresses are normalised here, with the user's identities.split ($split_addresses), so
-- that both match them against core.identities alike.
create or replace table core.contacts as
select
    account,
    source,
    contact_key,
    version,
    nullif(trim(display_name), '') as display_name,
    list_transform(emails, lambda e: normalize_address(e, keep := $split_addresses)) as addresses,
    organization,
    title,
    birthday,
    events,
    groups,
    seen_at
from raw.contacts
qualify row_number() over (
    partition by account, source, contact_key order by version desc
) = 1 and not deleted
order by account, source, contact_key;

comment on table core.contacts is 'Each address-book contact as it stands now: its latest version, unless that records its deletion. Key: (account, source, contact_key).';
comment on column core.contacts.account is 'The address book owner it was read for: two books (say a work and a personal Google account) can use the same contact_key for different people.';
comment on column core.contacts.source is 'gcontacts (People API), vcard or demo.';
comment on column core.contacts.contact_key is 'People API resource name (people/c...) or the vCard UID, unique within (account, source).';
comment on column core.contacts.version is 'The raw.contacts version this is (the latest).';
comment on column core.contacts.display_name is 'The contact''s name as the address book shows it; null when blank.';
comment on column core.contacts.addresses is 'Its email addresses in the book''s order (the primary one first), normalised as core.identities.address is.';
comment on column core.contacts.organization is 'Current organisation.';
comment on column core.contacts.title is 'Job title at that organisation.';
comment on column core.contacts.birthday is 'Birthday as YYYY-MM-DD, or --MM-DD when the year is not known.';
comment on column core.contacts.events is 'Other dates: {kind (anniversary, other, ...), date as YYYY-MM-DD or --MM-DD}.';
comment on column core.contacts.groups is 'Contact-group resource names (gcontacts) or category names (vcard): the labels, as raw.contact_groups keys them.';
comment on column core.contacts.seen_at is 'When this version was first read.';
