create table if not exists raw.events (
    account varchar not null,
    source varchar not null,
    calendar_id varchar not null,
    event_key varchar not null,
    ical_uid varchar,
    recurring_event_id varchar,
    status varchar not null,
    start_at timestamptz not null,
    end_at timestamptz not null,
    all_day boolean not null,
    organizer varchar,
    attendees struct(
        address varchar, name varchar, response_status varchar, is_self boolean,
        is_organizer boolean, optional boolean, is_resource boolean
    )[],
    attendees_omitted boolean not null,
    has_conference boolean not null,
    has_location boolean not null,
    event_type varchar not null,
    summary varchar,
    loaded_at timestamptz not null default current_timestamp
);

comment on table raw.events is 'One row per calendar event instance (recurring series expanded). Key: (account, calendar_id, event_key).';
comment on column raw.events.account is 'The calendar owner this event was read for.';
comment on column raw.events.source is 'Connector that delivered it: demo, ics or gcal.';
comment on column raw.events.calendar_id is 'Calendar the event belongs to (primary, a calendar id, or an .ics file name).';
comment on column raw.events.event_key is 'Natural key within the calendar; instances of a series include their original start.';
comment on column raw.events.ical_uid is 'iCalendar UID shared by every instance of a series.';
comment on column raw.events.recurring_event_id is 'The series this instance belongs to, if any.';
comment on column raw.events.status is 'confirmed, tentative or cancelled.';
comment on column raw.events.start_at is 'Start (UTC); midnight UTC of the date for all-day events.';
comment on column raw.events.end_at is 'End (UTC).';
comment on column raw.events.all_day is 'Whether the event has dates rather than times.';
comment on column raw.events.organizer is 'Organizer address, lower-cased.';
comment on column raw.events.attendees is 'Invitees: {address, name, response_status (needsAction/declined/tentative/accepted), is_self, is_organizer, optional, is_resource}.';
comment on column raw.events.attendees_omitted is 'The source left some attendees out of the list.';
comment on column raw.events.has_conference is 'A video-call link is attached.';
comment on column raw.events.has_location is 'A physical location is given.';
comment on column raw.events.event_type is 'default, focusTime, outOfOffice, workingLocation, birthday or fromGmail.';
comment on column raw.events.summary is 'Event title, only stored when the user turned store_subjects on; null otherwise.';
comment on column raw.events.loaded_at is 'When this row was last written by a sync.';
