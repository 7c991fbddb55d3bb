-- A first Flink SQL job: 100,000 generated bids on 5 auctions, counted per auction in 1-second
-- tumbling windows of event time. Run it with `./ferroflink sql -f examples/sql/bids.sql`.
CREATE TABLE bid (
  auction BIGINT,
  price BIGINT,
  bidder STRING,
  `dateTime` TIMESTAMP(3),
  WATERMARK FOR `dateTime` AS `dateTime` - INTERVAL '2' SECOND
) WITH (
  'connector' = 'datagen',
  'number-of-rows' = '100000',
  'rows-per-second' = '50000',
  'fields.auction.min' = '1',
  'fields.auction.max' = '5',
  'fields.price.min' = '1',
  'fields.price.max' = '1000',
  'fields.bidder.length' = '8',
  'fields.dateTime.max-past' = '2s'
);

SELECT window_start, window_end, auction, COUNT(*) AS bids, MAX(price) AS top, AVG(price) AS average
FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(`dateTime`), INTERVAL '1' SECOND))
GROUP BY window_start, window_end, auction;
