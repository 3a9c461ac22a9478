//! Staff sign-in with two factors, back-office sessions, and the admin's staff accounts.
//!
//! A staff member signs in with email, password and a TOTP code (or a recovery code). An account
//! that has not enrolled a TOTP secret yet gets a session that may only enrol one. Five failures
//! in a row (password or code) lock the account for a quarter of an hour; the answer to a wrong
//! password, a wrong code, a locked or a disabled account is the same, so that the sign-in form
//! tells an attacker nothing.

use std::time::Duration;

use chrono::{SubsecRound, Utc};
use pola_core::{
    Error,
    audit::{self, Change},
    auth::{Realm, Role, Staff},
    db::is_duplicate_key,
};
use uuid::Uuid;

use crate::{
    Identity,
    model::{
        Email,
        staff::{
            Enrolment, NewStaff, RECOVERY_CODES, RecoveryCodes, RoleList, SecondFactor, SessionStarted, SessionState,
            SessionToken, StaffAccount, StaffSignIn, StaffUpdate, TotpSecret, new_recovery_code, new_session_id,
            recovery_code_hash, session_hash,
        },
    },
    store::{self, staff as db},
};

/// What the sign-in form is told about any refused attempt.
const REFUSED: &str = "The email, password or code is wrong, or the account is locked for a while.";

/// Associated data of a sealed TOTP secret: it opens only as that account's secret.
fn totp_aad(staff: Uuid) -> Vec<u8> {
    format!("staff|totp|{staff}").into_bytes()
}

/// Who signed in, and whether they still have to enrol.
struct Verified {
    id: Uuid,
    enrolled: bool,
}

impl Identity {
    fn totp_key(&self) -> [u8; 32] {
        self.keys.derive_key("staff totp secret")
    }

    fn seal_totp(&self, staff: Uuid, secret: &TotpSecret) -> Vec<u8> {
        pola_pii::seal::encrypt(&self.totp_key(), &totp_aad(staff), &secret.0)
    }

    fn open_totp(&self, staff: Uuid, sealed: &[u8]) -> Result<TotpSecret, Error> {
        let bytes = pola_pii::seal::decrypt(&self.totp_key(), &totp_aad(staff), sealed)
            .map_err(|e| Error::Internal(anyhow::anyhow!("a staff TOTP secret does not open: {e}")))?;
        Ok(TotpSecret(bytes.try_into().map_err(|_| {
            Error::Internal(anyhow::anyhow!("a staff TOTP secret has the wrong length"))
        })?))
    }

