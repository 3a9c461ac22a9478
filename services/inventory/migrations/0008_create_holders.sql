-- One row per holder with live reservations: reserving for a holder locks its row first, so that
-- two holds of one holder are counted one after the other and a limit is exact.
CREATE TABLE holders (
    holder BINARY(16) NOT NULL PRIMARY KEY
) ENGINE = InnoDB;
