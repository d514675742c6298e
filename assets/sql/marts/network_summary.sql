-- The shape of the whole network as of $as_of, in one row: how many ties are kept up
-- against the ~150 that people can maintain, how they spread over the Dunbar layers,
-- what was gained and lost lately, and whether the user gives as much as they take.
create or replace table marts.network_summary as
with

metrics as (
    select * from marts.contact_metrics
),

status as (
    select status from marts.relationship_status
),

ties as (
    select * from metrics where is_tie
),

layers as (
    select
        count(*) filter (where dunbar_layer <= 5) as layer_5,
        count(*) filter (where dunbar_layer <= 15) as layer_15,
        count(*) filter (where dunbar_layer <= 50) as layer_50,
        count(*) filter (where dunbar_layer <= 150) as layer_150,
        avg(tie_strength) filter (where dunbar_layer <= 5) as layer_5_mean_strength,
        avg(tie_strength) filter (where dunbar_layer = 15) as layer_15_mean_strength,
        avg(tie_strength) filter (where dunbar_layer = 50) as layer_50_mean_strength,
        avg(tie_strength) filter (where dunbar_layer = 150) as layer_150_mean_strength
    from ties
),

totals as (
    select
        count(*) as ties,
        count(*) filter (where is_active_tie) as active_ties,
        count(*) filter (where first_contact_at > $as_of - interval 30 day) as new_ties_30d,
        -- Lost: the last contact slid past the dormancy line within the last 30 days.
        count(*) filter (
            where last_contact_at <= $as_of - to_seconds($dormant_after_days * 86400)
              and last_contact_at > $as_of - to_seconds(($dormant_after_days + 30) * 86400)
        ) as lost_ties_30d,
        sum(messages_sent) as messages_sent,
        sum(messages_received) as messages_received,
        sum(initiation_share * threads) / nullif(sum(threads), 0) as initiation_share,
        median(tie_strength) filter (where is_active_tie) as median_active_strength
    from ties
),

statuses as (
    select
        count(*) filter (where status = 'cold') as cold,
        count(*) filter (where status = 'cooling') as cooling,
        count(*) filter (where status = 'active') as active,
        count(*) filter (where status = 'new') as new,
        count(*) filter (where status = 'dormant') as dormant
    from status
)

select
    $as_of::timestamptz as as_of,
    (select count(*) from metrics) as people,
    totals.ties,
    totals.active_ties,
    150 as dunbar_limit,
    totals.active_ties - 150 as over_limit,
    layers.layer_5,
    layers.layer_15,
    layers.layer_50,
    layers.layer_150,
    round(layers.layer_5_mean_strength, 1) as layer_5_mean_strength,
    round(layers.layer_15_mean_strength, 1) as layer_15_mean_strength,
    round(layers.layer_50_mean_strength, 1) as layer_50_mean_strength,
    round(layers.layer_150_mean_strength, 1) as layer_150_mean_strength,
    round(totals.median_active_strength, 1) as median_active_strength,
    totals.new_ties_30d,
    totals.lost_ties_30d,
    statuses.active,
    statuses.new,
    statuses.cooling,
    statuses.cold,
    statuses.dormant,
    totals.messages_sent,
    totals.messages_received,
    round(
        (totals.messages_sent - totals.messages_received)
        / nullif(totals.messages_sent + totals.messages_received, 0), 4
    ) as reciprocity_balance,
    round(totals.initiation_share, 4) as initiation_share
from totals, layers, statuses;

comment on table marts.network_summary is 'One row: the network''s shape as of the run''s as-of time: active ties against the ~150 people can keep up, Dunbar layers, ties gained and lost, status counts and overall give-and-take.';
comment on column marts.network_summary.as_of is 'The moment the figures describe.';
comment on column marts.network_summary.people is 'People with any contact that counts (marts.contact_metrics rows).';
comment on column marts.network_summary.ties is 'Of whom two-way ties (a message each way, or a meeting).';
comment on column marts.network_summary.active_ties is 'Ties with contact within status.dormant_after_days: the relationships being kept up.';
comment on column marts.network_summary.dunbar_limit is 'About 150: the number of relationships people can maintain at once (Dunbar).';
comment on column marts.network_summary.over_limit is 'active_ties - 150: above zero, attention is spread thinner than people manage well.';
comment on column marts.network_summary.layer_5 is 'Active ties in the innermost layer (the strongest 5).';
comment on column marts.network_summary.layer_15 is 'Active ties within the 15 layer (cumulative: includes the 5).';
comment on column marts.network_summary.layer_50 is 'Active ties within the 50 layer (cumulative).';
comment on column marts.network_summary.layer_150 is 'Active ties within the 150 layer (cumulative).';
comment on column marts.network_summary.layer_5_mean_strength is 'Mean tie_strength of the 5 layer.';
comment on column marts.network_summary.layer_15_mean_strength is 'Mean tie_strength of ranks 6-15.';
comment on column marts.network_summary.layer_50_mean_strength is 'Mean tie_strength of ranks 16-50.';
comment on column marts.network_summary.layer_150_mean_strength is 'Mean tie_strength of ranks 51-150.';
comment on column marts.network_summary.median_active_strength is 'Median tie_strength of active ties.';
comment on column marts.network_summary.new_ties_30d is 'Ties whose first contact was in the last 30 days.';
comment on column marts.network_summary.lost_ties_30d is 'Ties whose silence crossed status.dormant_after_days in the last 30 days.';
comment on column marts.network_summary.active is 'Ties with status active (marts.relationship_status).';
comment on column marts.network_summary.new is 'Ties with status new.';
comment on column marts.network_summary.cooling is 'Ties with status cooling.';
comment on column marts.network_summary.cold is 'Ties with status cold.';
comment on column marts.network_summary.dormant is 'Ties with status dormant.';
comment on column marts.network_summary.messages_sent is 'Messages the user sent to ties (all time).';
comment on column marts.network_summary.messages_received is 'Messages ties sent the user (all time).';
comment on column marts.network_summary.reciprocity_balance is '(sent - received) / (sent + received) over all ties: above 0 the user gives more than they get.';
comment on column marts.network_summary.initiation_share is 'Share of all threads with ties that the user opened.';
