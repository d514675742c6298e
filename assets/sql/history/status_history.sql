-- One row per tie per day: the status and strength the model gave it as of the end of that
-- day. Each daily partition replaces its own rows ($snapshot_date) from the statuses
-- computed as of that day's end, which arrive as the view status_snapshot.
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

delete from marts.status_history where snapshot_date = $snapshot_date;

insert into marts.status_history
select
    $snapshot_date::date as snapshot_date,
    person_id,
    status,
    tie_strength,
    dunbar_layer,
    days_silent,
    usual_gap_days,
    silence_probability,
    attention_rank
from status_snapshot;
