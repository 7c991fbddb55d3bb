-- The nexmark repository's `person`, `auction` and `bid` views as datagen tables, for running its
-- queries (qN.sql) on engines without our `nexmark` connector (Flink through PyFlink): the bid of
-- bid.sql, {auctions} auctions with ids in the bids' range and {persons} persons with ids in the
-- sellers' range. Random strings, so a query's filters on names, states or URLs select other rows
-- than over Nexmark's generator.
CREATE TABLE person (
  id BIGINT,
  name VARCHAR,
  emailAddress VARCHAR,
  creditCard VARCHAR,
  city VARCHAR,
  state VARCHAR,
  `dateTime` TIMESTAMP(3),
  extra VARCHAR,
  WATERMARK FOR `dateTime` AS `dateTime` - INTERVAL '4' SECOND
) WITH (
  'connector' = 'datagen',
  'rows-per-second' = '1000000000',
  'number-of-rows' = '{persons}',
  'fields.id.min' = '1000',
  'fields.id.max' = '1100',
  'fields.name.length' = '10',
  'fields.emailAddress.length' = '20',
  'fields.creditCard.length' = '19',
  'fields.city.length' = '10',
  'fields.state.length' = '2',
  'fields.dateTime.max-past' = '4s',
  'fields.extra.length' = '12'
);
CREATE TABLE auction (
  id BIGINT,
  itemName VARCHAR,
  description VARCHAR,
  initialBid BIGINT,
  reserve BIGINT,
  `dateTime` TIMESTAMP(3),
  expires TIMESTAMP(3),
  seller BIGINT,
  category BIGINT,
  extra VARCHAR,
  WATERMARK FOR `dateTime` AS `dateTime` - INTERVAL '4' SECOND
) WITH (
  'connector' = 'datagen',
  'rows-per-second' = '1000000000',
  'number-of-rows' = '{auctions}',
  'fields.id.min' = '1000',
  'fields.id.max' = '2000',
  'fields.itemName.length' = '20',
  'fields.description.length' = '60',
  'fields.initialBid.min' = '1',
  'fields.initialBid.max' = '1000',
  'fields.reserve.min' = '1',
  'fields.reserve.max' = '10000',
  'fields.dateTime.max-past' = '4s',
  'fields.expires.max-past' = '0s',
  'fields.seller.min' = '1000',
  'fields.seller.max' = '1100',
  'fields.category.min' = '10',
  'fields.category.max' = '14',
  'fields.extra.length' = '12'
);
