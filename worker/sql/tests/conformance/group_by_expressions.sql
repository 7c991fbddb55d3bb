-- GROUP BY an expression and several keys, an aggregate without GROUP BY, COUNT DISTINCT of
-- numbers, SUM(DISTINCT ..).
CREATE TABLE t (
  id BIGINT,
  a AS id % 3,
  b AS CASE WHEN id % 5 = 0 THEN 'five' ELSE 'other' END,
  v AS id % 7
) WITH (
  'connector' = 'datagen', 'number-of-rows' = '100',
  'fields.id.kind' = 'sequence',
  'fields.id.start' = '1',
  'fields.id.end' = '100'
);
CREATE VIEW grouped AS
SELECT a + 1 AS a1, b, COUNT(*) AS n, COUNT(DISTINCT v) AS dv, SUM(DISTINCT v) AS sdv, MIN(id) AS first_id
FROM t GROUP BY a + 1, b;
SELECT a1, b, n, dv, sdv, first_id FROM grouped
UNION ALL
SELECT -1, 'all', COUNT(*), COUNT(DISTINCT v), SUM(v), MAX(id) FROM t;
