-- The three layers of the warehouse and the helpers every model shares.
create schema if not exists raw;
create schema if not exists core;
create schema if not exists marts;
-- raw: source-faithful rows, upserted by natural key. core: people, addresses and one row
-- per person per interaction, rebuilt every run. marts: per-person metrics and status.
-- (DuckDB cannot comment on schemas; every table and column carries its own comment.)

-- One person, many spellings of one address: lower-case, drop +tags, googlemail.com is
-- gmail.com, and Gmail ignores dots in its local parts. Spellings in `keep` (the user's
-- identities.split) are only lower-cased: folding would join them to someone else.
create or replace macro join_address(local_part, domain) as
    case
        when domain = 'gmail.com' then replace(local_part, '.', '') || '@' || domain
        when domain = '' then local_part
        else local_part || '@' || domain
    end;

create or replace macro normalize_address(addr, keep := []) as
    case
        when addr is null or trim(addr) = '' then null
        when list_contains(keep, lower(trim(addr))) then lower(trim(addr))
        else join_address(
            regexp_replace(split_part(lower(trim(addr)), '@', 1), '\+.*$', ''),
            regexp_replace(split_part(lower(trim(addr)), '@', 2), '^googlemail\.com$', 'gmail.com')
        )
    end;
