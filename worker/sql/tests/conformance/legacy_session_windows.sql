-- Flink's legacy session windows, GROUP BY SESSION(time, gap) with SESSION_START and SESSION_END
-- (Nexmark q11's shape): in streaming mode only, as in Flink, whose batch planner refuses them.
SET 'execution.runtime-mode' = 'streaming';
CREATE TABLE l (
  id INT,
  num AS id % 6,
  ts AS CAST(TIMESTAMP '2024-01-01 00:00:00' + INTERVAL '1' MINUTE * (id * 3 + id / 10 * 30) AS TIMESTAMP(3)),
  WATERMARK FOR ts AS ts - INTERVAL '1' SECOND
) WITH ('connector' = 'datagen', 'number-of-rows' = '40', 'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '40');
SELECT num % 2 AS parity, COUNT(*) AS n, SUM(id) AS ids,
  SESSION_START(ts, INTERVAL '10' MINUTE) AS s, SESSION_END(ts, INTERVAL '10' MINUTE) AS e
FROM l GROUP BY num % 2, SESSION(ts, INTERVAL '10' MINUTE);
