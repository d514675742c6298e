create table if not exists raw.sync_state (
    account varchar not null,
    source varchar not null,
    stream varchar not null,
    cursor json not null,
    updated_at timestamptz not null default current_timestamp
);

comment on table raw.sync_state is 'Where each source stream stopped, written in the same transaction as the rows it covers. Key: (account, source, stream).';
comment on column raw.sync_state.account is 'Account the stream belongs to.';
comment on column raw.sync_state.source is 'Connector: demo, mbox, maildir, ics, gmail or gcal.';
comment on column raw.sync_state.stream is 'One resumable sequence: a file path, "history" for Gmail, a calendar id.';
comment on column raw.sync_state.cursor is 'The connector''s own position as JSON (Gmail historyId, Calendar syncToken, file size/mtime/offset).';
comment on column raw.sync_state.updated_at is 'When the cursor last moved.';
