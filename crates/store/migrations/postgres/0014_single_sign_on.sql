-- Single sign-on with OpenID Connect (store::single_sign_on). A sign-in sent to the provider
-- waits here, keyed by its state's hash and bound to the browser that started it (the hash of
-- a cookie's secret), with the nonce and PKCE verifier it must come back with; ten minutes,
-- taken once. An identity links a provider's subject to a user, so that a later change of
-- e-mail at the provider still finds the same user and another subject with the same e-mail
-- does not.
CREATE TABLE sso_sign_ins (
    state_hash TEXT PRIMARY KEY,
    browser_hash TEXT NOT NULL,
    nonce TEXT NOT NULL,
    verifier TEXT NOT NULL,
    next_path TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    client TEXT NOT NULL
);
CREATE INDEX ix_sso_sign_ins_client ON sso_sign_ins (client);
CREATE TABLE sso_identities (
    issuer TEXT NOT NULL,
    subject TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id),
    created_at TEXT NOT NULL,
    PRIMARY KEY (issuer, subject)
);
CREATE UNIQUE INDEX ux_sso_identities_user ON sso_identities (issuer, user_id);
