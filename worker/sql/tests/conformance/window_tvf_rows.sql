-- A window function's rows without an aggregate: each row once per window it falls in.
CREATE TABLE e (
  id INT,
  ts AS CAST(TIMESTAMP '2024-01-01 00:00:00' + INTERVAL '3' SECOND * id AS TIMESTAMP(3)),
  WATERMARK FOR ts AS ts
) WITH (
  'connector' = 'datagen', 'number-of-rows' = '12',
  'fields.id.kind' = 'sequence',
  'fields.id.start' = '1',
  'fields.id.end' = '12'
);
SELECT id, ts, window_start, window_end, window_time
FROM TABLE(HOP(TABLE e, DESCRIPTOR(ts), INTERVAL '5' SECOND, INTERVAL '10' SECOND))
WHERE id % 2 = 1;
