-- A partitioned filesystem table: directories nest in PARTITIONED BY order, partition columns
-- are left out of the files, NULL and '' go to __DEFAULT_PARTITION__, reserved characters are
-- %-escaped, a DATE is written as Flink writes it (days since 1970), each partition gets a
-- _SUCCESS file.
SET 'execution.runtime-mode' = 'batch';
CREATE TABLE src (id INT) WITH ('connector' = 'datagen', 'number-of-rows' = '60',
  'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '60');
CREATE TABLE parted (id INT, dt DATE, note STRING, tag STRING) PARTITIONED BY (dt, tag) WITH (
  'connector' = 'filesystem', 'path' = '${OUT}', 'format' = 'csv',
  'sink.partition-commit.policy.kind' = 'success-file');
INSERT INTO parted SELECT id, CAST(CONCAT('2026-12-0', CAST(5 + MOD(id, 3) AS STRING)) AS DATE),
  CONCAT('n, ', CAST(id AS STRING)),
  CASE MOD(id, 5) WHEN 0 THEN CAST(NULL AS STRING) WHEN 1 THEN '' WHEN 2 THEN 'a/b:c'
    WHEN 3 THEN 'x=y%z #q' ELSE 'plain' END
FROM src;
