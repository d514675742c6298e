-- One row per person per message or meeting. Noise stays in the table, marked with the
-- reason, so that "why does this not count?" can be answered with a query.
--
-- Contact the user logged with `keepwarm log` (core.actions) enters as a one-to-one
-- meeting from the account 'logged', keyed 'log-<action_id>'; the rows of a person the
-- user ignores (`keepwarm ignore`) stay, marked 'ignored by you'.
--
-- Built incrementally. A row depends only on its own message, meeting or logged contact,
-- the message it answers, its other copies (the same dedupe_key: one copy counts),
-- core.identities, whether its person is ignored and a few settings, so a nightly run
-- rebuilds the rows of what changed in raw.* (and in the actions in force) since the last
-- build, with their copies, and leaves the rest. Everything is rebuilt when
-- that is not enough: on the first build, when this file or a setting it reads changed
-- ($sql_fingerprint), when an address already seen changed person or kind in
-- core.identities, or when asked ($full_rebuild). docs/architecture.md has the design.

create or replace temp view current_identities as
select
    address, person_id, is_self, is_automated,
    case
        when is_list then 'not a person: mailing list'
        when is_role then 'not a person: role address'
    end as not_a_person
from core.identities;

-- What the user told keepwarm: contact no mail or calendar shows, and who is not a
-- relationship. Logged contacts are sources like raw rows, with the time they were
-- recorded as their loaded_at.
create or replace temp view logged_contacts as
select
    'logged' as account,
    'log-' || action_id as source_key,
    recorded_at as loaded_at,
    address,
    occurred_at,
    how,
    minutes
from core.actions
where kind = 'log' and person_id is not null;

create or replace temp view ignored_people as
select distinct person_id from core.actions where kind = 'ignore' and person_id is not null;

-- Why everything must be rebuilt; null when the changes alone will do.
create or replace temp table interaction_rebuild as
with

last_build as (
    select fingerprint from core.interaction_builds order by built_at desc limit 1
),

changed_identities as (
    select count(*) as n
    from core.interaction_identities was
    join current_identities now using (address)
    where was.person_id is distinct from now.person_id
       or was.is_self is distinct from now.is_self
       or was.is_automated is distinct from now.is_automated
       or was.not_a_person is distinct from now.not_a_person
)

select
    case
        when $full_rebuild then 'a full rebuild was asked for'
        when not exists (select 1 from last_build) then 'first build'
        when (select fingerprint from last_build) <> $sql_fingerprint
            then 'the SQL or a setting it reads changed'
        when (select n from changed_identities) > 0
            then (select n from changed_identities)
                 || ' known addresses changed person or kind in core.identities'
    end as reason;

-- The raw rows to (re)build: all of them, or those new, rewritten or deleted since the
-- last build, and the replies whose parent is among them (is_reply and the latency
-- depend on the parent).
create or replace temp table interaction_scope as
with

everything as (
    select reason is not null as yes from interaction_rebuild
),

-- Raw rows new or written since (loaded_at differs), and rows gone from raw: one outer
-- join of every raw key against what the last build read. Not needed, and so emptied,
-- on a full build.
changed as (
    select
        coalesce(r.kind, s.kind) as kind,
        coalesce(r.account, s.account) as account,
        coalesce(r.source_key, s.source_key) as source_key
    from (
        select 'email' as kind, account, null::varchar as calendar_id,
               message_key as source_key, loaded_at
        from raw.messages
        where not (select yes from everything)
        union all
        select 'meeting', account, calendar_id, event_key, loaded_at
        from raw.events
        where not (select yes from everything)
        union all
        select 'meeting', account, null, source_key, loaded_at
        from logged_contacts
        where not (select yes from everything)
    ) r
    full join (
        select * from core.interaction_sources where not (select yes from everything)
    ) s
        on s.kind = r.kind and s.account = r.account and s.source_key = r.source_key
        and s.calendar_id is not distinct from r.calendar_id
    where r.loaded_at is distinct from s.loaded_at
),

-- People ignored since the last build, or no longer ignored: all their rows change.
ignores_changed as (
    (select person_id from ignored_people except select person_id from core.interaction_ignores)
    union
    (select person_id from core.interaction_ignores except select person_id from ignored_people)
),

changed_parents as (
    select m.account, m.rfc_message_id
    from raw.messages m
    semi join changed c
        on c.kind = 'email' and c.account = m.account and c.source_key = m.message_key
    where m.rfc_message_id is not null
),

