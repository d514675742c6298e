create table if not exists raw.messages (
    account varchar not null,
    source varchar not null,
    message_key varchar not null,
    rfc_message_id varchar,
    thread_key varchar,
    sent_at timestamptz not null,
    date_source varchar not null,
    from_addrs struct(address varchar, name varchar)[],
    to_addrs struct(address varchar, name varchar)[],
    cc_addrs struct(address varchar, name varchar)[],
    bcc_addrs struct(address varchar, name varchar)[],
    in_reply_to varchar,
    "references" varchar[],
    labels varchar[],
    list_id varchar,
    precedence varchar,
    auto_submitted varchar,
    has_list_unsubscribe boolean not null,
    subject varchar,
    loaded_at timestamptz not null default current_timestamp
);

comment on table raw.messages is 'One row per email as the source delivered it: headers only, never bodies. Key: (account, message_key).';
comment on column raw.messages.account is 'The mailbox this message was read from.';
comment on column raw.messages.source is 'Connector that delivered it: demo, mbox, maildir or gmail.';
comment on column raw.messages.message_key is 'Natural key within the account: Gmail id, else RFC Message-ID, else a hash of stable headers.';
comment on column raw.messages.rfc_message_id is 'Message-ID header without angle brackets.';
comment on column raw.messages.thread_key is 'Gmail threadId or X-GM-THRID, else the root of References.';
comment on column raw.messages.sent_at is 'When it was sent (UTC). See date_source for where the time came from.';
comment on column raw.messages.date_source is 'internal_date (Gmail), date_header, envelope (mbox From_ line), received, or simulated.';
comment on column raw.messages.from_addrs is 'Parsed From header: list of {address, name}.';
comment on column raw.messages.to_addrs is 'Parsed To header: list of {address, name}.';
comment on column raw.messages.cc_addrs is 'Parsed Cc header: list of {address, name}.';
comment on column raw.messages.bcc_addrs is 'Parsed Bcc header (only visible on mail you sent): list of {address, name}.';
comment on column raw.messages.in_reply_to is 'Message-ID this message replies to.';
comment on column raw.messages."references" is 'Message-IDs of the thread so far, oldest first.';
comment on column raw.messages.labels is 'Gmail labels (SENT marks mail you sent; CATEGORY_* are Gmail tabs).';
comment on column raw.messages.list_id is 'List-Id header (RFC 2919): present on mailing-list mail.';
comment on column raw.messages.precedence is 'Precedence header, lower-cased: bulk, list and junk mark automated mail.';
comment on column raw.messages.auto_submitted is 'Auto-Submitted header (RFC 3834), lower-cased: anything but "no" is automated.';
comment on column raw.messages.has_list_unsubscribe is 'Whether a List-Unsubscribe header (RFC 2369) was present.';
comment on column raw.messages.subject is 'Subject line, only stored when the user turned store_subjects on; null otherwise.';
comment on column raw.messages.loaded_at is 'When this row was last written by a sync.';
