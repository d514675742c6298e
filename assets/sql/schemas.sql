-- The three layers of the warehouse and the helpers every model shares.
create schema if not exists raw;
create schema if not exists core;
create schema if not exists marts;
-- raw: source-faithful rows, upserted by natural key. core: people, addresses and one row
-- per person per interaction, rebuilt every run. marts: per-person metrics and status.
-- (DuckDB cannot comment on schemas; every table and column carries its own comment.)

-- One person, many spellings of one address: lower-case, drop +tags, googlemail.com is
-- gmail.com, and Gmail ignores dots in its local parts. Spellings in `keep` (the user's
-- identities.split) are only lower-cased: folding would join them to someone else.
create or replace macro join_address(local_part, domain) as
    case
        when domain = 'gmail.com' then replace(local_part, '.', '') || '@' || domain
        when domain = '' then local_part
        else local_part || '@' || domain
    end;

create or replace macro normalize_address(addr, keep := []) as
    case
        when addr is null or trim(addr) = '' then null
        when list_contains(keep, lower(trim(addr))) then lower(trim(addr))
        else join_address(
            regexp_replace(split_part(lower(trim(addr)), '@', 1), '\+.*$', ''),
            regexp_replace(split_part(lower(trim(addr)), '@', 2), '^googlemail\.com$', 'gmail.com')
        )
    end;

-- The key every copy of one interaction shares, whichever mailbox or calendar it was read
-- from (core.interactions.dedupe_key): the RFC Message-ID for mail; the iCalendar UID and
-- the start for a meeting (every instance of a series shares the UID); else a fingerprint
-- of what every copy shows alike: sender, To and Cc (Bcc is only on the sender's copy),
-- organizer and attendees, each lower-cased and sorted, and the minute it was sent or began.
create or replace macro message_dedupe_key(rfc_message_id, from_addrs, to_addrs, cc_addrs, sent_at) as
    case
        when nullif(trim(rfc_message_id, '<> '), '') is not null
            then 'mid:' || lower(trim(rfc_message_id, '<> '))
        else 'fp:' || md5(concat_ws('|',
            coalesce(lower(trim(from_addrs[1].address)), ''),
            array_to_string(list_sort(list_distinct(list_transform(
                coalesce(to_addrs, []) || coalesce(cc_addrs, []),
                lambda a: lower(trim(a.address))))), ','),
            strftime(date_trunc('minute', sent_at at time zone 'UTC'), '%Y-%m-%dT%H:%M')))
    end;

create or replace macro event_dedupe_key(ical_uid, start_at, organizer, attendees) as
    case
        when nullif(trim(ical_uid), '') is not null
            then 'ical:' || trim(ical_uid) || '@'
                 || strftime(start_at at time zone 'UTC', '%Y-%m-%dT%H:%M:%S')
        else 'fp:' || md5(concat_ws('|',
            coalesce(lower(trim(organizer)), ''),
            array_to_string(list_sort(list_distinct(list_transform(
                coalesce(attendees, []), lambda a: lower(trim(a.address))))), ','),
            strftime(date_trunc('minute', start_at at time zone 'UTC'), '%Y-%m-%dT%H:%M')))
    end;
