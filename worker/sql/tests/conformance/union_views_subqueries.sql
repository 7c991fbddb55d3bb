-- UNION ALL with type widening, views (with column names), subqueries and aliases in FROM.
CREATE TABLE t (
  id INT,
  name AS CONCAT('n', CAST(id AS STRING))
) WITH (
  'connector' = 'datagen', 'number-of-rows' = '20',
  'fields.id.kind' = 'sequence',
  'fields.id.start' = '1',
  'fields.id.end' = '20'
);
CREATE TABLE u (
  k BIGINT,
  price AS CAST(k AS DECIMAL(8, 2)) / 4
) WITH (
  'connector' = 'datagen', 'number-of-rows' = '11',
  'fields.k.kind' = 'sequence',
  'fields.k.start' = '100',
  'fields.k.end' = '110'
);
CREATE VIEW small (ident, label) AS SELECT id, name FROM t WHERE id < 8;
SELECT x.ident AS key, x.label AS what, CAST(NULL AS DECIMAL(5, 1)) AS amount FROM small AS x
UNION ALL
SELECT k, 'u', price FROM (SELECT * FROM u WHERE k % 2 = 0) AS v
UNION ALL
SELECT sq.id * 1000, sq.name, 1.5 FROM (SELECT id, name FROM t) sq WHERE sq.id > 17;
