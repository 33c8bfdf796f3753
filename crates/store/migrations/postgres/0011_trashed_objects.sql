-- A custom object can be moved to the trash and brought back: its definition, fields and
-- records stay, and it disappears from the app until restored (store::schema::trash_object).
ALTER TABLE meta_objects ADD COLUMN deleted_at TEXT;