incremental as (
    select * from changed
    union
    -- Replies to a parent that was rewritten or deleted.
    select 'email', i.account, i.interaction_key
    from core.interactions i
    semi join changed c
        on c.kind = 'email' and c.account = i.account and c.source_key = i.in_reply_to_key
    union
    -- Replies that arrived before the message they answer.
    select 'email', m.account, m.message_key
    from raw.messages m
    semi join changed_parents p
        on p.account = m.account and p.rfc_message_id = m.in_reply_to
    union
    select i.channel, i.account, i.interaction_key
    from core.interactions i
    semi join ignores_changed using (person_id)
    where not (select yes from everything)
),

-- Which copy of a message or meeting counts depends on every copy (dedupe_key), so every
-- copy of what is in scope is rebuilt with it: the raw rows sharing its key now, and the
-- rows built with its key before (which finds the copies of a row deleted from raw).
raw_keys as materialized (
    select
        'email' as kind, account, message_key as source_key,
        message_dedupe_key(rfc_message_id, from_addrs, to_addrs, cc_addrs, sent_at)
            as dedupe_key
    from raw.messages
    where not (select yes from everything)
    union all
    select
        'meeting', account, event_key,
        event_dedupe_key(ical_uid, start_at, organizer, attendees)
    from raw.events
    where not (select yes from everything)
),

copy_keys as (
    select k.dedupe_key
    from raw_keys k
    semi join incremental c
        on c.kind = k.kind and c.account = k.account and c.source_key = k.source_key
    union
    select i.dedupe_key
    from core.interactions i
    semi join incremental c
        on c.kind = i.channel and c.account = i.account and c.source_key = i.interaction_key
    where i.dedupe_key is not null
),

copies as (
    select kind, account, source_key from raw_keys semi join copy_keys using (dedupe_key)
    union
    select i.channel, i.account, i.interaction_key
    from core.interactions i
    semi join copy_keys using (dedupe_key)
)

select 'email' as kind, account, message_key as source_key
from raw.messages
where (select yes from everything)
union all
select distinct 'meeting', account, event_key
from raw.events
where (select yes from everything)
union all
select 'meeting', account, source_key
from logged_contacts
where (select yes from everything)
union all
select kind, account, source_key
from (select * from incremental union select * from copies)
where not (select yes from everything);

-- Whose rows change, for marts.contact_summaries, which redoes only those people: the
-- owners of the rows about to be deleted (here) and of the rows written in their place
-- (after the insert). A full build writes one null instead: "everyone". The reader
-- empties the table.

-- The scope of an incremental build, and nothing on a full build: a full build's scope is
-- every key, which the statements matching rows against it (deleting or counting what is
-- in scope, finding whose rows change) would otherwise have to hold and match row by row,
-- while a full build empties or counts whole tables instead.
create or replace temp view incremental_scope as
select * from interaction_scope where (select reason is null from interaction_rebuild);

-- (Empty on a full build, where the null says it all.)
create or replace temp macro people_in_scope() as table
select distinct i.person_id
from core.interactions i
semi join incremental_scope s
    on s.account = i.account and s.source_key = i.interaction_key and s.kind = i.channel;

insert into core.interaction_changes (person_id)
select null where (select reason is not null from interaction_rebuild);

insert into core.interaction_changes (person_id) select person_id from people_in_scope();

-- Two statements: emptying the table is cheap on its own, and a full build's scope is every
-- key, which the second statement would otherwise have to match row by row.
delete from core.interactions
where (select reason is not null from interaction_rebuild);

delete from core.interactions i
where exists (
    select 1 from incremental_scope s
    where s.account = i.account and s.source_key = i.interaction_key
      and s.kind = i.channel
);

-- The messages an incremental build reads: those in scope, and the messages they answer
-- (read for their direction and time only). Keys first, so that only these rows are
-- projected below: a night reads a thousand messages, not the million in raw.messages. A
-- full build reads every message, all in scope, and needs no list.
create or replace temp table message_reads as
with

scoped as (
    select m.account, m.message_key, m.in_reply_to
    from raw.messages m
    semi join interaction_scope s
        on s.kind = 'email' and s.account = m.account and s.source_key = m.message_key
    where (select reason is null from interaction_rebuild)
)

