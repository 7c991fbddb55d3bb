-- Interval joins: bounds between two event times (BETWEEN, strict and non-strict comparisons, in
-- either order, a negative lower bound), inner and outer, with a small watermark delay so rows
-- leave the state while the sources still run; the unmatched rows of an outer side come once.
CREATE TABLE clicks (
  id INT,
  user_id AS id % 5,
  ts AS CAST(TIMESTAMP '2024-01-01 00:00:00' + INTERVAL '7' MINUTE * id AS TIMESTAMP(3)),
  WATERMARK FOR ts AS ts - INTERVAL '1' SECOND
) WITH ('connector' = 'datagen', 'number-of-rows' = '60', 'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '60');
CREATE TABLE page_views (
  vid INT,
  user_id AS vid % 4,
  ts AS CAST(TIMESTAMP '2024-01-01 00:00:00' + INTERVAL '5' MINUTE * vid AS TIMESTAMP(3)),
  WATERMARK FOR ts AS ts - INTERVAL '1' SECOND
) WITH ('connector' = 'datagen', 'number-of-rows' = '80', 'fields.vid.kind' = 'sequence', 'fields.vid.start' = '1', 'fields.vid.end' = '80');
SELECT 'inner' AS what, c.id, v.vid, TIMESTAMPDIFF(MINUTE, v.ts, c.ts) AS gap
FROM clicks c JOIN page_views v ON c.user_id = v.user_id AND c.ts BETWEEN v.ts AND v.ts + INTERVAL '20' MINUTE
UNION ALL
SELECT 'left', c.id, v.vid, TIMESTAMPDIFF(MINUTE, v.ts, c.ts)
FROM clicks c LEFT JOIN page_views v
  ON c.user_id = v.user_id AND v.ts > c.ts - INTERVAL '10' MINUTE AND v.ts <= c.ts
UNION ALL
SELECT 'right', c.id, v.vid, TIMESTAMPDIFF(MINUTE, v.ts, c.ts)
FROM clicks c RIGHT JOIN page_views v
  ON c.user_id = v.user_id AND c.ts >= v.ts AND c.ts < v.ts + INTERVAL '15' MINUTE AND c.id % 2 = 0
UNION ALL
SELECT 'full', c.id, v.vid, TIMESTAMPDIFF(MINUTE, v.ts, c.ts)
FROM page_views v FULL JOIN clicks c
  ON v.user_id = c.user_id AND v.ts BETWEEN c.ts - INTERVAL '5' MINUTE AND c.ts + INTERVAL '12' MINUTE;
