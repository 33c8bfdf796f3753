-- Offers from purchase history (`crm::sales::offers`): the co-purchase model built from the
-- orders' lines by the `offers_build` job, replaced whole at each build.

-- Each product's best neighbors: customers who bought one bought the other (cosine similarity
-- times 1,000,000).
CREATE TABLE offer_pairs (
    product_id TEXT NOT NULL,
    other_id TEXT NOT NULL,
    score BIGINT NOT NULL,
    PRIMARY KEY (product_id, other_id)
);
-- How many customers bought each product (the best sellers, offered when history says little).
CREATE TABLE offer_products (
    product_id TEXT PRIMARY KEY,
    buyers BIGINT NOT NULL
);
CREATE INDEX ix_offer_products_buyers ON offer_products (buyers);
-- The model in use: when it was built and from what (one row, id 1).
CREATE TABLE offer_models (
    id BIGINT PRIMARY KEY,
    built_at TEXT NOT NULL,
    customers BIGINT NOT NULL,
    products BIGINT NOT NULL,
    pairs BIGINT NOT NULL
);
