-- Who took part in an activity besides its contact and owner: other contacts and other users.
CREATE TABLE activity_participants (
    activity_id TEXT NOT NULL,
    -- `contact` or `user`.
    kind TEXT NOT NULL,
    participant_id TEXT NOT NULL,
    PRIMARY KEY (activity_id, kind, participant_id)
);
CREATE INDEX ix_activity_participants_who ON activity_participants (kind, participant_id, activity_id);
