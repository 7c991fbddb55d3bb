-- ORDER BY in batch mode (by position and by a column, descending), with and without LIMIT.
SET 'execution.runtime-mode' = 'batch';
CREATE TABLE t (
  id INT,
  v AS id * 37 % 101,
  k AS id % 4
) WITH (
  'connector' = 'datagen',
  'number-of-rows' = '60',
  'fields.id.kind' = 'sequence',
  'fields.id.start' = '1',
  'fields.id.end' = '60'
);
SELECT k, v, id FROM t WHERE id % 3 = 0 ORDER BY 1, v DESC LIMIT 12;
