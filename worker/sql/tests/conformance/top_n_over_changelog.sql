-- Top-N over a changelog with retractions (a group aggregate's rows, whose updates move rows in
-- and out of the first N): the rank shown and hidden, ORDER BY .. LIMIT, and a top-N over an
-- aggregate of an aggregate, whose rows are deleted.
CREATE TABLE t (
  id INT,
  category AS id % 4,
  item AS id % 23,
  amount AS id * 7 % 50
) WITH (
  'connector' = 'datagen', 'number-of-rows' = '300',
  'fields.id.kind' = 'sequence',
  'fields.id.start' = '1',
  'fields.id.end' = '300'
);
CREATE VIEW totals AS SELECT category, item, SUM(amount) AS total FROM t GROUP BY category, item;
SELECT 'ranked' AS what, category, item, total, rn
FROM (SELECT category, item, total, ROW_NUMBER() OVER (PARTITION BY category ORDER BY total DESC, item) AS rn FROM totals)
WHERE rn <= 3
UNION ALL
SELECT 'unranked', category, item, total, CAST(0 AS BIGINT)
FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY category ORDER BY total ASC, item DESC) AS rn FROM totals)
WHERE rn <= 2
UNION ALL
SELECT 'limited', 0, item, total, CAST(0 AS BIGINT)
FROM (SELECT item, SUM(amount) AS total FROM t GROUP BY item ORDER BY total DESC, item LIMIT 4)
UNION ALL
SELECT 'nested', 0, n, items, rn
FROM (
  SELECT n, items, ROW_NUMBER() OVER (ORDER BY items DESC, n) AS rn
  FROM (SELECT n, CAST(COUNT(*) AS INT) AS items FROM (SELECT item, CAST(COUNT(*) AS INT) AS n FROM t GROUP BY item) GROUP BY n)
)
WHERE rn <= 2;
