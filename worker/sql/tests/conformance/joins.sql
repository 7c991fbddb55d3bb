-- Regular joins (inner, left, right, full; ON with extra conditions, USING), an interval join on
-- event time, and a join over a group aggregate's changelog.
CREATE TABLE orders (
  id INT,
  customer AS id % 7,
  amount AS id * 3 % 50,
  ts AS CAST(TIMESTAMP '2024-01-01 00:00:00' + INTERVAL '1' MINUTE * id AS TIMESTAMP(3)),
  WATERMARK FOR ts AS ts - INTERVAL '1' HOUR
) WITH ('connector' = 'datagen', 'number-of-rows' = '40', 'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '40');
CREATE TABLE customers (
  cid INT,
  name AS CONCAT('c', CAST(cid AS STRING)),
  tier AS cid % 3
) WITH ('connector' = 'datagen', 'number-of-rows' = '10', 'fields.cid.kind' = 'sequence', 'fields.cid.start' = '0', 'fields.cid.end' = '9');
CREATE TABLE shipments (
  sid INT,
  order_id AS sid * 2,
  ts AS CAST(TIMESTAMP '2024-01-01 00:00:00' + INTERVAL '1' MINUTE * (sid * 2 + sid % 5) AS TIMESTAMP(3)),
  WATERMARK FOR ts AS ts - INTERVAL '1' HOUR
) WITH ('connector' = 'datagen', 'number-of-rows' = '25', 'fields.sid.kind' = 'sequence', 'fields.sid.start' = '1', 'fields.sid.end' = '25');
CREATE VIEW renamed AS SELECT cid AS customer, name FROM customers;
SELECT 'inner' AS what, o.id, c.name, o.amount
FROM orders o JOIN customers c ON o.customer = c.cid WHERE c.tier = 1
UNION ALL
SELECT 'left', o.id, c.name, o.amount
FROM customers c LEFT JOIN orders o ON c.cid = o.customer AND o.amount > 40
UNION ALL
SELECT 'right', o.id, c.name, c.tier
FROM orders o RIGHT JOIN customers c ON o.customer = c.cid AND o.id > 35
UNION ALL
SELECT 'full', o.id, c.name, c.cid
FROM customers c FULL JOIN orders o ON c.cid = o.customer AND o.id < 10 AND c.tier <> 2
UNION ALL
SELECT 'using', o.id, r.name, o.customer
FROM orders o JOIN renamed r USING (customer)
WHERE o.id > 30
UNION ALL
SELECT 'interval', o.id, CAST(s.sid AS STRING), TIMESTAMPDIFF(MINUTE, o.ts, s.ts)
FROM orders o JOIN shipments s ON o.id = s.order_id AND s.ts BETWEEN o.ts AND o.ts + INTERVAL '3' MINUTE
UNION ALL
SELECT 'aggregated', t.customer, c.name, t.total
FROM (SELECT customer, SUM(amount) AS total FROM orders GROUP BY customer) t JOIN customers c ON t.customer = c.cid;
