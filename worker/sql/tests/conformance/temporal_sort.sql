-- Streaming ORDER BY a time attribute (then other columns) without LIMIT: rows out of order by up
-- to 19 seconds, a watermark 30 seconds behind, so none is late.
CREATE TABLE t (
  id INT,
  k AS id % 4,
  ts AS CAST(TIMESTAMP '2024-01-01 00:00:00' + INTERVAL '1' SECOND * ((id / 20) * 20 + id * 7 % 20) AS TIMESTAMP(3)),
  WATERMARK FOR ts AS ts - INTERVAL '30' SECOND
) WITH (
  'connector' = 'datagen',
  'number-of-rows' = '80',
  'fields.id.kind' = 'sequence',
  'fields.id.start' = '1',
  'fields.id.end' = '80'
);
SELECT ts, k, id FROM t ORDER BY ts, k DESC, id;
