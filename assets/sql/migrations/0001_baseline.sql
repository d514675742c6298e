-- 0001 baseline: every table that persists from one run to the next, as keepwarm made
-- them before schema migrations existed (commit 0978067). Tables rebuilt whole by every run
-- (create or replace table ... as) are not here: their SQL files own their shape.
--
-- `if not exists` so that a warehouse made before migrations existed can be brought to this
-- baseline in place: engine/migrations.py adds the columns its tables lack, then runs this
-- file, which creates the tables it lacks and (re)writes every comment.

create schema if not exists raw;
create schema if not exists core;
create schema if not exists marts;

-- raw.messages
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

-- raw.events
create table if not exists raw.events (
    account varchar not null,
    source varchar not null,
    calendar_id varchar not null,
    event_key varchar not null,
    ical_uid varchar,
    recurring_event_id varchar,
    status varchar not null,
    start_at timestamptz not null,
    end_at timestamptz not null,
    all_day boolean not null,
    organizer varchar,
    attendees struct(
        address varchar, name varchar, response_status varchar, is_self boolean,
        is_organizer boolean, optional boolean, is_resource boolean
    )[],
    attendees_omitted boolean not null,
    has_conference boolean not null,
    has_location boolean not null,
    event_type varchar not null,
    summary varchar,
    loaded_at timestamptz not null default current_timestamp
);

comment on table raw.events is 'One row per calendar event instance (recurring series expanded). Key: (account, calendar_id, event_key).';
comment on column raw.events.account is 'The calendar owner this event was read for.';
comment on column raw.events.source is 'Connector that delivered it: demo, ics or gcal.';
comment on column raw.events.calendar_id is 'Calendar the event belongs to (primary, a calendar id, or an .ics file name).';
comment on column raw.events.event_key is 'Natural key within the calendar; instances of a series include their original start.';
comment on column raw.events.ical_uid is 'iCalendar UID shared by every instance of a series.';
comment on column raw.events.recurring_event_id is 'The series this instance belongs to, if any.';
comment on column raw.events.status is 'confirmed, tentative or cancelled.';
comment on column raw.events.start_at is 'Start (UTC); midnight UTC of the date for all-day events.';
comment on column raw.events.end_at is 'End (UTC).';
comment on column raw.events.all_day is 'Whether the event has dates rather than times.';
comment on column raw.events.organizer is 'Organizer address, lower-cased.';
comment on column raw.events.attendees is 'Invitees: {address, name, response_status (needsAction/declined/tentative/accepted), is_self, is_organizer, optional, is_resource}.';
comment on column raw.events.attendees_omitted is 'The source left some attendees out of the list.';
comment on column raw.events.has_conference is 'A video-call link is attached.';
comment on column raw.events.has_location is 'A physical location is given.';
comment on column raw.events.event_type is 'default, focusTime, outOfOffice, workingLocation, birthday or fromGmail.';
comment on column raw.events.summary is 'Event title, only stored when the user turned store_subjects on; null otherwise.';
comment on column raw.events.loaded_at is 'When this row was last written by a sync.';

-- raw.quarantine
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

-- raw.sync_state
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

-- raw.demo_truth
create table if not exists raw.demo_truth (
    account varchar not null,
    address varchar not null,
    name varchar,
    segment varchar not null,
    mean_gap_days double,
    started_at timestamptz,
    stopped_at timestamptz,
    planted_cold boolean not null
);

comment on table raw.demo_truth is 'Ground truth of the demo simulator: who each simulated person is and whether their relationship was planted to go cold. Empty unless the demo source ran.';
comment on column raw.demo_truth.account is 'The simulated mailbox.';
comment on column raw.demo_truth.address is 'The person''s main address.';
comment on column raw.demo_truth.name is 'Display name.';
comment on column raw.demo_truth.segment is 'close, regular, acquaintance, outer, one_off, outreach (never answered) or bulk.';
comment on column raw.demo_truth.mean_gap_days is 'Mean days between contacts the simulator drew for this person.';
comment on column raw.demo_truth.started_at is 'When the relationship began.';
comment on column raw.demo_truth.stopped_at is 'When contact stopped, if it was planted to stop; null if it continues.';
comment on column raw.demo_truth.planted_cold is 'True when the relationship stopped long enough before the end that a good rule should call it cold.';

