-- What each user wants to hear of, per kind of notification: under the bell or not, and by
-- e-mail (none, each at once, or in the morning's digest). A kind without a row: the bell, no mail.
CREATE TABLE notification_preferences (
    user_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    bell BIGINT NOT NULL,
    email TEXT NOT NULL,
    PRIMARY KEY (user_id, kind)
);
