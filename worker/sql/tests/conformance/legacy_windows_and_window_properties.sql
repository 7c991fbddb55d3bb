-- Flink's legacy group windows (GROUP BY TUMBLE or HOP with their _START, _END and _ROWTIME;
-- SESSION in legacy_session_windows.sql, streaming only as in Flink), window properties carried under other names (a window aggregate of a window
-- aggregate's rows grouped by its renamed bounds, and a window join on them: Nexmark q5's
-- shape), and a join by commas with `t.*`: insert-only, as Flink's are.
CREATE TABLE l (
  id INT,
  num AS id % 6,
  ts AS CAST(TIMESTAMP '2024-01-01 00:00:00' + INTERVAL '1' MINUTE * (id * 3 + id / 10 * 30) AS TIMESTAMP(3)),
  WATERMARK FOR ts AS ts - INTERVAL '1' SECOND
) WITH ('connector' = 'datagen', 'number-of-rows' = '40', 'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '40');
CREATE TABLE r (
  rid INT,
  num AS rid % 4,
  ts AS CAST(TIMESTAMP '2024-01-01 00:00:00' + INTERVAL '1' MINUTE * (rid * 4) AS TIMESTAMP(3)),
  WATERMARK FOR ts AS ts - INTERVAL '1' SECOND
) WITH ('connector' = 'datagen', 'number-of-rows' = '30', 'fields.rid.kind' = 'sequence', 'fields.rid.start' = '1', 'fields.rid.end' = '30');
CREATE VIEW counts AS
SELECT num, COUNT(*) AS n, window_start AS starttime, window_end AS endtime
FROM TABLE(HOP(TABLE l, DESCRIPTOR(ts), INTERVAL '10' MINUTE, INTERVAL '30' MINUTE))
GROUP BY num, window_start, window_end;
SELECT 'tumble' AS what, CAST(num AS BIGINT) AS a, COUNT(*) AS b,
  TUMBLE_START(ts, INTERVAL '20' MINUTE) AS s, TUMBLE_END(ts, INTERVAL '20' MINUTE) AS e
FROM l GROUP BY num, TUMBLE(ts, INTERVAL '20' MINUTE)
UNION ALL
SELECT 'tumble rowtime', SUM(id), COUNT(*), TUMBLE_START(ts, INTERVAL '1' HOUR), CAST(TUMBLE_ROWTIME(ts, INTERVAL '1' HOUR) AS TIMESTAMP(3))
FROM l GROUP BY TUMBLE(ts, INTERVAL '1' HOUR)
UNION ALL
SELECT 'hop', CAST(MAX(id) AS BIGINT), COUNT(*), HOP_START(ts, INTERVAL '10' MINUTE, INTERVAL '30' MINUTE), HOP_END(ts, INTERVAL '10' MINUTE, INTERVAL '30' MINUTE)
FROM l WHERE id > 3 GROUP BY HOP(ts, INTERVAL '10' MINUTE, INTERVAL '30' MINUTE)
UNION ALL
SELECT 'max per window', MAX(n), COUNT(*), starttime, endtime FROM counts GROUP BY starttime, endtime
UNION ALL
SELECT 'hot', CAST(C.num AS BIGINT), C.n, C.starttime, C.endtime
FROM counts C JOIN (SELECT MAX(n) AS maxn, starttime, endtime FROM counts GROUP BY starttime, endtime) M
ON C.starttime = M.starttime AND C.endtime = M.endtime AND C.n >= M.maxn
UNION ALL
SELECT 'comma', CAST(x.id AS BIGINT), CAST(x.rid AS BIGINT), x.ts, x.rts
FROM (SELECT a.*, b.rid, b.ts AS rts FROM l a, r b WHERE a.num = b.num AND a.id < 9 AND b.rid < 7) x;
