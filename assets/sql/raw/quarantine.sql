create table if not exists raw.quarantine (
    source varchar not null,
    account varchar not null,
    kind varchar not null,
    locator varchar not null,
    reason varchar not null,
    excerpt varchar,
    first_seen_at timestamptz not null default current_timestamp
);

comment on table raw.quarantine is 'Inputs a connector could not turn into a message or event, kept with the reason so nothing is lost silently. Key: (source, account, locator).';
comment on column raw.quarantine.source is 'Connector that rejected it.';
comment on column raw.quarantine.account is 'Account it was read for.';
comment on column raw.quarantine.kind is 'message or event.';
comment on column raw.quarantine.locator is 'Where to find it again: file path and byte offset, a Gmail id or an event UID.';
comment on column raw.quarantine.reason is 'Why it was rejected.';
comment on column raw.quarantine.excerpt is 'The start of its header block (never a body), to help diagnose it.';
comment on column raw.quarantine.first_seen_at is 'When it was first quarantined.';