-- raw.actions
-- What the user told keepwarm about a person with `keepwarm log / snooze / ignore /
-- cadence`: the one raw table the user writes rather than a source. Nothing rebuilds it
-- and nothing deletes from it: an undo is one more row, so the table is the whole history
-- of what was said and when. core.actions works out which rows are in force.
create table if not exists raw.actions (
    action_id bigint not null,
    recorded_at timestamptz not null default current_timestamp,
    kind varchar not null,
    undo boolean not null default false,
    undoes bigint,
    query varchar not null,
    address varchar not null,
    person_id varchar not null,
    occurred_on date,
    how varchar,
    minutes double,
    note varchar,
    snoozed_until date,
    days double
);

comment on table raw.actions is 'Every action the user recorded on a person (keepwarm log, snooze, ignore, cadence, and their --undo), one row each, never rewritten or deleted: an undo is a row of its own. Written by the CLI, never by a build. core.actions holds the ones in force. Key: action_id.';
comment on column raw.actions.action_id is 'Order of recording, from 1: for snooze, ignore and cadence the latest row about a person decides.';
comment on column raw.actions.recorded_at is 'When the command ran.';
comment on column raw.actions.kind is 'log (contact no mail or calendar shows), snooze (keep off the going-cold lists until a date), ignore (not a relationship), or cadence (the rhythm wanted with this person).';
comment on column raw.actions.undo is 'True for --undo: a snooze, ignore or cadence undo supersedes the latest of that kind for the person and leaves none in force; a log undo withdraws the logged contact named in undoes.';
comment on column raw.actions.undoes is 'For an undo: the action_id it withdraws (the logged contact; or the snooze, ignore or cadence in force then); null otherwise.';
comment on column raw.actions.query is 'The person as the user typed them (a name or an address).';
comment on column raw.actions.address is 'The normalised address the query resolved to (the address typed, else the person''s main address); core.actions follows it to whoever owns it now, so a later merge carries the action along.';
comment on column raw.actions.person_id is 'core.people.person_id the query resolved to when recorded (kept for the record; core.actions re-resolves through address).';
comment on column raw.actions.occurred_on is 'log: the day the contact happened (default the day it was recorded).';
comment on column raw.actions.how is 'log: call, in-person or other.';
comment on column raw.actions.minutes is 'log: how long an in-person contact lasted, counted as face time (default 60); null for calls and other contact.';
comment on column raw.actions.note is 'log: the user''s own note, kept here only (never in logs or other tables).';
comment on column raw.actions.snoozed_until is 'snooze: the day the person returns to the going-cold lists.';
comment on column raw.actions.days is 'snooze: the --days typed (null with --until); cadence: the days wanted between contacts.';

-- core.interactions and the bookkeeping its incremental builds keep (core/interactions.sql)
create table if not exists core.interactions (
    account varchar,
    interaction_key varchar,
    person_id varchar,
    address varchar,
    occurred_at timestamptz,
    channel varchar,
    direction varchar,
    thread_key varchar,
    n_participants bigint,
    weight double,
    is_reply boolean,
    reply_latency_s bigint,
    in_reply_to_key varchar,
    duration_minutes double,
    in_person boolean,
    on_video boolean,
    is_one_on_one boolean,
    noise_reason varchar,
    is_noise boolean
);

-- What the rows were built from: each raw row's key and the time it was written.
create table if not exists core.interaction_sources (
    kind varchar not null,
    account varchar not null,
    calendar_id varchar,
    source_key varchar not null,
    loaded_at timestamptz not null
);

-- The identities the rows were built with.
create table if not exists core.interaction_identities (
    address varchar,
    person_id varchar,
    is_self boolean,
    is_automated boolean,
    not_a_person varchar
);

create table if not exists core.interaction_builds (
    built_at timestamptz not null,
    mode varchar not null,
    reason varchar not null,
    messages_rebuilt bigint not null,
    events_rebuilt bigint not null,
    rows_written bigint not null,
    fingerprint varchar not null
);

-- The people ignored when the rows were built: when the set changes, their rows are redone.
create table if not exists core.interaction_ignores (person_id varchar);

