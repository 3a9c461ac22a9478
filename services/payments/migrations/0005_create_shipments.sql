-- Parcels handed to couriers: the waybill, cash to collect, and what the courier paid over.
CREATE TABLE shipments (
    order_id BINARY(16) NOT NULL PRIMARY KEY,
    courier VARCHAR(40) NOT NULL,
    waybill VARCHAR(60) NOT NULL,
    cod_minor BIGINT NOT NULL,
    currency CHAR(3) NOT NULL,
    courier_status VARCHAR(100) NULL,
    shipped_at DATETIME(6) NOT NULL,
    delivered_at DATETIME(6) NULL,
    remitted_minor BIGINT NOT NULL DEFAULT 0,
    tracked_at DATETIME(6) NULL,
    UNIQUE KEY uq_shipments_waybill (courier, waybill),
    KEY ix_shipments_owed (courier, delivered_at)
) ENGINE = InnoDB;
