-- 0004: a birthday event's contact (issue 16). Google's birthday calendar makes an event
-- from each contact's birthday and names the contact in birthdayProperties.contact, which
-- is how marts.key_dates finds whose birthday it is: such events have no invitees, and a
-- title is only kept with store_subjects. Rows already there have none until their
-- calendar is read again.

alter table raw.events add column birthday_contact varchar;

comment on column raw.events.birthday_contact is 'For a birthday event made from an address-book contact: the contact''s People API resource name (people/c...), as raw.contacts.contact_key names it; null otherwise.';