create table if not exists core.interaction_changes (person_id varchar);

comment on table core.interactions is 'One row per person per message or meeting, noise included and marked; marts use the rows where is_noise is false. Rebuilt incrementally: see core.interaction_builds.';
comment on column core.interactions.account is 'Mailbox or calendar the interaction was read from; ''logged'' for contact the user logged with keepwarm log (core.actions).';
comment on column core.interactions.interaction_key is 'raw.messages.message_key or raw.events.event_key; log-<action_id> for a logged contact (raw.actions).';
comment on column core.interactions.person_id is 'Who the user interacted with (core.people.person_id).';
comment on column core.interactions.address is 'The address of theirs that was used.';
comment on column core.interactions.occurred_at is 'When the message was sent or the meeting started (UTC).';
comment on column core.interactions.channel is 'email or meeting (a logged contact is a one-to-one meeting).';
comment on column core.interactions.direction is 'outbound (the user wrote to them), inbound (they wrote to the user), copied (both on someone else''s message) or meeting.';
comment on column core.interactions.thread_key is 'Thread the message belongs to.';
comment on column core.interactions.n_participants is 'Recipients of the message, or human attendees of the meeting.';
comment on column core.interactions.weight is 'Share of attention: 1 / recipients for mail, 1 / other attendees for meetings.';
comment on column core.interactions.is_reply is 'This message answers one that went the other way.';
comment on column core.interactions.reply_latency_s is 'Seconds between the message answered and this reply.';
comment on column core.interactions.in_reply_to_key is 'For a reply: the interaction_key of the message it answers.';
comment on column core.interactions.duration_minutes is 'Meeting length in minutes.';
comment on column core.interactions.in_person is 'The meeting had a physical location and no video link.';
comment on column core.interactions.on_video is 'The meeting had a video link (conference data, Meet link or a URL).';
comment on column core.interactions.is_one_on_one is 'The meeting had exactly two people: the user and this person.';
comment on column core.interactions.noise_reason is 'Why this does not count as personal contact (bulk headers, declined, cancelled, too large, ..., ignored by you: keepwarm ignore); null when it counts.';
comment on column core.interactions.is_noise is 'noise_reason is set: marts leave this row out.';

comment on table core.interaction_sources is 'Bookkeeping for incremental builds: every raw message and event, and every logged contact in force (core.actions), core.interactions was built from, with the time the raw row was written. A row not here, written since, or here but gone (deleted, or a log withdrawn) is rebuilt next time.';
comment on column core.interaction_sources.kind is 'email (raw.messages) or meeting (raw.events): the channel of the rows it gave core.interactions.';
comment on column core.interaction_sources.account is 'Mailbox or calendar account of the raw row.';
comment on column core.interaction_sources.calendar_id is 'Calendar of a raw.events row; null for messages.';
comment on column core.interaction_sources.source_key is 'raw.messages.message_key, raw.events.event_key, or log-<action_id> for a logged contact (account ''logged'').';
comment on column core.interaction_sources.loaded_at is 'The raw row''s loaded_at when it was read.';

comment on table core.interaction_identities is 'Bookkeeping for incremental builds: core.identities as core.interactions last read it. When a known address changes person or kind, every row is rebuilt.';
comment on column core.interaction_identities.address is 'Normalised address.';
comment on column core.interaction_identities.person_id is 'Its person then.';
comment on column core.interaction_identities.is_self is 'Whether it was the user''s then.';
comment on column core.interaction_identities.is_automated is 'Whether it looked like a machine sender then.';
comment on column core.interaction_identities.not_a_person is 'Why it was not a person then (mailing list, role address), else null.';

comment on table core.interaction_ignores is 'Bookkeeping for incremental builds: the people ignored (keepwarm ignore) when core.interactions was last built. Someone who joins or leaves the set has all their rows rebuilt.';
comment on column core.interaction_ignores.person_id is 'core.people.person_id.';

comment on table core.interaction_changes is 'Bookkeeping for incremental builds: the people whose rows in core.interactions were rewritten since marts.contact_summaries last read this (it then empties it); a null person means every row was rebuilt.';
comment on column core.interaction_changes.person_id is 'core.people.person_id, or null for a full build of core.interactions.';

