CREATE TABLE reservations (
    id BINARY(16) NOT NULL PRIMARY KEY,
    expires_at DATETIME(6) NOT NULL,
    created_at DATETIME(6) NOT NULL,
    KEY ix_reservations_expires_at (expires_at)
) ENGINE = InnoDB;
