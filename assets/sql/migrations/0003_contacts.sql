-- 0003: the address book (issue 16). raw.contacts keeps one row per version of a contact
-- from Google Contacts, a .vcf file or the demo, so an earlier organisation or title stays
-- visible; raw.contact_groups names the labels the memberships point at. Both are new
-- tables: a warehouse from before has no rows to carry over.

create table if not exists raw.contacts (
    account varchar not null,
    source varchar not null,
    contact_key varchar not null,
    etag varchar,
    version integer not null,
    deleted boolean not null,
    display_name varchar,
    emails varchar[] not null,
    organization varchar,
    title varchar,
    birthday varchar,
    events struct(kind varchar, date varchar)[] not null,
    groups varchar[] not null,
    seen_at timestamptz not null
);

comment on table raw.contacts is 'One row per version of an address-book contact (Google Contacts or a .vcf file): a new row whenever the source gives a different version, so earlier organisations and titles stay visible. Key: (account, source, contact_key, version).';
comment on column raw.contacts.account is 'The address book owner this contact was read for.';
comment on column raw.contacts.source is 'Connector that delivered it: gcontacts (People API), vcard or demo.';
comment on column raw.contacts.contact_key is 'People API resource name (people/c...) or the vCard UID (vcard:<hash> without one).';
comment on column raw.contacts.etag is 'The source''s version tag (People etag, vCard REV or a hash of the card).';
comment on column raw.contacts.version is 'Version number of this contact, 1 for the first seen, counting up.';
comment on column raw.contacts.deleted is 'True for the row that records the source deleting the contact (its other columns empty).';
comment on column raw.contacts.display_name is 'The contact''s name as the address book shows it.';
comment on column raw.contacts.emails is 'Email addresses, lower-cased, the primary one first.';
comment on column raw.contacts.organization is 'Current organisation (the first entry without an end date).';
comment on column raw.contacts.title is 'Job title at that organisation.';
comment on column raw.contacts.birthday is 'Birthday as YYYY-MM-DD, or --MM-DD when the year is not known.';
comment on column raw.contacts.events is 'Other dates: {kind (anniversary, other, ...), date as YYYY-MM-DD or --MM-DD}.';
comment on column raw.contacts.groups is 'Contact-group resource names (gcontacts) or category names (vcard).';
comment on column raw.contacts.seen_at is 'When this version was first read.';

create table if not exists raw.contact_groups (
    account varchar not null,
    source varchar not null,
    group_key varchar not null,
    name varchar not null,
    group_type varchar not null,
    loaded_at timestamptz not null
);

comment on table raw.contact_groups is 'Contact groups (labels) of an address book, as last read; replaced whole on each read. Key: (account, source, group_key).';
comment on column raw.contact_groups.account is 'The address book owner.';
comment on column raw.contact_groups.source is 'gcontacts, vcard or demo.';
comment on column raw.contact_groups.group_key is 'Group resource name (contactGroups/...) as memberships in raw.contacts.groups name it; for vcard the category itself.';
comment on column raw.contact_groups.name is 'The label as the user named it (Family, Clients, ...).';
comment on column raw.contact_groups.group_type is 'USER_CONTACT_GROUP or SYSTEM_CONTACT_GROUP (myContacts, starred, ...).';
comment on column raw.contact_groups.loaded_at is 'When the group list was read.';
