-- CAST and TRY_CAST between text, numbers, booleans, dates and timestamps; text padded and cut.
CREATE TABLE t (
  id INT,
  txt AS CASE id % 6 WHEN 0 THEN '12' WHEN 1 THEN ' 7 ' WHEN 2 THEN '4.5' WHEN 3 THEN 'x1' WHEN 4 THEN '-0' ELSE '2024-03-05' END,
  ts AS TIMESTAMP '2024-02-27 10:11:12.345' + INTERVAL '7' HOUR * id
) WITH (
  'connector' = 'datagen', 'number-of-rows' = '24',
  'fields.id.kind' = 'sequence',
  'fields.id.start' = '1',
  'fields.id.end' = '24'
);
SELECT
  id, txt,
  TRY_CAST(txt AS INT) AS as_int,
  TRY_CAST(txt AS DOUBLE) AS as_double,
  TRY_CAST(txt AS DECIMAL(6, 2)) AS as_dec,
  TRY_CAST(txt AS DATE) AS as_date,
  TRY_CAST(txt AS BOOLEAN) AS as_bool,
  CAST(id AS STRING) AS id_text,
  CAST(id * 1.5 AS INT) AS trunc_int,
  CAST(id AS DECIMAL(4, 1)) / 3 AS dec_div,
  CAST(ts AS DATE) AS d,
  CAST(ts AS STRING) AS ts_text,
  CAST(CAST(ts AS TIMESTAMP(0)) AS STRING) AS ts0,
  CAST(txt AS CHAR(3)) AS c3,
  CAST(txt AS VARCHAR(2)) AS v2,
  CAST(id > 10 AS STRING) AS b_text,
  CAST(id AS TINYINT) * 10 AS tiny
FROM t;
