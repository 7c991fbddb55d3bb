-- ARRAY and ROW constructors, element access from 1 (NULL past the end), CARDINALITY, a ROW's
-- fields.
CREATE TABLE t (
  id INT,
  arr AS ARRAY[id, id * 2, id * 3],
  words AS ARRAY['a', CONCAT('w', CAST(id AS STRING))],
  r AS ROW(id, CONCAT('n', CAST(id AS STRING)))
) WITH (
  'connector' = 'datagen',
  'fields.id.kind' = 'sequence',
  'fields.id.start' = '1',
  'fields.id.end' = '10'
);
SELECT id, arr[1] AS first, arr[3] AS third, arr[4] AS past, CARDINALITY(arr) AS n, words[2] AS w,
  CARDINALITY(words) + arr[2] AS mixed, r.EXPR$1 AS name
FROM t
WHERE arr[2] > 4;
