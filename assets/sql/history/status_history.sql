-- One row per tie per day: the status and strength the model gave it as of the end of that
-- day. Each day of $snapshot_dates replaces its own rows from the statuses computed as of
-- that day's end, which arrive, several days at once, as the view status_snapshot (its
-- snapshot_date says which day a row belongs to).

delete from marts.status_history where list_contains($snapshot_dates::date[], snapshot_date);

insert into marts.status_history (
    snapshot_date, person_id, status, tie_strength, dunbar_layer, days_silent, usual_gap_days,
    silence_probability, attention_rank
)
select
    snapshot_date,
    person_id,
    status,
    tie_strength,
    dunbar_layer,
    days_silent,
    usual_gap_days,
    silence_probability,
    attention_rank
from status_snapshot;
