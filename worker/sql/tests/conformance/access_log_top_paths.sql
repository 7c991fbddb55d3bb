-- Issue 16's access-log job, its second statement: the ten most requested paths of each hour
-- (ROW_NUMBER over a GROUP BY), from the same logs as access_log_status.sql.
CREATE TABLE logs (line STRING) WITH ('connector' = 'filesystem', 'path' = '${DATA}/access', 'format' = 'raw');
CREATE VIEW parsed AS SELECT
  REGEXP_EXTRACT(line, '\[\d+/\w+/\d+:(\d\d):', 1) AS hr,
  CAST(REGEXP_EXTRACT(line, '" (\d\d\d) \d+ ', 1) AS INT) AS status,
  REGEXP_EXTRACT(line, '"GET ([^ ]+) HTTP', 1) AS path
FROM logs;
SELECT hr, path, hits, rn FROM (
  SELECT hr, path, hits, ROW_NUMBER() OVER (PARTITION BY hr ORDER BY hits DESC, path) AS rn
  FROM (SELECT hr, path, COUNT(*) AS hits FROM parsed WHERE path IS NOT NULL AND status IS NOT NULL GROUP BY hr, path))
WHERE rn <= 10;