comment on table core.interaction_builds is 'One row per build of core.interactions: whether it was full or incremental, why, and how much it rebuilt.';
comment on column core.interaction_builds.built_at is 'When the build ran.';
comment on column core.interaction_builds.mode is 'full (every row rebuilt) or incremental (only the rows of raw rows that changed).';
comment on column core.interaction_builds.reason is 'Why a full build was needed (first build, changed SQL or settings, identities that changed, asked for), or "only what changed in raw.*".';
comment on column core.interaction_builds.messages_rebuilt is 'Raw messages whose rows were rebuilt (new, rewritten, deleted, or replies to those).';
comment on column core.interaction_builds.events_rebuilt is 'Raw events and logged contacts whose rows were rebuilt.';
comment on column core.interaction_builds.rows_written is 'Rows of core.interactions written by the build.';
comment on column core.interaction_builds.fingerprint is 'Hash of this SQL file, the macros and the settings it reads; a different one forces a full build.';

-- marts.contact_summaries and its builds (marts/contact_summaries.sql)
create table if not exists marts.contact_summaries (
    person_id varchar,
    first_contact_at timestamptz,
    last_contact_at timestamptz,
    last_two_way_at timestamptz,
    last_inbound_at timestamptz,
    last_outbound_at timestamptz,
    last_meeting_at timestamptz,
    last_inbound_was_reply boolean,
    interactions_30d bigint,
    interactions_90d bigint,
    interactions_365d bigint,
    weighted_30d double,
    weighted_90d double,
    weighted_365d double,
    messages_sent bigint,
    messages_received bigint,
    their_median_reply_hours double,
    your_median_reply_hours double,
    their_reply_rate double,
    your_reply_rate double,
    initiation_share double,
    threads bigint,
    unanswered_outbound_streak bigint,
    unanswered_inbound_streak bigint,
    meetings bigint,
    meetings_one_on_one bigint,
    meetings_group bigint,
    meetings_in_person bigint,
    meetings_video bigint,
    meeting_hours double,
    meeting_hours_365d double,
    touchpoints bigint,
    n_gaps bigint,
    first_touchpoint_at timestamptz,
    mean_gap_days double,
    p90_gap_days double
);

create table if not exists marts.contact_summary_builds (
    built_at timestamptz not null,
    as_of timestamptz not null,
    mode varchar not null,
    reason varchar not null,
    people_rebuilt bigint not null,
    fingerprint varchar not null
);


