-- Projection, filter, arithmetic with Flink's result types, three-valued logic, CASE, IN,
-- BETWEEN, LIKE, IS [NOT] NULL/TRUE/FALSE, COALESCE, IF, NULLIF, computed columns.
CREATE TABLE t (
  id INT,
  a AS id % 7 - 3,
  b AS CASE WHEN id % 5 = 0 THEN CAST(NULL AS INT) ELSE id * 3 % 11 END,
  s AS CONCAT('item-', CAST(id AS STRING)),
  d AS CAST(id AS DECIMAL(10, 2)) / 8,
  big AS CAST(id AS BIGINT) * 100000000000
) WITH (
  'connector' = 'datagen', 'number-of-rows' = '60',
  'fields.id.kind' = 'sequence',
  'fields.id.start' = '1',
  'fields.id.end' = '60'
);
SELECT
  id, a, b,
  a * b AS ab,
  a / NULLIF(b, 0) AS q,
  MOD(id, NULLIF(a, 0)) AS m,
  d, d * a AS da, d + 0.125 AS dp, big + id AS bi,
  s LIKE 'item-1%' AS l1,
  s NOT LIKE '%5' AS l2,
  a IN (1, 2, b) AS i1,
  b NOT IN (3, 6) AS i2,
  b BETWEEN 2 AND 9 AS btw,
  a > 0 AND b > 5 AS c_and,
  a > 0 OR b > 5 AS c_or,
  NOT (b > 5) AS c_not,
  (b > 5) IS TRUE AS is_t,
  (b > 5) IS NOT FALSE AS is_nf,
  b IS NULL AS isn,
  COALESCE(b, a, -1) AS co,
  IF(a > 0, 'pos', 'neg') AS sg,
  CASE a WHEN 0 THEN 'zero' WHEN 1 THEN 'one' ELSE 'many' END AS cs,
  CASE WHEN b > 8 THEN d WHEN b > 4 THEN a END AS cw,
  -a AS na, ABS(a) AS aa, 7 / 2 AS seven_half, 7.0 / 2 AS seven_dec
FROM t
WHERE id <> 13 AND (b IS NULL OR b > 1 OR a < 0);
