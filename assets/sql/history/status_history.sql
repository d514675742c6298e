-- One row per tie per day: the status and strength the model gave it as of the end of that
-- day. Each daily partition replaces its own rows ($snapshot_date) from the statuses
-- computed as of that day's end, which arrive as the view status_snapshot.

delete from marts.status_history where snapshot_date = $snapshot_date;

insert into marts.status_history (
    snapshot_date, person_id, status, tie_strength, dunbar_layer, days_silent, usual_gap_days,
    silence_probability, attention_rank
)
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
