-- Digest, "Your network": the one row of marts.network_summary, and how many days of
-- marts.status_history the trends below it can draw on.
select
    n.*,
    (select count(distinct snapshot_date) from history_snapshots) as history_days,
    (select min(snapshot_date) from history_snapshots) as history_from
from marts.network_summary n;
