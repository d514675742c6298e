-- Which person each address-book contact is, beside what the marts read of the contact
-- (core.contacts: its latest version). Keyed by account as well as source and key: two
-- address books in one warehouse may give the same key to different people.
--
-- A contact's person is the person (core.identities) of its first address that has one
-- and is not the user's own. core.identities has already merged the contact's addresses
-- into one person unless a merge in config or an earlier contact claimed an address, so
-- this is the person the contact's mail counts for. A contact none of whose addresses was
-- seen in mail or on the calendar (or that has none) keeps its row, with no person: the
-- digest still names its birthday by the contact's name.
create or replace table core.contact_people as
with

contacts as (
    select * from core.contacts
),

person_of_contact as (
    select c.account, c.source, c.contact_key,
           arg_min(i.person_id, a.position) as person_id
    from contacts c,
         unnest(c.addresses) with ordinality as a(address, position)
    join core.identities i on i.address = a.address
    where not i.is_self
    group by c.account, c.source, c.contact_key
)

select
    contacts.account,
    contacts.source,
    contacts.contact_key,
    contacts.version,
    person_of_contact.person_id,
    contacts.display_name,
    contacts.organization,
    contacts.title,
    contacts.birthday,
    contacts.events,
    contacts.groups
from contacts
left join person_of_contact using (account, source, contact_key)
order by account, source, contact_key;

comment on table core.contact_people is 'Each address-book contact as it stands (core.contacts) and the person it is. Key: (account, source, contact_key); several contacts can be one person.';
comment on column core.contact_people.account is 'The address book owner it was read for.';
comment on column core.contact_people.source is 'gcontacts (People API), vcard or demo.';
comment on column core.contact_people.contact_key is 'People API resource name (people/c...) or the vCard UID, unique within (account, source).';
comment on column core.contact_people.version is 'The raw.contacts version this is (the latest).';
comment on column core.contact_people.person_id is 'The person (core.people) of its first address that is in core.identities and not the user''s; null when none is.';
comment on column core.contact_people.display_name is 'The contact''s name as the address book shows it; null when blank.';
comment on column core.contact_people.organization is 'Current organisation.';
comment on column core.contact_people.title is 'Job title at that organisation.';
comment on column core.contact_people.birthday is 'Birthday as YYYY-MM-DD, or --MM-DD when the year is not known.';
comment on column core.contact_people.events is 'Other dates: {kind (anniversary, other, ...), date as YYYY-MM-DD or --MM-DD}.';
comment on column core.contact_people.groups is 'Contact-group resource names (gcontacts) or category names (vcard), as raw.contact_groups keys them.';
