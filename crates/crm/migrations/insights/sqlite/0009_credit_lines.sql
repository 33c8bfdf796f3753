-- The lines commission statements credit, kept (`crm::insights::credit_lines`): one row per
-- line of a paid order (an order without lines: its total) per person credited (the owner, or
-- each person of the order's split), in the order a statement lists them. A statement reads
-- its person's rows of its days instead of joining orders, lines and products.
CREATE TABLE credit_lines (
    user_id TEXT NOT NULL,
    -- The business's day of the order (`ordered_at` at the business's offset from UTC).
    day TEXT NOT NULL,
    order_id TEXT NOT NULL,
    -- The line's position and id ('' and 0 for an order without lines).
    position BIGINT NOT NULL,
    line_id TEXT NOT NULL,
    product_id TEXT,
    -- The product's category (none: no product, or a product in the trash).
    category TEXT,
    -- "number · description", or the number for an order without lines.
    title TEXT NOT NULL,
    -- The line after its discount, before tax (or the order's total), in hundredths of
    -- `currency`.
    cents BIGINT NOT NULL,
    currency TEXT NOT NULL,
    -- The person's share in hundredths of a percent (10000: all of it).
    share BIGINT NOT NULL,
    PRIMARY KEY (user_id, day, order_id, position, line_id)
) WITHOUT ROWID;
CREATE INDEX credit_lines_order ON credit_lines (order_id);
CREATE INDEX credit_lines_product ON credit_lines (product_id) WHERE product_id IS NOT NULL;

-- How far the rows were filled from the orders (by order id), for which offset from UTC; a
-- statement reads the rows only once `done` is 1 (until then, or without the row, it joins
-- the records). The fill writes the one row.
CREATE TABLE credit_lines_fill (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    offset_seconds BIGINT NOT NULL,
    after_id TEXT NOT NULL,
    done INTEGER NOT NULL
);
