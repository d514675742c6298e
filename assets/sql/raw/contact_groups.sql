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
