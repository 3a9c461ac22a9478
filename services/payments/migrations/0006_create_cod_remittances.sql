-- A courier's remittance report, imported once (by the file's hash).
CREATE TABLE cod_remittances (
    id BINARY(16) NOT NULL PRIMARY KEY,
    courier VARCHAR(40) NOT NULL,
    file_sha256 BINARY(32) NOT NULL,
    line_count INT NOT NULL,
    total_minor BIGINT NOT NULL,
    matched_minor BIGINT NOT NULL,
    imported_by VARCHAR(60) NOT NULL,
    imported_at DATETIME(6) NOT NULL,
    UNIQUE KEY uq_cod_remittances_file (courier, file_sha256)
) ENGINE = InnoDB;
