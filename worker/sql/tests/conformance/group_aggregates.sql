-- Unbounded GROUP BY: a changelog (+I, -U/+U) whose final rows are the groups' results; COUNT,
-- COUNT(DISTINCT), SUM, MIN, MAX, AVG, FILTER (WHERE ..), HAVING, expressions of keys and
-- aggregates, a group key that is an expression, NULLs ignored by the aggregates.
CREATE TABLE t (
  id INT,
  k AS id % 4,
  v AS CASE WHEN id % 6 = 0 THEN CAST(NULL AS INT) ELSE id * 7 % 19 END,
  d AS CAST(id AS DECIMAL(6, 2)) / 4,
  x AS CAST(id AS DOUBLE) / 8,
  s AS CONCAT('s', CAST(id % 5 AS STRING))
) WITH (
  'connector' = 'datagen', 'number-of-rows' = '200',
  'fields.id.kind' = 'sequence',
  'fields.id.start' = '1',
  'fields.id.end' = '200'
);
SELECT
  k,
  k * 10 AS k10,
  COUNT(*) AS n,
  COUNT(v) AS nv,
  COUNT(DISTINCT s) AS ds,
  SUM(v) AS sv,
  MIN(v) AS mn,
  MAX(s) AS mx,
  AVG(v) AS av,
  SUM(d) AS sd,
  AVG(d) AS ad,
  AVG(x) AS ax,
  COUNT(*) FILTER (WHERE v > 10) AS big,
  SUM(v) FILTER (WHERE s = 's1') AS s1,
  MAX(v) - MIN(v) AS spread
FROM t
GROUP BY k
HAVING COUNT(*) > 10;
