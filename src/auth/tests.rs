use super::*;

fn auth() -> Auth {
    Auth::new("0123456789abcdef0123456789abcdef", SignedDuration::from_mins(60), SignedDuration::from_secs(30))
}

fn standing(role: Role) -> Standing {
    Standing { role, active: true, valid_after: Timestamp::UNIX_EPOCH }
}

#[test]
fn tokens_round_trip_and_expire() {
    let now: Timestamp = "2026-03-02T02:00:00Z".parse().unwrap();
    let a = auth();
    let user = UserId::new();
    a.set_standing(user, Some(standing(Role::Agent)));
    let (token, issued) = a.issue_token(user, Role::Agent, now);
    let claims = a.verify_token(&token, now).unwrap();
    assert_eq!(claims, issued);
    assert_eq!((claims.user, claims.role, claims.issued_at), (user, Role::Agent, now));
    assert_eq!(a.verify_token(&token, claims.expires_at), Err(AuthError::Expired));
}

#[test]
fn tampered_foreign_or_old_tokens_are_refused() {
    let now = Timestamp::now();
    let a = auth();
    let user = UserId::new();
    a.set_standing(user, Some(standing(Role::Agent)));
    let (token, _) = a.issue_token(user, Role::Agent, now);
    let forged = token.replace(".agent.", ".admin.");
    assert_eq!(a.verify_token(&forged, now), Err(AuthError::BadSignature));
    let other =
        Auth::new("another secret that is long enough!!", SignedDuration::from_mins(1), SignedDuration::from_secs(1));
    assert_eq!(other.verify_token(&token, now), Err(AuthError::BadSignature));
    assert_eq!(a.verify_token("garbage", now), Err(AuthError::Malformed));
    assert_eq!(a.verify_token("a.b.zz", now), Err(AuthError::Malformed));
    // A token of the first format (no id, no issue time) is refused.
    let payload = format!("v1.{user}.agent.{}", (now + SignedDuration::from_mins(5)).as_millisecond());
    let sig: String = a.mac(&payload).finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(a.verify_token(&format!("{payload}.{sig}"), now), Err(AuthError::Malformed));
}

#[test]
fn a_token_stops_counting_when_its_account_changes() {
    let now = Timestamp::now();
    let a = auth();
    let user = UserId::new();
    let (token, _) = a.issue_token(user, Role::Supervisor, now);
    assert_eq!(a.verify_token(&token, now), Err(AuthError::Ended(Ended::Deleted)), "no such account yet");
    a.set_standing(user, Some(standing(Role::Supervisor)));
    assert!(a.verify_token(&token, now).is_ok());
    a.set_standing(user, Some(standing(Role::Agent)));
    assert_eq!(a.verify_token(&token, now), Err(AuthError::Ended(Ended::RoleChanged)));
    a.set_standing(user, Some(Standing { active: false, ..standing(Role::Supervisor) }));
    assert_eq!(a.verify_token(&token, now), Err(AuthError::Ended(Ended::Disabled)));
    let later = now + SignedDuration::from_secs(1);
    a.set_standing(user, Some(Standing { valid_after: later, ..standing(Role::Supervisor) }));
    assert_eq!(a.verify_token(&token, later), Err(AuthError::Ended(Ended::PasswordChanged)));
    let (fresh, _) = a.issue_token(user, Role::Supervisor, later);
    assert!(a.verify_token(&fresh, later).is_ok(), "a token issued since counts");
}

#[test]
fn logging_out_ends_one_token_only() {
    let now = Timestamp::now();
    let a = auth();
    let user = UserId::new();
    a.set_standing(user, Some(standing(Role::Agent)));
    let (first, claims) = a.issue_token(user, Role::Agent, now);
    let (second, _) = a.issue_token(user, Role::Agent, now);
    a.revoke(claims.token, claims.expires_at, now);
    assert_eq!(a.verify_token(&first, now), Err(AuthError::Ended(Ended::LoggedOut)));
    assert!(a.verify_token(&second, now).is_ok());
}

#[test]
fn tickets_work_once_expire_and_are_capped_per_user() {
    let now = Timestamp::now();
    let a = auth();
    let user = UserId::new();
    a.set_standing(user, Some(standing(Role::Agent)));
    let (_, claims) = a.issue_token(user, Role::Agent, now);
    let (t, _) = a.issue_ticket(claims, now).unwrap();
    assert!(a.redeem_ticket(&t, now).is_ok());
    assert!(a.redeem_ticket(&t, now).is_err());
    let (t, exp) = a.issue_ticket(claims, now).unwrap();
    assert!(a.redeem_ticket(&t, exp).is_err());
    for _ in 0..tickets::MAX_PER_USER {
        a.issue_ticket(claims, now).unwrap();
    }
    assert_eq!(a.issue_ticket(claims, now), Err(AuthError::TooManyTickets));
    let later = now + SignedDuration::from_secs(31);
    assert!(a.issue_ticket(claims, later).is_ok(), "expired tickets free their places");
    assert_eq!(a.tickets.lock().unwrap().len(), 1, "and leave the table");
}

#[test]
fn a_ticket_of_a_token_that_ended_is_refused() {
    let now = Timestamp::now();
    let a = auth();
    let user = UserId::new();
    a.set_standing(user, Some(standing(Role::Agent)));
    let (_, claims) = a.issue_token(user, Role::Agent, now);
    let (t, _) = a.issue_ticket(claims, now).unwrap();
    a.revoke(claims.token, claims.expires_at, now);
    assert_eq!(a.redeem_ticket(&t, now), Err(AuthError::Ended(Ended::LoggedOut)));
}

/// Why the socket ended, if it does within 5 s.
async fn soon(guard: &SocketGuard) -> Result<Ended, tokio::time::error::Elapsed> {
    tokio::time::timeout(std::time::Duration::from_secs(5), guard.ended()).await
}

#[tokio::test]
async fn sockets_end_with_their_token_and_are_capped_per_kind() {
    let now = Timestamp::now();
    let a = auth();
    let user = UserId::new();
    a.set_standing(user, Some(standing(Role::Supervisor)));
    let (_, first) = a.issue_token(user, Role::Supervisor, now);
    let (_, second) = a.issue_token(user, Role::Supervisor, now);
    let board = a.open_socket(first, SocketKind::Wallboard, 2).unwrap();
    let other = a.open_socket(second, SocketKind::Wallboard, 2).unwrap();
    assert!(a.open_socket(second, SocketKind::Wallboard, 2).is_none(), "a third wallboard is refused");
    a.revoke(first.token, first.expires_at, now);
    assert_eq!(soon(&board).await, Ok(Ended::LoggedOut));
    let pending = tokio::time::timeout(std::time::Duration::from_millis(20), other.ended()).await;
    assert!(pending.is_err(), "the other token's socket stays open");
    drop(board);
    assert!(a.open_socket(second, SocketKind::Wallboard, 2).is_some(), "a closed socket frees its place");
    a.set_standing(user, None);
    assert_eq!(soon(&other).await, Ok(Ended::Deleted));
}
