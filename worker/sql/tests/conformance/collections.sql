-- ARRAY, ROW and MAP constructors, element access from 1 (NULL past the end), a map's value by
-- key (NULL for a missing key, the last value of a key given twice, keys and values widened to
-- a common type), CARDINALITY, a ROW's fields.
CREATE TABLE t (
  id INT,
  arr AS ARRAY[id, id * 2, id * 3],
  words AS ARRAY['a', CONCAT('w', CAST(id AS STRING))],
  r AS ROW(id, CONCAT('n', CAST(id AS STRING))),
  m AS MAP['one', id, 'two', id * 2, 'one', id + 100],
  widened AS MAP[id, 1.5, CAST(id * 10 AS BIGINT), id]
) WITH (
  'connector' = 'datagen', 'number-of-rows' = '10',
  'fields.id.kind' = 'sequence',
  'fields.id.start' = '1',
  'fields.id.end' = '10'
);
SELECT id, arr[1] AS first, arr[3] AS third, arr[4] AS past, CARDINALITY(arr) AS n, words[2] AS w,
  CARDINALITY(words) + arr[2] AS mixed, r.EXPR$1 AS name,
  m['one'] AS m_one, m['two'] AS m_two, m['three'] AS m_three, CARDINALITY(m) AS entries,
  widened[CAST(id * 10 AS BIGINT)] AS by_bigint, widened[id] AS by_int, MAP['k', id]['k'] AS literal
FROM t
WHERE arr[2] > 4;
