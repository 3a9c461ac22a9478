-- One row every change to the counts locks first, so that a rebuild and the event consumer
-- never interleave; it says when the last rebuild finished.
CREATE TABLE learning (
    id TINYINT NOT NULL PRIMARY KEY,
    rebuilt_at DATETIME(6) NULL
) ENGINE = InnoDB;
INSERT INTO learning (id, rebuilt_at) VALUES (1, NULL);
