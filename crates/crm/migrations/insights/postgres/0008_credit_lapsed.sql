-- Whether a record an approved statement credited no longer counts (an order returned or
-- cancelled, a deal reopened or lost, either deleted): 1 when it lapsed, 0 while it counts,
-- NULL until worked out (rows written before this column, and each approval's own rows until
-- the approval's transaction settles them). Kept by the record's writes, so a statement's
-- clawback check reads the lapsed few instead of the status of everything ever paid.
ALTER TABLE commission_credits ADD COLUMN lapsed INTEGER;
CREATE INDEX commission_credits_record ON commission_credits (object, record_id);
CREATE INDEX commission_credits_lapsed ON commission_credits (user_id) WHERE lapsed = 1;
CREATE INDEX commission_credits_unsettled ON commission_credits (object) WHERE lapsed IS NULL;
