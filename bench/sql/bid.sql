-- The Nexmark bid as a datagen table (12- and 60-character strings, a bid's value ranges), the
-- source of the SQL benchmarks; {rows} is replaced by the number of rows.
CREATE TABLE bid (
  auction BIGINT,
  bidder BIGINT,
  price BIGINT,
  channel VARCHAR,
  url VARCHAR,
  `dateTime` TIMESTAMP(3),
  extra VARCHAR,
  WATERMARK FOR `dateTime` AS `dateTime` - INTERVAL '4' SECOND
) WITH (
  'connector' = 'datagen',
  'rows-per-second' = '1000000000',
  'number-of-rows' = '{rows}',
  'fields.auction.min' = '1000',
  'fields.auction.max' = '2000',
  'fields.bidder.min' = '1000',
  'fields.bidder.max' = '100000',
  'fields.price.min' = '1',
  'fields.price.max' = '10000000',
  'fields.channel.length' = '12',
  'fields.url.length' = '60',
  'fields.dateTime.max-past' = '4s',
  'fields.extra.length' = '12'
);
