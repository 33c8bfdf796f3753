//! Tokens and sessions as two instances of the server see them: the instance that revokes a
//! token, ends a session or deactivates a user refuses it at once; another instance, which read
//! it lately, within `AUTH_TTL`.

use peyvand_records::access::Role;
use peyvand_store::accounts::AUTH_TTL;
use peyvand_store::testing::{Backend, TestDb};

async fn two_instances(backend: Backend) {
    let Some(test_db) = TestDb::new(backend).await else { return };
    let here = peyvand_crm::open(&test_db.url).await.expect("open");
    let there = peyvand_crm::open(&test_db.url).await.expect("open again");
    let user =
        here.create_user("agent@test.peyvand.ir", "Agent", Role::Agent, "$argon2id$fake", "fa").await.expect("user");
    let (token, secret) = here.create_api_token(&user.id, "script").await.expect("token");
    let (session, _csrf) = here.create_session(&user.id, time::Duration::hours(1)).await.expect("session");
    // Both instances have read both lately.
    for db in [&here, &there] {
        assert!(db.token_user(&secret).await.expect("token").is_some());
        assert!(db.session_user(&session).await.expect("session").is_some());
    }

    here.revoke_api_token(&user.id, &token.id).await.expect("revoke");
    here.delete_session(&session).await.expect("sign out");
    assert!(here.token_user(&secret).await.expect("token").is_none(), "refused at once where revoked");
    assert!(here.session_user(&session).await.expect("session").is_none(), "ended at once where signed out");
    let started = std::time::Instant::now();
    let still = there.token_user(&secret).await.expect("token").is_some();
    if started.elapsed() < AUTH_TTL / 2 {
        assert!(still, "the other instance trusts what it read for a moment");
    }
    tokio::time::sleep(AUTH_TTL).await;
    assert!(there.token_user(&secret).await.expect("token").is_none(), "and refuses it after AUTH_TTL");
    assert!(there.session_user(&session).await.expect("session").is_none());

    // A deactivated user's other tokens stop at once on the instance that deactivated them.
    let (_, second) = here.create_api_token(&user.id, "second").await.expect("token");
    assert!(here.token_user(&second).await.expect("token").is_some());
    here.update_user(None, &user.id, None, None, Some(false)).await.expect("deactivate");
    assert!(here.token_user(&second).await.expect("token").is_none());

    here.close().await;
    there.close().await;
    test_db.cleanup().await;
}

#[tokio::test]
async fn sqlite() {
    two_instances(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres() {
    two_instances(Backend::Postgres).await;
}
