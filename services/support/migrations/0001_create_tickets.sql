-- Customers' support tickets. The subject is personal data: sealed with the customer's data key
-- (erasing the customer makes it unreadable). Deadlines: `*_due_at` are when the first answer
-- and the resolution are due as if the clock never stopped; `paused_secs` is how long it stood
-- still (waiting on the customer, or resolved until reopened) and `paused_since` when the current
-- pause began. `*_overdue_at` say when the support lead was told a deadline passed.
CREATE TABLE tickets (
    id BINARY(16) NOT NULL PRIMARY KEY,
    customer_id BINARY(16) NOT NULL,
    order_id BINARY(16) NULL,
    category VARCHAR(32) NOT NULL,
    state ENUM('new', 'open', 'waiting', 'resolved', 'closed') NOT NULL,
    subject_sealed VARBINARY(1024) NOT NULL,
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL,
    first_response_due_at DATETIME(6) NOT NULL,
    resolution_due_at DATETIME(6) NOT NULL,
    paused_secs BIGINT NOT NULL DEFAULT 0,
    paused_since DATETIME(6) NULL,
    first_responded_at DATETIME(6) NULL,
    resolved_at DATETIME(6) NULL,
    closed_at DATETIME(6) NULL,
    first_response_overdue_at DATETIME(6) NULL,
    resolution_overdue_at DATETIME(6) NULL,
    KEY ix_tickets_customer (customer_id, id),
    KEY ix_tickets_state (state, id)
) ENGINE = InnoDB;

-- The thread: customers' and staff's messages, and staff's internal notes (never shown to the
-- customer). Bodies sealed like the subject.
CREATE TABLE ticket_messages (
    id BINARY(16) NOT NULL PRIMARY KEY,
    ticket_id BINARY(16) NOT NULL,
    author ENUM('customer', 'staff') NOT NULL,
    staff_id BINARY(16) NULL,
    internal BOOLEAN NOT NULL DEFAULT FALSE,
    body_sealed VARBINARY(16384) NOT NULL,
    created_at DATETIME(6) NOT NULL,
    KEY ix_ticket_messages_ticket (ticket_id, id)
) ENGINE = InnoDB;
