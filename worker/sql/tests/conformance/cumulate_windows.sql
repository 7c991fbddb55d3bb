-- CUMULATE windows: each window of a period grows by a step until the period's end, and every
-- step after a key's first row emits (also steps that brought the key nothing new). With an
-- offset, as a window aggregate over all keys, and as a window function's rows.
CREATE TABLE bids (
  id INT,
  auction AS id % 3,
  price AS id * 13 % 50,
  ts AS CAST(TIMESTAMP '2024-01-01 00:00:00' + INTERVAL '1' SECOND * (id * 11) AS TIMESTAMP(3)),
  WATERMARK FOR ts AS ts - INTERVAL '1' HOUR
) WITH (
  'connector' = 'datagen', 'number-of-rows' = '20',
  'fields.id.kind' = 'sequence',
  'fields.id.start' = '1',
  'fields.id.end' = '20'
);
SELECT 'auction' AS w, window_start, window_end, auction, COUNT(*) AS n, SUM(price) AS total
FROM TABLE(CUMULATE(TABLE bids, DESCRIPTOR(ts), INTERVAL '20' SECOND, INTERVAL '1' MINUTE))
GROUP BY window_start, window_end, auction
UNION ALL
SELECT 'offset', window_start, window_end, -1, COUNT(*), SUM(price)
FROM TABLE(CUMULATE(TABLE bids, DESCRIPTOR(ts), INTERVAL '15' SECOND, INTERVAL '45' SECOND, INTERVAL '10' SECOND))
GROUP BY window_start, window_end
UNION ALL
SELECT 'rows', window_start, window_end, id, CAST(1 AS BIGINT), price
FROM TABLE(CUMULATE(TABLE bids, DESCRIPTOR(ts), INTERVAL '20' SECOND, INTERVAL '1' MINUTE))
WHERE id % 4 = 1;
