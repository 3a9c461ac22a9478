-- Where each reserved unit is held, so that a release returns it to the same location.
CREATE TABLE reservation_items (
    reservation_id BINARY(16) NOT NULL,
    variant_id BINARY(16) NOT NULL,
    location VARCHAR(40) NOT NULL,
    quantity INT NOT NULL,
    PRIMARY KEY (reservation_id, variant_id, location)
) ENGINE = InnoDB;
