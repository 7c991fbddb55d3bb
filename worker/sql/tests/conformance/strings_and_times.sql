-- Scalar functions in a query: text, regular expressions, JSON, dates and times.
CREATE TABLE t (
  id INT,
  s AS CONCAT('k', CAST(id AS STRING), '|', SUBSTRING('abcdefghij' FROM id % 5 + 1 FOR 3), '|x'),
  j AS CONCAT('{"a": ', CAST(id AS STRING), ', "b": {"c": "v', CAST(id % 3 AS STRING), '"}}'),
  ts AS TIMESTAMP '2024-02-28 23:59:59.250' + INTERVAL '13' HOUR * id
) WITH (
  'connector' = 'datagen', 'number-of-rows' = '30',
  'fields.id.kind' = 'sequence',
  'fields.id.start' = '1',
  'fields.id.end' = '30'
);
SELECT
  id, s,
  UPPER(s) AS up, CHAR_LENGTH(s) AS len, SPLIT_INDEX(s, '|', 1) AS part,
  REPLACE(s, '|', '/') AS rep, LPAD(CAST(id AS STRING), 4, '0') AS pad, RPAD('x', id % 4, 'yz') AS rpad,
  TRIM(BOTH 'k' FROM s) AS tr, CONCAT_WS('-', 'a', CAST(NULLIF(id % 3, 0) AS STRING), 'c') AS ws,
  REGEXP_EXTRACT(s, 'k([0-9]+)', 1) AS num, REGEXP_REPLACE(s, '[aeiou]', '*') AS vow, REGEXP(s, 'c') AS has_c,
  HASH_CODE(s) AS h,
  JSON_VALUE(j, '$.a') AS ja, JSON_VALUE(j, '$.a' RETURNING INT) + 1 AS ja1, JSON_QUERY(j, '$.b') AS jb,
  DATE_FORMAT(ts, 'yyyy-MM-dd HH:mm EEE') AS df,
  EXTRACT(DAY FROM ts) AS dd, HOUR(ts) AS hh, YEAR(ts) AS yy, MONTH(ts) AS mm,
  FLOOR(ts TO DAY) AS fl, CEIL(ts TO HOUR) AS ce,
  TIMESTAMPDIFF(HOUR, TIMESTAMP '2024-03-01 00:00:00', ts) AS diff,
  TO_TIMESTAMP(CONCAT('2024-01-', CAST(id % 28 + 1 AS STRING), ' 10:00:00')) AS tt,
  UNIX_TIMESTAMP(CAST(ts AS STRING), 'yyyy-MM-dd HH:mm:ss.SSS') AS ux,
  FROM_UNIXTIME(id * 86400) AS fu,
  ROUND(id / 7.0, 2) AS r, POWER(id, 2) AS p
FROM t;
