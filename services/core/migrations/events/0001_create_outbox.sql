-- Events a service has recorded, written in the same transaction as the change they describe;
-- the relay publishes them to RabbitMQ in `seq` order and marks them sent.
CREATE TABLE outbox (
    seq BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    id BINARY(16) NOT NULL,
    type VARCHAR(100) NOT NULL,
    version SMALLINT UNSIGNED NOT NULL,
    occurred_at DATETIME(6) NOT NULL,
    data JSON NOT NULL,
    sent_at DATETIME(6) NULL,
    UNIQUE KEY outbox_id (id),
    KEY outbox_unsent (sent_at, seq)
) ENGINE = InnoDB;
