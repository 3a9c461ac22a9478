-- Delivery fees by zone and weight, districts in zones, and effective-dated VAT rates: data
-- staff change, seeded with the shop's first values.
CREATE TABLE delivery_zones (
    code VARCHAR(20) NOT NULL PRIMARY KEY,
    first_kg_minor BIGINT NOT NULL,
    extra_kg_minor BIGINT NOT NULL
) ENGINE = InnoDB;

CREATE TABLE delivery_districts (
    district VARCHAR(40) NOT NULL PRIMARY KEY,
    zone VARCHAR(20) NOT NULL
) ENGINE = InnoDB;

CREATE TABLE delivery_settings (
    id TINYINT NOT NULL PRIMARY KEY,
    free_from_minor BIGINT NULL,
    cod_surcharge_minor BIGINT NOT NULL
) ENGINE = InnoDB;

CREATE TABLE vat_rates (
    effective_from DATE NOT NULL PRIMARY KEY,
    basis_points INT UNSIGNED NOT NULL
) ENGINE = InnoDB;

INSERT INTO delivery_zones VALUES ('metro', 35000, 10000), ('island', 45000, 12000), ('north_east', 55000, 15000);
INSERT INTO delivery_districts VALUES
    ('Colombo', 'metro'), ('Gampaha', 'metro'), ('Kalutara', 'metro'),
    ('Jaffna', 'north_east'), ('Kilinochchi', 'north_east'), ('Mannar', 'north_east'),
    ('Mullaitivu', 'north_east'), ('Vavuniya', 'north_east'), ('Trincomalee', 'north_east'),
    ('Batticaloa', 'north_east'), ('Ampara', 'north_east'),
    ('Anuradhapura', 'island'), ('Badulla', 'island'), ('Galle', 'island'), ('Hambantota', 'island'),
    ('Kandy', 'island'), ('Kegalle', 'island'), ('Kurunegala', 'island'), ('Matale', 'island'),
    ('Matara', 'island'), ('Monaragala', 'island'), ('Nuwara Eliya', 'island'),
    ('Polonnaruwa', 'island'), ('Puttalam', 'island'), ('Ratnapura', 'island');
INSERT INTO delivery_settings VALUES (1, 1000000, 10000);
INSERT INTO vat_rates VALUES ('2019-12-01', 800), ('2022-06-01', 1200), ('2022-09-01', 1500), ('2024-01-01', 1800);
