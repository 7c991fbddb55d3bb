-- The nexmark repository's `person`, `auction` and `bid` views as datagen tables, for running its
-- queries (qN.sql) on engines without our `nexmark` connector (Flink through PyFlink): the bid of
-- bid.sql, {auctions} auctions and {persons} persons with ids from 1000 up, one each (the bids' are
-- 1000 to 2000), sellers among the persons. Random strings, so a query's filters on names, states
-- or URLs select other rows than over Nexmark's generator.
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
  'fields.id.kind' = 'sequence',
  'fields.id.start' = '1000',
  'fields.id.end' = '{person_end}',
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
  'fields.id.kind' = 'sequence',
  'fields.id.start' = '1000',
  'fields.id.end' = '{auction_end}',
  'fields.itemName.length' = '20',
  'fields.description.length' = '60',
  'fields.initialBid.min' = '1',
  'fields.initialBid.max' = '1000',
  'fields.reserve.min' = '1',
  'fields.reserve.max' = '10000',
  'fields.dateTime.max-past' = '4s',
  'fields.expires.max-past' = '0s',
  'fields.seller.min' = '1000',
  'fields.seller.max' = '{person_end}',
  'fields.category.min' = '10',
  'fields.category.max' = '14',
  'fields.extra.length' = '12'
);
