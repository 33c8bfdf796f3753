-- What a message is for: `transactional` (a reply, a reminder, a receipt) or `marketing` (a
-- campaign), which needs the recipient's consent when it is sent and says how to unsubscribe.
ALTER TABLE outbound_messages ADD COLUMN purpose TEXT NOT NULL DEFAULT 'transactional';
-- A campaign's message is rendered from its template when it is sent (queuing a hundred
-- thousand stays cheap); until then its subject and body are empty.
ALTER TABLE outbound_messages ADD COLUMN template_id TEXT;
