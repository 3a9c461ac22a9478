-- Each picture resized for phones and desktops (JPEG), made once at upload.
CREATE TABLE image_renditions (
    hash CHAR(64) NOT NULL,
    width INT UNSIGNED NOT NULL,
    bytes MEDIUMBLOB NOT NULL,
    PRIMARY KEY (hash, width)
) ENGINE = InnoDB;
