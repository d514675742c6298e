-- 0002: each interaction once (issue 17 §3). core.interactions gains the key every copy of
-- a message or meeting shares, and the owner of the mailbox or calendar each copy was read
-- from; of the copies one owner holds, one counts and the others are marked noise
-- ('duplicate: ...'). The rows already built have neither: emptying the build log makes
-- the next run rebuild core.interactions whole, as a first build, and the summaries with it.

alter table core.interactions add column dedupe_key varchar;
alter table core.interactions add column owner varchar;

comment on column core.interactions.dedupe_key is 'The same for every copy of one message or meeting, whichever mailbox or calendar it came from: mid:<RFC Message-ID> for mail, ical:<iCalendar UID>@<start> for a meeting, else fp:<hash of sender, To and Cc, or organizer and attendees, and the minute>; log:<key> for a logged contact. Macros message_dedupe_key and event_dedupe_key.';
comment on column core.interactions.owner is 'Whose mailbox or calendar this copy was read from: me for any of the user''s addresses (me.addresses and what core.identities finds is theirs: one owner), else the person_id of the account''s address, else the account. Of the copies one owner holds, one counts.';
comment on column core.interactions.noise_reason is 'Why this does not count as personal contact (bulk headers, declined, cancelled, too large, ..., ignored by you: keepwarm ignore; duplicate: another copy of the same message or meeting, from another source, mailbox or calendar of the same owner, counts); null when it counts.';

delete from core.interaction_builds;
