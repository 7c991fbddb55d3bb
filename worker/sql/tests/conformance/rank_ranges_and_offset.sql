-- Ranks from M to N (BETWEEN, a lower and an upper bound, one rank), and ORDER BY .. LIMIT n
-- OFFSET m. (Flink 2.3's streaming OFFSET over a group aggregate's changelog leaves rows its
-- batch mode does not give, so that case is not among Flink's goldens.)
CREATE TABLE t (
  id INT,
  k AS id % 3,
  v AS id * 37 % 101
) WITH (
  'connector' = 'datagen',
  'number-of-rows' = '60',
  'fields.id.kind' = 'sequence',
  'fields.id.start' = '1',
  'fields.id.end' = '60'
);
SELECT 'between' AS what, k, v, rn
FROM (SELECT k, v, ROW_NUMBER() OVER (PARTITION BY k ORDER BY v DESC) AS rn FROM t)
WHERE rn BETWEEN 2 AND 4
UNION ALL
SELECT 'bounds', k, v, CAST(0 AS BIGINT)
FROM (SELECT k, v, ROW_NUMBER() OVER (PARTITION BY k ORDER BY v ASC) AS rn FROM t)
WHERE rn > 1 AND rn <= 3
UNION ALL
SELECT 'second', k, v, rn
FROM (SELECT k, v, ROW_NUMBER() OVER (PARTITION BY k ORDER BY v DESC) AS rn FROM t)
WHERE rn = 2
UNION ALL
SELECT 'offset', 0, v, CAST(id AS BIGINT)
FROM (SELECT id, v FROM t ORDER BY v DESC, id LIMIT 3 OFFSET 2);
