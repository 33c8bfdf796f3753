-- What an approved statement credited, in hundredths of its currency: the tiers of a later
-- period count it from here, not by working the locked period out again (statements approved
-- before this column existed have none and are worked out).
ALTER TABLE commission_statements ADD COLUMN credited_cents BIGINT;