select account, message_key, true as in_scope
from scoped
union all
select m.account, m.message_key, false
from raw.messages m
semi join (
    select distinct account, in_reply_to from scoped where in_reply_to is not null
) r on r.account = m.account and r.in_reply_to = m.rfc_message_id
anti join incremental_scope s
    on s.kind = 'email' and s.account = m.account and s.source_key = m.message_key;

-- What the rows need of those messages, and no more: the address lists shrink to
-- spellings (names, References and the rest stay behind), which keeps a full build's
-- working set small enough for the memory cap.
create or replace temp macro message_headers() as table
select
    m.account, m.message_key, m.rfc_message_id, m.thread_key, m.sent_at, m.in_reply_to,
    m.labels, m.list_id, m.precedence, m.auto_submitted, m.has_list_unsubscribe,
    message_dedupe_key(m.rfc_message_id, m.from_addrs, m.to_addrs, m.cc_addrs, m.sent_at)
        as dedupe_key,
    m.from_addrs[1].address as sender_spelling,
    list_transform(m.to_addrs || m.cc_addrs || m.bcc_addrs, lambda a: a.address)
        as recipient_spellings,
    coalesce(r.in_scope, true) as in_scope
from raw.messages m
left join message_reads r using (account, message_key)
where r.account is not null or (select reason is not null from interaction_rebuild);

create or replace temp view user_addresses as
select list(address) as addresses from current_identities where is_self;

-- The messages read, each with its sender, recipients, direction and whether it is bulk:
-- a table of its own, not a step of the insert below, because the insert reads it five
-- times; a query step read more than once is held whole in memory, which no memory cap
-- survives at a few million messages, while a temporary table spills to disk.
create or replace temp table classified_messages as
with

read_messages as (
    select * from message_headers()
),

-- Addresses are normalised where they are read, not looked up from a list of distinct
-- spellings: gathering each message's lookups back into a list is an aggregation whose
-- lists DuckDB holds in memory, past any cap at a few million messages (twice the CPU,
-- 2 s more at 3M messages, for a footprint that stays within the cap).
-- A message has one sender, so each spelling of one is normalised once and joined back,
-- which gathers nothing into lists. (From the headers again, not from read_messages: a
-- second reader of that would make DuckDB hold every message in memory.)
sender_spellings as (
    select written, normalize_address(written, keep := $split_addresses) as address
    from (select distinct sender_spelling as written from message_headers())
),

messages as (
    select
        m.* exclude (recipient_spellings, sender_spelling),
        s.address as sender,
        coalesce(list_distinct(list_transform(
            m.recipient_spellings, lambda w: normalize_address(w, keep := $split_addresses))),
            []::varchar[]) as recipients,
        list_filter(recipients, lambda r: not list_contains(u.addresses, r)) as others
    from read_messages m
    cross join user_addresses u
    left join sender_spellings s on s.written = m.sender_spelling
    -- Drafts were never sent and spam was never a conversation.
    where not list_has_any(m.labels, ['DRAFT', 'SPAM'])
),

classified as (
    select
        messages.*,
        coalesce(list_contains(labels, 'SENT'), false) or sender_identity.is_self as outbound,
        -- The allow-list matched in place: as a subquery, DuckDB would hold every message
        -- in memory to decorrelate it.
        len(list_filter(
            list_transform($allow_list, lambda p: lower(p)),
            lambda p: p = messages.sender
                or (starts_with(p, '@') and ends_with(messages.sender, p))
        )) > 0 as allow_listed,
        case
            when list_id is not null then 'bulk: List-Id header'
            when has_list_unsubscribe then 'bulk: List-Unsubscribe header'
            when precedence in ('bulk', 'list', 'junk') then 'bulk: Precedence ' || precedence
            when auto_submitted is not null and auto_submitted <> 'no'
                then 'automated: Auto-Submitted ' || auto_submitted
            when sender_identity.is_automated then 'automated: machine sender address'
            when list_has_any(labels, ['CATEGORY_PROMOTIONS', 'CATEGORY_SOCIAL', 'CATEGORY_FORUMS'])
                then 'bulk: Gmail category'
        end as bulk_reason
    from messages
    left join current_identities sender_identity on sender_identity.address = messages.sender
)

select * from classified;

