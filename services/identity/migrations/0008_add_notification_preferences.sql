-- How a customer wants to hear from the shop: in which language, by email, by SMS.
ALTER TABLE customers
    ADD COLUMN language CHAR(2) NOT NULL DEFAULT 'en',
    ADD COLUMN notify_email BOOLEAN NOT NULL DEFAULT TRUE,
    ADD COLUMN notify_sms BOOLEAN NOT NULL DEFAULT TRUE;
