-- A scheduled report sends a saved list view or a saved report (`insights::reports`): its
-- figures grouped and measured, as the recipient may see them.
ALTER TABLE report_schedules ADD COLUMN report_id TEXT;
