-- TUMBLE and HOP window aggregates over event time (a watermark an hour behind, so no row is
-- late and the windows fire at the end of input): insert-only rows with window_start,
-- window_end and window_time.
CREATE TABLE bids (
  id INT,
  auction AS id % 3,
  price AS id * 13 % 50,
  ts AS CAST(TIMESTAMP '2024-01-01 00:00:00' + INTERVAL '1' SECOND * (id * 7 % 60) AS TIMESTAMP(3)),
  WATERMARK FOR ts AS ts - INTERVAL '1' HOUR
) WITH (
  'connector' = 'datagen', 'number-of-rows' = '120',
  'fields.id.kind' = 'sequence',
  'fields.id.start' = '1',
  'fields.id.end' = '120'
);
SELECT 'tumble' AS w, window_start, window_end, auction, COUNT(*) AS n, SUM(price) AS total, MAX(price) AS top
FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(ts), INTERVAL '10' SECOND))
GROUP BY window_start, window_end, auction
UNION ALL
SELECT 'hop', window_start, window_end, auction, COUNT(*), SUM(price), MAX(price)
FROM TABLE(HOP(TABLE bids, DESCRIPTOR(ts), INTERVAL '5' SECOND, INTERVAL '20' SECOND))
GROUP BY window_start, window_end, auction
UNION ALL
SELECT 'all', window_start, window_end, -1, COUNT(*), SUM(price), MAX(price)
FROM TABLE(TUMBLE(DATA => TABLE bids, TIMECOL => DESCRIPTOR(ts), SIZE => INTERVAL '30' SECOND))
GROUP BY window_start, window_end;
