-- A bundle's variant is sold as these component variants: its stock is theirs.
CREATE TABLE bundle_components (
    bundle_variant_id BINARY(16) NOT NULL,
    component_variant_id BINARY(16) NOT NULL,
    quantity INT NOT NULL,
    PRIMARY KEY (bundle_variant_id, component_variant_id),
    CONSTRAINT ck_bundle_components_quantity CHECK (quantity > 0)
) ENGINE = InnoDB;
