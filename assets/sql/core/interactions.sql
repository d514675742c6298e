-- One row per person per message or meeting. Noise stays in the table, marked with the
-- reason, so that "why does this not count?" can be answered with a query.
create or replace table core.interactions as
with

identities as (
    select
        address, person_id, is_self, is_automated,
        case
            when is_list then 'not a person: mailing list'
            when is_role then 'not a person: role address'
        end as not_a_person
    from core.identities
),

allowed as (
    select lower(unnest($allow_list)) as pattern
),

user_addresses as (
    select list(address) as addresses from identities where is_self
),

messages as (
    select
        m.*,
        normalize_address(m.from_addrs[1].address, keep := $split_addresses) as sender,
        list_distinct(list_transform(
            m.to_addrs || m.cc_addrs || m.bcc_addrs, lambda x: normalize_address(x.address, keep := $split_addresses)
        )) as recipients,
        list_filter(recipients, lambda r: not list_contains(u.addresses, r)) as others
    from raw.messages m, user_addresses u
    -- Drafts were never sent and spam was never a conversation.
    where not list_has_any(m.labels, ['DRAFT', 'SPAM'])
),

classified as (
    select
        messages.*,
        coalesce(list_contains(labels, 'SENT'), false) or sender_identity.is_self as outbound,
        exists (
            select 1 from allowed
            where allowed.pattern = messages.sender
               or (starts_with(allowed.pattern, '@') and ends_with(messages.sender, allowed.pattern))
        ) as allow_listed,
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
    left join identities sender_identity on sender_identity.address = messages.sender
),

-- A reply is a message whose In-Reply-To names a message going the other way.
replies as (
    select
        reply.account,
        reply.message_key,
        parent.message_key as answered_key,
        -- A reply stamped before its parent comes from a skewed clock: it was quick, not
        -- negative.
        greatest(date_diff('second', parent.sent_at, reply.sent_at), 0) as reply_latency_s
    from classified reply
    join classified parent
        on parent.account = reply.account
        and parent.rfc_message_id = reply.in_reply_to
        and parent.outbound <> reply.outbound
    qualify row_number() over (
        partition by reply.account, reply.message_key order by parent.sent_at desc
    ) = 1
),

message_people as (
    -- Mail the user sent: one row per recipient other than the user.
    select
        c.account, c.message_key, c.thread_key, c.sent_at, c.bulk_reason, c.allow_listed,
        'outbound' as direction, r.address as address,
        len(c.others) as n_participants
    from classified c, unnest(c.others) as r(address)
    where c.outbound
    union all
    -- Mail the user received: the sender, and anyone copied alongside the user.
    select
        c.account, c.message_key, c.thread_key, c.sent_at, c.bulk_reason, c.allow_listed,
        'inbound', c.sender, len(c.recipients)
    from classified c
    where not c.outbound and c.sender is not null
    union all
    select
        c.account, c.message_key, c.thread_key, c.sent_at, c.bulk_reason, c.allow_listed,
        'copied', r.address, len(c.recipients)
    from classified c, unnest(c.recipients) as r(address)
    where not c.outbound and r.address <> c.sender
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
        ) as noise_reason
    from message_people mp
    join identities i on i.address = mp.address
    left join replies using (account, message_key)
    where not i.is_self
),

events as (
    select
        e.*,
        list_filter(e.attendees, lambda a: not a.is_resource) as humans,
        list_filter(
            e.attendees,
            lambda a: a.is_self or list_contains(u.addresses, normalize_address(a.address, keep := $split_addresses))
        ) as self_entries
    from raw.events e, user_addresses u
),

event_rows as (
    select
        e.account, e.event_key, e.start_at, e.end_at, e.has_location, e.has_conference,
        len(e.humans) as n_participants,
        normalize_address(h.address, keep := $split_addresses) as address,
        h.response_status,
        case
            when e.status = 'cancelled' then 'meeting: cancelled'
            when e.event_type <> 'default' then 'not a meeting: ' || e.event_type
            when e.all_day then 'not a meeting: all-day event'
            when list_contains(list_transform(e.self_entries, lambda s: s.response_status), 'declined')
                then 'meeting: declined by you'
            when len(e.humans) > $max_meeting_attendees
                then 'meeting: more than ' || $max_meeting_attendees || ' attendees'
            when h.response_status = 'declined' then 'meeting: they declined'
        end as meeting_noise
    from events e, unnest(e.humans) as u(h)
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
        ) as noise_reason
    from event_rows er
    join identities i on i.address = er.address
    where not i.is_self
),

combined as (
    select * from message_interactions
    union all
    select * from meeting_interactions
)

-- A person written to at two of their addresses on one message is one interaction.
select
    *,
    noise_reason is not null as is_noise
from combined
qualify row_number() over (
    partition by account, interaction_key, person_id, direction order by address
) = 1
order by occurred_at, interaction_key, person_id;

comment on table core.interactions is 'One row per person per message or meeting, noise included and marked; marts use the rows where is_noise is false.';
comment on column core.interactions.account is 'Mailbox or calendar the interaction was read from.';
comment on column core.interactions.interaction_key is 'raw.messages.message_key or raw.events.event_key.';
comment on column core.interactions.person_id is 'Who the user interacted with (core.people.person_id).';
comment on column core.interactions.address is 'The address of theirs that was used.';
comment on column core.interactions.occurred_at is 'When the message was sent or the meeting started (UTC).';
comment on column core.interactions.channel is 'email or meeting.';
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
comment on column core.interactions.noise_reason is 'Why this does not count as personal contact (bulk headers, declined, cancelled, too large, ...); null when it counts.';
comment on column core.interactions.is_noise is 'noise_reason is set: marts leave this row out.';
