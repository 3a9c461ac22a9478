CREATE TABLE cod_remittance_lines (
    remittance_id BINARY(16) NOT NULL,
    line_no INT NOT NULL,
    waybill VARCHAR(60) NOT NULL,
    amount_minor BIGINT NOT NULL,
    order_id BINARY(16) NULL,
    verdict ENUM('matched', 'unknown_waybill', 'not_delivered', 'amount_differs', 'overpaid') NOT NULL,
    PRIMARY KEY (remittance_id, line_no)
) ENGINE = InnoDB;
