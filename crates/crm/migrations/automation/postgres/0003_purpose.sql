-- What a message is for: `transactional` (a reply, a reminder, a receipt) or `marketing` (a
-- campaign), which needs the recipient's consent when it is sent and says how to unsubscribe.
ALTER TABLE outbound_messages ADD COLUMN purpose TEXT NOT NULL DEFAULT 'transactional';
