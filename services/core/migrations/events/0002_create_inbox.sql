-- Events a consumer has taken on (`done` false: being worked on, since `claimed_at`) or
-- finished: a redelivered event is processed once.
CREATE TABLE inbox (
    consumer VARCHAR(64) NOT NULL,
    event_id BINARY(16) NOT NULL,
    done BOOLEAN NOT NULL DEFAULT FALSE,
    claimed_at DATETIME(6) NOT NULL,
    PRIMARY KEY (consumer, event_id)
) ENGINE = InnoDB;
