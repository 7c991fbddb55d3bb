-- ROW_NUMBER() top-N and deduplication (first and last row by event time), the rank shown and
-- hidden, in the middle of the subquery's list.
CREATE TABLE t (
  id INT,
  k AS id % 3,
  v AS id * 37 % 101,
  ts AS CAST(TIMESTAMP '2024-01-01 00:00:00' + INTERVAL '1' SECOND * id AS TIMESTAMP(3)),
  WATERMARK FOR ts AS ts - INTERVAL '1' SECOND
) WITH (
  'connector' = 'datagen', 'number-of-rows' = '60',
  'fields.id.kind' = 'sequence',
  'fields.id.start' = '1',
  'fields.id.end' = '60'
);
SELECT 'top' AS what, k, v, rn, id
FROM (SELECT k, v, ROW_NUMBER() OVER (PARTITION BY k ORDER BY v DESC) AS rn, id FROM t)
WHERE rn <= 3
UNION ALL
SELECT 'first', k, v, CAST(1 AS BIGINT), id
FROM (SELECT k, v, id, ROW_NUMBER() OVER (PARTITION BY k ORDER BY ts ASC) AS row_num FROM t)
WHERE row_num = 1
UNION ALL
SELECT 'last', k, v, CAST(1 AS BIGINT), id
FROM (SELECT k, v, id, ROW_NUMBER() OVER (PARTITION BY k ORDER BY ts DESC) AS row_num FROM t)
WHERE row_num = 1;
