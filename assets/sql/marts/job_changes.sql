-- Job changes: a change of organisation or title between two versions of an address-book
-- contact (raw.contacts keeps every version), or a sender domain new for a person whose
-- earlier domain has gone quiet (no mail from it for $job_domain_silence_days days before
-- the new one first appears, and none since).
create or replace table marts.job_changes as
with

versions as (
    select account, source, contact_key, version, deleted, organization, title,
           seen_at,
           lag(organization) over w as from_organization,
           lag(title) over w as from_title,
           lag(deleted) over w as was_deleted
    from raw.contacts
    window w as (partition by account, source, contact_key order by version)
),

contact_changes as (
    select *
    from versions
    where version > 1 and not deleted and not was_deleted
      and (organization is distinct from from_organization
           or title is distinct from from_title)
      and (organization is not null or title is not null)
),

-- Whose contact: the person of the contact as it stands now (core.contact_people), looked
-- up by account as well as key. A contact since deleted from the book is no one's.
from_contacts as (
    select p.person_id,
           c.from_organization, c.from_title, c.organization as to_organization,
           c.title as to_title, c.seen_at as first_seen_at, c.source
    from contact_changes c
    join core.contact_people p using (account, source, contact_key)
    where p.person_id is not null
),

-- Mail from each sender as written: when it began and ended. Folded per spelling first,
-- so that the address is normalised once per sender, not once per message.
senders as (
    select from_addrs[1].address as written, min(sent_at) as first_at, max(sent_at) as last_at
    from raw.messages
    where len(from_addrs) > 0
    group by written
),

-- Mail from each of a person's domains: when it began and ended.
sent as (
    select i.person_id, split_part(i.address, '@', 2) as domain,
           min(s.first_at) as first_at, max(s.last_at) as last_at
    from senders s
    join core.identities i
        on i.address = normalize_address(s.written, keep := $split_addresses)
    where not i.is_self
    group by all
),

from_domains as (
    select new.person_id,
           old.domain as from_organization, null::varchar as from_title,
           new.domain as to_organization, null::varchar as to_title,
           new.first_at as first_seen_at, 'mail' as source
    from sent new
    join sent old
        on old.person_id = new.person_id and old.domain <> new.domain
       and old.last_at < new.first_at
       and date_diff('second', old.last_at, new.first_at) >= $job_domain_silence_days * 86400
    qualify row_number() over (partition by new.person_id, new.domain order by old.last_at desc) = 1
)

select * from from_contacts
union all
select * from from_domains
order by first_seen_at, person_id;

comment on table marts.job_changes is 'A person changing jobs: organisation or title changed between address-book versions, or mail from a new domain after the old one went quiet.';
comment on column marts.job_changes.person_id is 'The person (core.people).';
comment on column marts.job_changes.from_organization is 'The organisation before (for a domain change, the old sender domain).';
comment on column marts.job_changes.from_title is 'The title before (address book only).';
comment on column marts.job_changes.to_organization is 'The organisation after (for a domain change, the new sender domain).';
comment on column marts.job_changes.to_title is 'The title after (address book only).';
comment on column marts.job_changes.first_seen_at is 'When the change was first seen: the new contact version read, or the first mail from the new domain.';
comment on column marts.job_changes.source is 'gcontacts, vcard or demo (address book) or mail (sender domain).';
