-- The actions the user recorded (raw.actions) that are in force, each resolved to whoever
-- owns its address now: every logged contact not withdrawn, and for each person the latest
-- snooze, ignore and cadence unless an undo came after it. core.interactions reads the
-- logged contacts and the ignored people; marts.relationship_status the snoozes and
-- cadences. Rebuilt whole: a handful of rows.
create or replace table core.actions as
with

-- Through the address, not the person_id stored when it was recorded: a merge confirmed
-- since carries the action to the merged person.
resolved as (
    select a.*, identities.person_id as resolved_person_id
    from raw.actions a
    left join core.identities identities
        on identities.address = normalize_address(a.address, keep := $split_addresses)
        and not identities.is_self
),

withdrawn as (
    select undoes as action_id from raw.actions where kind = 'log' and undo and undoes is not null
),

logged as (
    select *
    from resolved
    where kind = 'log' and not undo
      and action_id not in (select action_id from withdrawn)
),

-- A later snooze, ignore or cadence about the same person supersedes an earlier one; an
-- undo supersedes and leaves nothing.
latest as (
    select *
    from resolved
    where kind in ('snooze', 'ignore', 'cadence')
    qualify row_number() over (
        partition by coalesce(resolved_person_id, address), kind order by action_id desc
    ) = 1
),

in_force as (
    select * from logged
    union all
    select * from latest where not undo
)

select
    action_id,
    recorded_at,
    kind,
    resolved_person_id as person_id,
    address,
    -- The start of the day (UTC), or the moment it was recorded if that came first: a
    -- contact logged today counts at once, whatever the time zone.
    case when kind = 'log' then least(
        make_timestamptz(year(occurred_on), month(occurred_on), day(occurred_on), 0, 0, 0, 'UTC'),
        recorded_at)
    end as occurred_at,
    how,
    case when how = 'in-person' then minutes end as minutes,
    snoozed_until,
    case when kind = 'cadence' then days end as cadence_days
from in_force
order by action_id;

comment on table core.actions is 'The actions of raw.actions in force: every logged contact not withdrawn, and per person the latest snooze, ignore and cadence unless undone; resolved to the person who owns the address now.';
comment on column core.actions.action_id is 'raw.actions.action_id.';
comment on column core.actions.recorded_at is 'When it was recorded.';
comment on column core.actions.kind is 'log, snooze, ignore or cadence.';
comment on column core.actions.person_id is 'core.people.person_id of whoever owns the address now; null when the address is no longer seen in mail or calendar (the action then waits).';
comment on column core.actions.address is 'The normalised address it was recorded for.';
comment on column core.actions.occurred_at is 'log: when the contact happened: the start (UTC) of the day given, or the moment it was recorded if earlier. It enters core.interactions as a one-to-one meeting.';
comment on column core.actions.how is 'log: call, in-person or other.';
comment on column core.actions.minutes is 'log: minutes of face time, for in-person contact only.';
comment on column core.actions.snoozed_until is 'snooze: the day the person returns to the going-cold lists.';
comment on column core.actions.cadence_days is 'cadence: the days wanted between contacts; wins over status.cadence in keepwarm.yaml.';
