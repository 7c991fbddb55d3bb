-- SELECT DISTINCT and WITH (common table expressions, one using another, with column names).
CREATE TABLE t (
  id INT,
  a AS id % 4,
  b AS CASE WHEN id % 3 = 0 THEN 'x' ELSE 'y' END
) WITH (
  'connector' = 'datagen', 'number-of-rows' = '40',
  'fields.id.kind' = 'sequence',
  'fields.id.start' = '1',
  'fields.id.end' = '40'
);
WITH small AS (SELECT a, b FROM t WHERE id < 30),
     counted (k, n) AS (SELECT a, COUNT(*) FROM small GROUP BY a)
SELECT DISTINCT a, b FROM small
UNION ALL
SELECT k, CAST(n AS STRING) FROM counted
UNION ALL
SELECT DISTINCT id % 2, 'parity' FROM t;
