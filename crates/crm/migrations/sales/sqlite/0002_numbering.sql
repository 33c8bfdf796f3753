-- Numbering of quotes and orders: a pattern per kind ({jy} Jalali year, {y} Gregorian year,
-- {n:5} the counter zero-padded to 5), and a counter per kind and period (the year it names).
CREATE TABLE sales_numbering (
    kind TEXT PRIMARY KEY,
    pattern TEXT NOT NULL,
    persian_digits BIGINT NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL
);

CREATE TABLE sales_sequences (
    kind TEXT NOT NULL,
    period TEXT NOT NULL,
    next BIGINT NOT NULL,
    PRIMARY KEY (kind, period)
);

-- One-time data upgrades of the module, by name, once done.
CREATE TABLE sales_upgrades (
    name TEXT PRIMARY KEY,
    done_at TEXT NOT NULL
);

-- The business as its quotes and invoices name it: name, address, economic code, … by key.
CREATE TABLE sales_business (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
