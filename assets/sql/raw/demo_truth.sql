create table if not exists raw.demo_truth (
    account varchar not null,
    address varchar not null,
    name varchar,
    segment varchar not null,
    mean_gap_days double,
    started_at timestamptz,
    stopped_at timestamptz,
    planted_cold boolean not null
);

comment on table raw.demo_truth is 'Ground truth of the demo simulator: who each simulated person is and whether their relationship was planted to go cold. Empty unless the demo source ran.';
comment on column raw.demo_truth.account is 'The simulated mailbox.';
comment on column raw.demo_truth.address is 'The person''s main address.';
comment on column raw.demo_truth.name is 'Display name.';
comment on column raw.demo_truth.segment is 'close, regular, acquaintance, outer, one_off, outreach (never answered) or bulk.';
comment on column raw.demo_truth.mean_gap_days is 'Mean days between contacts the simulator drew for this person.';
comment on column raw.demo_truth.started_at is 'When the relationship began.';
comment on column raw.demo_truth.stopped_at is 'When contact stopped, if it was planted to stop; null if it continues.';
comment on column raw.demo_truth.planted_cold is 'True when the relationship stopped long enough before the end that a good rule should call it cold.';
