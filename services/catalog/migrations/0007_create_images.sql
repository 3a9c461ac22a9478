-- Product pictures, content-addressed: the SHA-256 of the uploaded file names it, so a file
-- uploaded twice is kept once. They live in the catalog's database, so they replicate to the
-- DR site with everything else (semi-synchronously) and are there after a failover.
CREATE TABLE images (
    hash CHAR(64) NOT NULL PRIMARY KEY,
    content_type VARCHAR(40) NOT NULL,
    width INT UNSIGNED NOT NULL,
    height INT UNSIGNED NOT NULL,
    original MEDIUMBLOB NOT NULL,
    created_at DATETIME(6) NOT NULL
) ENGINE = InnoDB;
