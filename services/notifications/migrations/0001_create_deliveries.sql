-- Every message an event called for, by channel and recipient (a customer id, or a hash of a
-- staff address): what became of it. A redelivered event finds its messages here and sends
-- none twice; an SMS held for quiet hours waits here (with its event) until `send_after`.
CREATE TABLE deliveries (
    event_id BINARY(16) NOT NULL,
    channel VARCHAR(8) NOT NULL,
    recipient VARCHAR(64) NOT NULL,
    status VARCHAR(16) NOT NULL,
    detail VARCHAR(255) NULL,
    event JSON NULL,
    send_after DATETIME(6) NULL,
    updated_at DATETIME(6) NOT NULL,
    PRIMARY KEY (event_id, channel, recipient),
    KEY deliveries_waiting (status, send_after)
) ENGINE = InnoDB;
