-- Staff sign in with a password and a TOTP code (RFC 6238). The secret is sealed with a key
-- derived from the token signing key (both sites share it); `totp_pending_sealed` holds a secret
-- being enrolled until its first code confirms it. `totp_last_step` is the time step of the last
-- code accepted, so a code is never accepted twice. Repeated failures lock the account for a while.
ALTER TABLE staff
    ADD COLUMN totp_sealed VARBINARY(128) NULL,
    ADD COLUMN totp_pending_sealed VARBINARY(128) NULL,
    ADD COLUMN totp_last_step BIGINT NULL,
    ADD COLUMN failed_sign_ins INT NOT NULL DEFAULT 0,
    ADD COLUMN locked_until DATETIME(6) NULL,
    ADD COLUMN disabled_at DATETIME(6) NULL;

-- One-time recovery codes, stored as SHA-256 hashes; a new enrolment replaces them all.
CREATE TABLE staff_recovery_codes (
    staff_id BINARY(16) NOT NULL,
    code_hash BINARY(32) NOT NULL,
    used_at DATETIME(6) NULL,
    PRIMARY KEY (staff_id, code_hash)
) ENGINE = InnoDB;

-- Server-side staff sessions of the back-office: the browser holds only an opaque id, stored
-- here as its SHA-256 hash. A session in state `enrolling` may only enrol a TOTP secret. It ends
-- at sign-out, after `auth.staff_session_idle_secs` without use, or `staff_session_absolute_secs`
-- after it began, whichever comes first.
CREATE TABLE staff_sessions (
    id_hash BINARY(32) NOT NULL PRIMARY KEY,
    staff_id BINARY(16) NOT NULL,
    state ENUM('enrolling', 'active') NOT NULL,
    client_ip VARCHAR(45) NOT NULL,
    created_at DATETIME(6) NOT NULL,
    last_seen_at DATETIME(6) NOT NULL,
    ended_at DATETIME(6) NULL,
    KEY ix_staff_sessions_staff (staff_id, created_at)
) ENGINE = InnoDB;
