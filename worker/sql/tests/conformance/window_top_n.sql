-- Window top-N: the two auctions with the most bids in each 10-second tumbling window (a
-- ROW_NUMBER() top-N over a window aggregate's rows, partitioned by the window).
CREATE TABLE bids (
  id INT,
  auction AS id * 7 % 5,
  ts AS CAST(TIMESTAMP '2024-01-01 00:00:00' + INTERVAL '1' SECOND * (id % 30) AS TIMESTAMP(3)),
  WATERMARK FOR ts AS ts - INTERVAL '1' HOUR
) WITH (
  'connector' = 'datagen', 'number-of-rows' = '97',
  'fields.id.kind' = 'sequence',
  'fields.id.start' = '1',
  'fields.id.end' = '97'
);
SELECT window_start, window_end, auction, n, rn
FROM (
  SELECT *, ROW_NUMBER() OVER (PARTITION BY window_start, window_end ORDER BY n DESC, auction) AS rn
  FROM (
    SELECT window_start, window_end, auction, COUNT(*) AS n
    FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(ts), INTERVAL '10' SECOND))
    GROUP BY window_start, window_end, auction
  )
)
WHERE rn <= 2;
