-- Window joins: two window functions' rows, and two window aggregates, joined on their window
-- bounds and a key: inner, left, right and full, insert-only as Flink's, each window's rows kept
-- until the watermark passes its end.
CREATE TABLE l (
  id INT,
  num AS id % 6,
  ts AS CAST(TIMESTAMP '2024-01-01 00:00:00' + INTERVAL '1' MINUTE * (id * 3) AS TIMESTAMP(3)),
  WATERMARK FOR ts AS ts - INTERVAL '1' SECOND
) WITH ('connector' = 'datagen', 'number-of-rows' = '40', 'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '40');
CREATE TABLE r (
  rid INT,
  num AS rid % 4,
  ts AS CAST(TIMESTAMP '2024-01-01 00:00:00' + INTERVAL '1' MINUTE * (rid * 4) AS TIMESTAMP(3)),
  WATERMARK FOR ts AS ts - INTERVAL '1' SECOND
) WITH ('connector' = 'datagen', 'number-of-rows' = '30', 'fields.rid.kind' = 'sequence', 'fields.rid.start' = '1', 'fields.rid.end' = '30');
CREATE VIEW lw AS SELECT * FROM TABLE(TUMBLE(TABLE l, DESCRIPTOR(ts), INTERVAL '10' MINUTE));
CREATE VIEW rw AS SELECT * FROM TABLE(TUMBLE(TABLE r, DESCRIPTOR(ts), INTERVAL '10' MINUTE));
SELECT 'inner' AS what, L.id, R.rid, L.window_start, L.window_end
FROM lw L JOIN rw R ON L.num = R.num AND L.window_start = R.window_start AND L.window_end = R.window_end
UNION ALL
SELECT 'left', L.id, R.rid, L.window_start, L.window_end
FROM lw L LEFT JOIN rw R ON L.num = R.num AND L.window_start = R.window_start AND L.window_end = R.window_end
UNION ALL
SELECT 'right', L.id, R.rid, R.window_start, R.window_end
FROM lw L RIGHT JOIN rw R ON L.num = R.num AND L.window_start = R.window_start AND L.window_end = R.window_end
UNION ALL
SELECT 'full', L.id, R.rid, COALESCE(L.window_start, R.window_start), COALESCE(L.window_end, R.window_end)
FROM lw L FULL JOIN rw R ON L.num = R.num AND L.window_start = R.window_start AND L.window_end = R.window_end
UNION ALL
SELECT 'counts', CAST(L.n AS INT), CAST(R.n AS INT), L.window_start, L.window_end
FROM (
  SELECT window_start, window_end, num, COUNT(*) AS n
  FROM TABLE(TUMBLE(TABLE l, DESCRIPTOR(ts), INTERVAL '20' MINUTE)) GROUP BY window_start, window_end, num
) L JOIN (
  SELECT window_start, window_end, num, COUNT(*) AS n
  FROM TABLE(TUMBLE(TABLE r, DESCRIPTOR(ts), INTERVAL '20' MINUTE)) GROUP BY window_start, window_end, num
) R ON L.num = R.num AND L.window_start = R.window_start AND L.window_end = R.window_end;
