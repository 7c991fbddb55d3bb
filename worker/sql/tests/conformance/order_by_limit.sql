-- ORDER BY .. LIMIT in streaming mode: a changelog whose final rows are the first five.
CREATE TABLE t (
  id INT,
  v AS id * 37 % 101,
  label AS CONCAT('v', CAST(id * 37 % 101 AS STRING))
) WITH (
  'connector' = 'datagen', 'number-of-rows' = '60',
  'fields.id.kind' = 'sequence',
  'fields.id.start' = '1',
  'fields.id.end' = '60'
);
SELECT id, label FROM t ORDER BY v DESC LIMIT 5;
