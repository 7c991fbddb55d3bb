-- Issue 16's access-log job, its first statement: the lines of a directory of logs (one file
-- gzip-compressed, about one line in 150 cut short) as `raw` rows, parsed with REGEXP_EXTRACT,
-- per hour and status COUNT, SUM and MAX (truncated lines have no status and drop out).
CREATE TABLE logs (line STRING) WITH ('connector' = 'filesystem', 'path' = '${DATA}/access', 'format' = 'raw');
CREATE VIEW parsed AS SELECT
  REGEXP_EXTRACT(line, '\[\d+/\w+/\d+:(\d\d):', 1) AS hr,
  CAST(REGEXP_EXTRACT(line, '" (\d\d\d) \d+ ', 1) AS INT) AS status,
  CAST(REGEXP_EXTRACT(line, '" \d\d\d (\d+) ', 1) AS BIGINT) AS size,
  REGEXP_EXTRACT(line, '"GET ([^ ]+) HTTP', 1) AS path
FROM logs;
SELECT hr, status, COUNT(*) AS hits, SUM(size) AS total_size, MAX(size) AS largest
FROM parsed WHERE status IS NOT NULL GROUP BY hr, status;