comment on table marts.contact_summaries is 'One row per person with counted contact (noise and copies left out) as of the last build''s as-of time: the sums, medians and gaps marts.contact_metrics and marts.relationship_status are computed from. Rebuilt incrementally: see marts.contact_summary_builds.';
comment on column marts.contact_summaries.person_id is 'core.people.person_id (any kind: the marts keep people only).';
comment on column marts.contact_summaries.first_contact_at is 'First message or meeting with them.';
comment on column marts.contact_summaries.last_contact_at is 'Latest message either way or meeting.';
comment on column marts.contact_summaries.last_two_way_at is 'Latest reply either way, or meeting.';
comment on column marts.contact_summaries.last_inbound_at is 'Latest message they sent the user.';
comment on column marts.contact_summaries.last_outbound_at is 'Latest message the user sent them.';
comment on column marts.contact_summaries.last_meeting_at is 'Latest meeting with them.';
comment on column marts.contact_summaries.last_inbound_was_reply is 'Their latest message answered one of the user''s (null when they never wrote).';
comment on column marts.contact_summaries.interactions_30d is 'Messages either way plus meetings in the 30 days before as-of.';
comment on column marts.contact_summaries.interactions_90d is 'The same over 90 days.';
comment on column marts.contact_summaries.interactions_365d is 'The same over 365 days.';
comment on column marts.contact_summaries.weighted_30d is 'Interactions over 30 days, each weighted by 1 / audience size (unrounded).';
comment on column marts.contact_summaries.weighted_90d is 'The same over 90 days.';
comment on column marts.contact_summaries.weighted_365d is 'The same over 365 days.';
comment on column marts.contact_summaries.messages_sent is 'Messages the user sent them.';
comment on column marts.contact_summaries.messages_received is 'Messages they sent the user.';
comment on column marts.contact_summaries.their_median_reply_hours is 'Median hours they took to answer the user.';
comment on column marts.contact_summaries.your_median_reply_hours is 'Median hours the user took to answer them.';
comment on column marts.contact_summaries.their_reply_rate is 'Share of the user''s messages to them that they answered.';
comment on column marts.contact_summaries.your_reply_rate is 'Share of their messages that the user answered.';
comment on column marts.contact_summaries.initiation_share is 'Share of email threads with them that the user opened.';
comment on column marts.contact_summaries.threads is 'Email threads with them.';
comment on column marts.contact_summaries.unanswered_outbound_streak is 'Messages the user sent since they last wrote or met.';
comment on column marts.contact_summaries.unanswered_inbound_streak is 'Messages they sent since the user last wrote or met.';
comment on column marts.contact_summaries.meetings is 'Meetings with them that counted.';
comment on column marts.contact_summaries.meetings_one_on_one is 'Of which just the two of you.';
comment on column marts.contact_summaries.meetings_group is 'Of which with more people.';
comment on column marts.contact_summaries.meetings_in_person is 'Of which in person.';
comment on column marts.contact_summaries.meetings_video is 'Of which with a video link.';
comment on column marts.contact_summaries.meeting_hours is 'Hours in those meetings.';
comment on column marts.contact_summaries.meeting_hours_365d is 'Hours in meetings with them over the last 365 days.';
comment on column marts.contact_summaries.touchpoints is 'Separate conversations in one-to-one mail and meetings (group mail only for someone with no other contact): contact within status.session_gap_days of the previous contact continues it.';
comment on column marts.contact_summaries.n_gaps is 'Silences between touchpoints (touchpoints - 1).';
comment on column marts.contact_summaries.first_touchpoint_at is 'Start of the first of those touchpoints.';
comment on column marts.contact_summaries.mean_gap_days is 'Mean silence between touchpoints (null with one touchpoint).';
comment on column marts.contact_summaries.p90_gap_days is '90th percentile of those silences.';

comment on table marts.contact_summary_builds is 'One row per build of marts.contact_summaries: full or incremental, why, and how many people it redid.';
comment on column marts.contact_summary_builds.built_at is 'When the build ran.';
comment on column marts.contact_summary_builds.as_of is 'The as-of time it was built for; the next build redoes the people whose contact lies between it and its own.';
comment on column marts.contact_summary_builds.mode is 'full (every person) or incremental.';
comment on column marts.contact_summary_builds.reason is 'Why a full build was needed, or that only changed people were redone.';
comment on column marts.contact_summary_builds.people_rebuilt is 'People whose rows were rebuilt.';
comment on column marts.contact_summary_builds.fingerprint is 'Hash of this SQL file, the macros and the settings it reads; a different one forces a full build.';

-- marts.status_history: the one mart no run can rebuild (history/status_history.sql)
create table if not exists marts.status_history (
    snapshot_date date not null,
    person_id varchar not null,
    status varchar not null,
    tie_strength double,
    dunbar_layer integer,
    days_silent double,
    usual_gap_days double,
    silence_probability double,
    attention_rank bigint,
    primary key (snapshot_date, person_id)
);

comment on table marts.status_history is 'Daily snapshots of marts.relationship_status: one row per tie per day, as the model saw it at the end of that day (a daily-partitioned asset, filled nightly and backfillable). Query trends: warming, cooling.';
comment on column marts.status_history.snapshot_date is 'The day (UTC) whose end the statuses describe.';
comment on column marts.status_history.person_id is 'core.people.person_id.';
comment on column marts.status_history.status is 'new, active, cooling, cold or dormant as of that day.';
comment on column marts.status_history.tie_strength is 'Tie strength (0-100) as of that day.';
comment on column marts.status_history.dunbar_layer is 'Dunbar layer as of that day (null when not an active tie).';
comment on column marts.status_history.days_silent is 'Days since last contact, as of that day.';
comment on column marts.status_history.usual_gap_days is 'Expected gap between touchpoints, as learned by that day.';
comment on column marts.status_history.silence_probability is 'Chance of a silence that long under their rhythm, as of that day.';
comment on column marts.status_history.attention_rank is 'Place on that day''s list (1 = most worth acting on).';
