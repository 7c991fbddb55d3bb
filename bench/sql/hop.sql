-- Bids per auction in 10-second windows sliding by 2 seconds, of event time.
CREATE TABLE sink (auction BIGINT, window_start TIMESTAMP(3), window_end TIMESTAMP(3), bids BIGINT)
WITH ('connector' = 'blackhole');
INSERT INTO sink
SELECT auction, window_start, window_end, COUNT(*) AS bids
FROM TABLE(HOP(TABLE bid, DESCRIPTOR(`dateTime`), INTERVAL '2' SECOND, INTERVAL '10' SECOND))
GROUP BY auction, window_start, window_end;
