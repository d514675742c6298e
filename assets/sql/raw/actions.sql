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