-- A reply is a message whose In-Reply-To names a message going the other way. A table
-- too: the insert joins it to every row it writes, and a join's side built from a query
-- step is held in memory.
create or replace temp table message_replies as
select
    reply.account,
    reply.message_key,
    parent.message_key as answered_key,
    -- A reply stamped before its parent comes from a skewed clock: it was quick, not
    -- negative.
    greatest(date_diff('second', parent.sent_at, reply.sent_at), 0) as reply_latency_s
from classified_messages reply
join classified_messages parent
    on parent.account = reply.account
    and parent.rfc_message_id = reply.in_reply_to
    and parent.outbound <> reply.outbound
where reply.in_scope
qualify row_number() over (
    partition by reply.account, reply.message_key order by parent.sent_at desc
) = 1;

-- By name: a warehouse whose columns sit in another order (added by a migration) still
-- gets each value in its own column.
insert into core.interactions by name
with

identities as (
    select
        *,
        -- Only someone with several addresses can be on one message twice.
        count(*) over (partition by person_id) > 1 as has_several_addresses
    from current_identities
),

in_scope as not materialized (
    select * from classified_messages where in_scope
),

message_people as (
    -- Mail the user sent: one row per recipient other than the user.
    select
        c.account, c.message_key, c.thread_key, c.sent_at, c.bulk_reason, c.allow_listed,
        c.dedupe_key,
        'outbound' as direction, unnest(c.others) as address,
        len(c.others) as n_participants
    from in_scope c
    where c.outbound
    union all
    -- Mail the user received: the sender, and anyone copied alongside the user.
    select
        c.account, c.message_key, c.thread_key, c.sent_at, c.bulk_reason, c.allow_listed,
        c.dedupe_key,
        'inbound', c.sender, len(c.recipients)
    from in_scope c
    where not c.outbound and c.sender is not null
    union all
    select
        c.account, c.message_key, c.thread_key, c.sent_at, c.bulk_reason, c.allow_listed,
        c.dedupe_key,
        -- Unnested in the select list, filtered first: a lateral unnest filtered against
        -- its own row's sender is planned as a join of every message with its recipients.
        'copied', unnest(list_filter(c.recipients, lambda r: r <> c.sender)), len(c.recipients)
    from in_scope c
    where not c.outbound
),

message_interactions as (
    select
        mp.account,
        mp.message_key as interaction_key,
        i.person_id,
        mp.address,
        mp.sent_at as occurred_at,
        'email' as channel,
        mp.direction,
        mp.thread_key,
        greatest(mp.n_participants, 1) as n_participants,
        1.0 / greatest(mp.n_participants, 1) as weight,
        replies.reply_latency_s is not null and mp.direction <> 'copied' as is_reply,
        case when mp.direction <> 'copied' then replies.reply_latency_s end as reply_latency_s,
        case when mp.direction <> 'copied' then replies.answered_key end as in_reply_to_key,
        null::double as duration_minutes,
        null::boolean as in_person,
        null::boolean as on_video,
        null::boolean as is_one_on_one,
        coalesce(
            case when not mp.allow_listed then mp.bulk_reason end,
            i.not_a_person
        ) as noise_reason,
        i.has_several_addresses as may_repeat,
        mp.dedupe_key
    from message_people mp
    join identities i on i.address = mp.address
    left join message_replies replies using (account, message_key)
    where not i.is_self
),

scoped_events as (
    select e.*
    from raw.events e
    semi join interaction_scope s
        on s.kind = 'meeting' and s.account = e.account and s.source_key = e.event_key
),

attendee_rows as (
    select
        e.account, e.calendar_id, e.event_key, e.start_at, e.end_at, e.has_location,
        e.has_conference, e.status, e.event_type, e.all_day, e.a,
        event_dedupe_key(e.ical_uid, e.start_at, e.organizer, e.attendees) as dedupe_key
    from (select *, unnest(attendees) as a from scoped_events) e
),

event_spellings as (
    select written, normalize_address(written, keep := $split_addresses) as address
    from (select distinct a.address as written from attendee_rows)
),