    /// Checks email, password and (for an enrolled account) the second factor; counts failures.
    async fn verify_staff(&self, email: &str, password: String, code: Option<&str>) -> Result<Verified, Error> {
        let refused = || Error::Unauthorized(REFUSED.into());
        let account = match Email::parse(email) {
            Ok(email) => db::credentials(&self.pool, email.as_str()).await?,
            Err(_) => None,
        };
        let Some(account) = account else {
            self.hashing.verify_dummy(password).await?;
            return Err(refused());
        };
        let now = Utc::now();
        if account.disabled_at.is_some() || account.locked_until.is_some_and(|until| until > now) {
            self.hashing.verify_dummy(password).await?;
            tracing::warn!(staff.id = %account.id, "a staff sign-in to a locked or disabled account was refused");
            return Err(refused());
        }
        let password_right = self.hashing.verify(password, account.password_hash.clone()).await?;
        let second_right = match (&account.totp_sealed, code) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(sealed), Some(code)) if password_right => match SecondFactor::parse(code) {
                SecondFactor::Totp(code) => {
                    let secret = self.open_totp(account.id, sealed)?;
                    match secret.check(code, now, account.totp_last_step) {
                        Some(step) => db::accept_totp_step(&self.pool, account.id, step).await?,
                        None => false,
                    }
                }
                SecondFactor::Recovery(code) => {
                    let used = db::use_recovery_code(&self.pool, account.id, &recovery_code_hash(code)).await?;
                    if used {
                        tracing::warn!(staff.id = %account.id, "a staff member signed in with a recovery code");
                    }
                    used
                }
            },
            (Some(_), Some(_)) => false,
        };
        if !(password_right && second_right) {
            let lock_until =
                (now + chrono::Duration::seconds(i64::try_from(self.config.staff_lockout_secs).unwrap_or(900))).trunc_subsecs(6);
            if db::sign_in_failed(&self.pool, account.id, self.config.staff_lockout_failures, lock_until).await? {
                tracing::warn!(staff.id = %account.id, until = %lock_until, "a staff account is locked after repeated failed sign-ins");
            }
            return Err(refused());
        }
        db::reset_failures(&self.pool, account.id).await?;
        Ok(Verified {
            id: account.id,
            enrolled: account.totp_sealed.is_some(),
        })
    }

    /// The API's staff password grant: a code is needed when `auth.staff_totp_required` is on
    /// (and an account without a secret is sent to the back-office to enrol).
    pub(crate) async fn staff_grant(&self, email: &str, password: String, code: Option<&str>) -> Result<Uuid, Error> {
        let verified = self.verify_staff(email, password, code).await?;
        if self.config.staff_totp_required && !verified.enrolled {
            return Err(Error::OAuth {
                status: axum::http::StatusCode::BAD_REQUEST,
                error: "invalid_grant",
                description: "Enrol an authenticator app in the back-office first; staff sign in with two factors.".into(),
            });
        }
        Ok(verified.id)
    }

    /// Starts a back-office session.
    pub async fn start_session(&self, sign_in: StaffSignIn, client_ip: &str) -> Result<SessionStarted, Error> {
        let verified = self
            .verify_staff(&sign_in.email, sign_in.password, sign_in.code.as_deref())
            .await?;
        let state = if verified.enrolled {
            SessionState::Active
        } else {
            SessionState::Enrolling
        };
        let (session, hash) = new_session_id();
        db::insert_session(&self.pool, &hash, verified.id, state, client_ip).await?;
        tracing::info!(staff.id = %verified.id, session.state = state.as_str(), "a staff session started");
        Ok(SessionStarted { session, state })
    }

    /// The live session `session` names, marked used; 401 when it ended or timed out.
    async fn live_session(&self, session: &str) -> Result<(db::LiveSession, [u8; 32]), Error> {
        let now = Utc::now();
        let secs = |s: u64| chrono::Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX / 4));
        let hash = session_hash(session);
        db::touch_session(
            &self.pool,
            &hash,
            now - secs(self.config.staff_session_idle_secs),
            now - secs(self.config.staff_session_absolute_secs),
        )
        .await?
        .map(|live| (live, hash))
        .ok_or_else(|| Error::Unauthorized("The session has ended; sign in again.".into()))
    }

    /// The session's staff member and, for an active session, a fresh access token.
    pub async fn session_token(&self, session: &str) -> Result<SessionToken, Error> {
        let (live, _) = self.live_session(session).await?;
        let staff = db::account(&self.pool, live.staff_id)
            .await?
            .ok_or_else(|| Error::Unauthorized("The session has ended; sign in again.".into()))?;
        let ttl = Duration::from_secs(self.config.access_token_ttl_secs);
        let access_token = match live.state {
            SessionState::Active => Some(self.keys.issue(Realm::Staff, staff.id, staff.roles.0.clone(), ttl)?),
            SessionState::Enrolling => None,
        };
        Ok(SessionToken {
            state: live.state,
            staff,
            access_token,
            expires_in: ttl.as_secs(),
        })
    }

    /// Offers a new TOTP secret to an enrolling session (a new one each time it is asked).
    pub async fn begin_enrolment(&self, session: &str) -> Result<Enrolment, Error> {
        let (live, _) = self.live_session(session).await?;
        if live.state != SessionState::Enrolling {
            return Err(Error::conflict(
                "already-enrolled",
                "This account has an authenticator app already.",
            ));
        }
        let account = db::account(&self.pool, live.staff_id)
            .await?
            .ok_or_else(|| Error::not_found("staff"))?;
        let secret = TotpSecret::generate();
        db::set_pending_totp(&self.pool, account.id, &self.seal_totp(account.id, &secret)).await?;
        Ok(Enrolment {
            secret: secret.base32(),
            otpauth_uri: secret.uri(&account.email),
        })
    }

    /// Confirms the offered secret with its first code: the account is enrolled, the session
    /// active, and the recovery codes are returned this once.
    pub async fn confirm_enrolment(&self, session: &str, code: &str) -> Result<RecoveryCodes, Error> {
        let (live, hash) = self.live_session(session).await?;
        let sealed = db::pending_totp(&self.pool, live.staff_id)
            .await?
            .ok_or_else(|| Error::conflict("no-enrolment", "Ask for a new secret first."))?;
        let secret = self.open_totp(live.staff_id, &sealed)?;
        let step = secret
            .check(code, Utc::now(), None)
            .ok_or_else(|| Error::field("code", "is not the code the app shows now"))?;
        let codes: Vec<(String, [u8; 32])> = (0..RECOVERY_CODES).map(|_| new_recovery_code()).collect();
        let hashes: Vec<[u8; 32]> = codes.iter().map(|(_, h)| *h).collect();
        let mut tx = self.pool.begin().await?;
        if !db::confirm_totp(&mut tx, live.staff_id, step, &hashes, &hash).await? {
            return Err(Error::conflict("no-enrolment", "Ask for a new secret first."));
        }
        tx.commit().await?;
        tracing::info!(staff.id = %live.staff_id, "a staff member enrolled an authenticator app");
        Ok(RecoveryCodes {
            recovery_codes: codes.into_iter().map(|(c, _)| c).collect(),
        })
    }

    /// Ends a session (sign-out); ending an ended one is not an error.
    pub async fn end_session(&self, session: &str) -> Result<(), Error> {
        if db::end_session(&self.pool, &session_hash(session)).await? {
            tracing::info!("a staff session ended at sign-out");
        }
        Ok(())
    }

    pub async fn staff_accounts(&self, admin: &Staff) -> Result<Vec<StaffAccount>, Error> {
        admin.require(Role::Admin)?;
        Ok(db::accounts(&self.pool).await?)
    }

    /// An admin creates a staff account; it enrols its app at its first sign-in.
    pub async fn add_staff(&self, admin: &Staff, new: NewStaff) -> Result<StaffAccount, Error> {
        admin.require(Role::Admin)?;
        let email = Email::parse(&new.email).map_err(|m| Error::field("email", m))?;
        let name = crate::model::PersonName::parse(&new.name).map_err(|m| Error::field("name", m))?;
        let password = crate::model::Password::parse(new.password).map_err(|m| Error::field("password", m))?;
        let roles = distinct_roles(new.roles)?;
        let hash = self.hashing.hash(password.into_inner()).await?;
        let id = pola_core::new_id();
        let mut tx = self.pool.begin().await?;
        store::insert_staff(&mut *tx, id, email.as_str(), name.as_str(), &roles.0, &hash)
            .await
            .map_err(|e| {
                if is_duplicate_key(&e, "uq_staff_email") {
                    Error::conflict("email-taken", "A staff member with this email exists.")
                } else {
                    e.into()
                }
            })?;
        let account = db::account(&mut *tx, id).await?.ok_or_else(|| Error::not_found("staff"))?;
        audit::record(&mut *tx, admin, Change::new("staff.create", "staff", id).after(&account)).await?;
        tx.commit().await?;
        Ok(account)
    }

    /// An admin changes a staff member's roles, disables or re-enables the account (which also
    /// lifts a lock-out). Disabling ends their sessions at once.
    pub async fn update_staff(&self, admin: &Staff, id: Uuid, update: StaffUpdate) -> Result<StaffAccount, Error> {
        admin.require(Role::Admin)?;
        if id == admin.id && (update.disabled == Some(true) || update.roles.as_ref().is_some_and(|r| !r.contains(&Role::Admin))) {
            return Err(Error::conflict(
                "own-account",
                "Admins cannot disable themselves or drop their own admin role.",
            ));
        }
        let mut tx = self.pool.begin().await?;
        let before = db::account(&mut *tx, id).await?.ok_or_else(|| Error::not_found("staff"))?;
        let roles = match update.roles {
            Some(roles) => distinct_roles(roles)?,
            None => before.roles.clone(),
        };
        let disabled_at = match update.disabled {
            Some(true) => before.disabled_at.or(Some(Utc::now())),
            Some(false) => None,
            None => before.disabled_at,
        };
        db::update_account(&mut tx, id, &roles, disabled_at).await?;
        if disabled_at.is_some() {
            db::end_sessions_of(&mut tx, id).await?;
        }
        let after = db::account(&mut *tx, id).await?.ok_or_else(|| Error::not_found("staff"))?;
        audit::record(
            &mut *tx,
            admin,
            Change::new("staff.update", "staff", id).before(&before).after(&after),
        )
        .await?;
        tx.commit().await?;
        Ok(after)
    }

    /// An admin makes a staff member enrol a new authenticator app (a lost phone): the secret and
    /// recovery codes go, their sessions end, and the next sign-in enrols.
    pub async fn reset_two_factor(&self, admin: &Staff, id: Uuid) -> Result<StaffAccount, Error> {
        admin.require(Role::Admin)?;
        let mut tx = self.pool.begin().await?;
        let before = db::account(&mut *tx, id).await?.ok_or_else(|| Error::not_found("staff"))?;
        db::clear_totp(&mut tx, id).await?;
        db::end_sessions_of(&mut tx, id).await?;
        let after = db::account(&mut *tx, id).await?.ok_or_else(|| Error::not_found("staff"))?;
        audit::record(
            &mut *tx,
            admin,
            Change::new("staff.reset-two-factor", "staff", id)
                .before(&before)
                .after(&after),
        )
        .await?;
        tx.commit().await?;
        Ok(after)
    }
}

fn distinct_roles(roles: Vec<Role>) -> Result<RoleList, Error> {
    let mut distinct: Vec<Role> = Vec::new();
    for role in roles {
        if !distinct.contains(&role) {
            distinct.push(role);
        }
    }
    if distinct.is_empty() {
        return Err(Error::field("roles", "at least one role is needed"));
    }
    Ok(RoleList(distinct))
}