-- Per attendee, with what the whole event says: how many humans, and whether the user
-- (marked self, or one of the user's addresses) declined.
event_attendees as (
    select
        r.*,
        s.address,
        count(*) filter (where not r.a.is_resource) over event as n_participants,
        coalesce(bool_or(
            r.a.response_status = 'declined'
            and (r.a.is_self or list_contains(u.addresses, s.address))
        ) over event, false) as declined_by_you
    from attendee_rows r
    cross join user_addresses u
    left join event_spellings s on s.written = r.a.address
    window event as (partition by r.account, r.calendar_id, r.event_key)
),

event_rows as (
    select
        account, event_key, start_at, end_at, has_location, has_conference,
        n_participants, dedupe_key,
        address,
        a.response_status,
        case
            when status = 'cancelled' then 'meeting: cancelled'
            when event_type <> 'default' then 'not a meeting: ' || event_type
            when all_day then 'not a meeting: all-day event'
            when declined_by_you then 'meeting: declined by you'
            when n_participants > $max_meeting_attendees
                then 'meeting: more than ' || $max_meeting_attendees || ' attendees'
            when a.response_status = 'declined' then 'meeting: they declined'
        end as meeting_noise
    from event_attendees
    where not a.is_resource
),

meeting_interactions as (
    select
        er.account,
        er.event_key as interaction_key,
        i.person_id,
        er.address,
        er.start_at as occurred_at,
        'meeting' as channel,
        'meeting' as direction,
        null as thread_key,
        er.n_participants,
        1.0 / greatest(er.n_participants - 1, 1) as weight,
        false as is_reply,
        null::bigint as reply_latency_s,
        null as in_reply_to_key,
        date_diff('second', er.start_at, er.end_at) / 60.0 as duration_minutes,
        er.has_location and not er.has_conference as in_person,
        er.has_conference as on_video,
        er.n_participants = 2 as is_one_on_one,
        coalesce(
            er.meeting_noise,
            i.not_a_person
        ) as noise_reason,
        -- An attendee list can name one person twice, in two spellings.
        true as may_repeat,
        er.dedupe_key
    from event_rows er
    join identities i on i.address = er.address
    where not i.is_self
),

-- A logged contact is a one-to-one meeting: it ends the silence, is a touchpoint and makes
-- a tie; in person it is face time for the minutes given, a call or other contact is not.
logged_interactions as (
    select
        l.account,
        l.source_key as interaction_key,
        i.person_id,
        l.address,
        l.occurred_at,
        'meeting' as channel,
        'meeting' as direction,
        null as thread_key,
        2 as n_participants,
        1.0 as weight,
        false as is_reply,
        null::bigint as reply_latency_s,
        null as in_reply_to_key,
        l.minutes as duration_minutes,
        l.how = 'in-person' as in_person,
        false as on_video,
        true as is_one_on_one,
        i.not_a_person as noise_reason,
        false as may_repeat,
        'log:' || l.source_key as dedupe_key
    from logged_contacts l
    semi join interaction_scope s
        on s.kind = 'meeting' and s.account = l.account and s.source_key = l.source_key
    join identities i on i.address = l.address
    where not i.is_self
),

combined as not materialized (
    select * from message_interactions
    union all
    select * from meeting_interactions
    union all
    select * from logged_interactions
),

-- A person written to at two of their addresses on one message is one interaction. Only
-- rows that may repeat go through the deduplication: it is the costliest step otherwise.
once as (
    select * exclude (may_repeat) from combined where not may_repeat
    union all
    select * exclude (may_repeat) from combined where may_repeat
    qualify row_number() over (
        partition by account, interaction_key, person_id, direction order by address
    ) = 1
),

-- Someone the user ignores is not a relationship: their rows stay, and do not count.
marked as (
    select
        * replace (coalesce(
            noise_reason,
            case when person_id in (select person_id from ignored_people) then 'ignored by you' end
        ) as noise_reason)
    from once
),

-- Whose mailbox or calendar each copy came from: 'me' for every address of the user's
-- (me.addresses, and what core.identities finds is theirs), else the person the account's
-- address belongs to, else the account itself.
owners as (
    select
        a.account,
        case
            when i.is_self or list_contains(
                list_transform($self_addresses,
                               lambda s: normalize_address(s, keep := $split_addresses)),
                a.address)
                then 'me'
            else coalesce(i.person_id, a.account)
        end as owner
    from (
        -- From raw, not from the rows above: a second reader of those would make DuckDB
        -- materialise them all (seconds and hundreds of MB at a million messages).
        select account, normalize_address(account, keep := $split_addresses) as address
        from (
            select distinct account from raw.messages
            union
            select distinct account from raw.events
            union
            select 'logged'
        )
    ) a
    left join identities i using (address)
),

-- The same message read from two sources, or two mailboxes of one person, and the same
-- invite on two of their calendars: of the copies one owner holds (one dedupe_key, one
-- person, one direction) one counts, the others are noise (marked by the update below).
copies as (
    select m.*, o.owner
    from marked m
    join owners o using (account)
)

select *, noise_reason is not null as is_noise
from copies;

-- The rows just written: on a full build all of them, else those in scope. (A macro, so
-- that each reader below scans the table rather than sharing a step held in memory.)
create or replace temp macro written_rows() as table
select * from core.interactions
where (select reason is not null from interaction_rebuild)
union all
select i.*
from core.interactions i
semi join incremental_scope s
    on s.account = i.account and s.source_key = i.interaction_key and s.kind = i.channel;

-- Which copy counts: one that counts on its own if any, then the first by account and key,
-- never row order. Numbered here, among the rows whose dedupe_key more than one message,
-- meeting or logged contact carries, not in the insert: a window there sorted every row
-- with all its columns (the costliest step of a full build) to find a few copies.
update core.interactions i
set noise_reason = coalesce(i.noise_reason, 'duplicate: another copy of it counts'),
    is_noise = true
from (
    select channel, account, interaction_key, person_id, direction
    from written_rows()
    semi join (
        select dedupe_key
        from written_rows()
        group by dedupe_key
        having min(account) <> max(account) or min(interaction_key) <> max(interaction_key)
    ) using (dedupe_key)
    qualify row_number() over (
        partition by owner, dedupe_key, person_id, direction
        order by noise_reason is not null, account, interaction_key
    ) > 1
) d
where d.channel = i.channel and d.account = i.account
  and d.interaction_key = i.interaction_key
  and d.person_id is not distinct from i.person_id and d.direction = i.direction;

-- Read: its space is given back now rather than when the connection closes.
drop table classified_messages;
drop table message_replies;

insert into core.interaction_changes (person_id) select person_id from people_in_scope();

delete from core.interaction_sources
where (select reason is not null from interaction_rebuild);

delete from core.interaction_sources s
where exists (
    select 1 from incremental_scope c
    where c.kind = s.kind and c.account = s.account and c.source_key = s.source_key
);

-- What was read: on a full build every raw row (all of them are in scope), else the rows
-- in scope.
insert into core.interaction_sources (kind, account, calendar_id, source_key, loaded_at)
select 'email', account, null, message_key, loaded_at
from raw.messages
where (select reason is not null from interaction_rebuild)
union all
select 'meeting', account, calendar_id, event_key, loaded_at
from raw.events
where (select reason is not null from interaction_rebuild)
union all
select 'meeting', account, null, source_key, loaded_at
from logged_contacts
where (select reason is not null from interaction_rebuild)
union all
select 'email', m.account, null, m.message_key, m.loaded_at
from raw.messages m
semi join incremental_scope s
    on s.kind = 'email' and s.account = m.account and s.source_key = m.message_key
union all
select 'meeting', e.account, e.calendar_id, e.event_key, e.loaded_at
from raw.events e
semi join incremental_scope s
    on s.kind = 'meeting' and s.account = e.account and s.source_key = e.event_key
union all
select 'meeting', l.account, null, l.source_key, l.loaded_at
from logged_contacts l
semi join incremental_scope s
    on s.kind = 'meeting' and s.account = l.account and s.source_key = l.source_key;

delete from core.interaction_identities;
insert into core.interaction_identities (address, person_id, is_self, is_automated, not_a_person)
select address, person_id, is_self, is_automated, not_a_person from current_identities;

delete from core.interaction_ignores;
insert into core.interaction_ignores (person_id) select person_id from ignored_people;

insert into core.interaction_builds (
    built_at, mode, reason, messages_rebuilt, events_rebuilt, rows_written, fingerprint
)
select
    now(),
    case when reason is null then 'incremental' else 'full' end,
    coalesce(reason, 'only what changed in raw.*'),
    (select count(*) from interaction_scope where kind = 'email'),
    (select count(*) from interaction_scope where kind = 'meeting'),
    -- (A full build wrote every row.)
    (select count(*) from core.interactions
     where (select reason is not null from interaction_rebuild))
    + (select count(*) from core.interactions i
       semi join incremental_scope s
          on s.account = i.account and s.source_key = i.interaction_key
          and s.kind = i.channel),
    $sql_fingerprint
from interaction_rebuild;
