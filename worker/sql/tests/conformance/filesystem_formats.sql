-- The filesystem source in its three formats (${DATA} is tests/data): CSV with quotes, doubled
-- quotes, empty fields, a null literal and comments; JSON lines with nested rows, nulls and
-- missing fields; raw lines.
CREATE TABLE people (id INT, name STRING, age INT, score DECIMAL(5, 2), joined TIMESTAMP(3), active BOOLEAN)
WITH (
  'connector' = 'filesystem',
  'path' = '${DATA}/people.csv',
  'format' = 'csv',
  'csv.null-literal' = 'n/a',
  'csv.allow-comments' = 'true'
);
CREATE TABLE events (id BIGINT, kind STRING, payload ROW<x INT, tags ARRAY<STRING>>, `at` TIMESTAMP(3), missing STRING)
WITH ('connector' = 'filesystem', 'path' = '${DATA}/events.json', 'format' = 'json');
CREATE TABLE raw_lines (line STRING) WITH ('connector' = 'filesystem', 'path' = '${DATA}/lines.txt', 'format' = 'raw');
SELECT 'people' AS src, id, name, CAST(age AS STRING) AS a, CAST(score AS STRING) AS b, CAST(joined AS STRING) AS c, CAST(active AS STRING) AS d
FROM people
UNION ALL
SELECT 'events', CAST(id AS INT), kind, CAST(payload.x AS STRING), CAST(`at` AS STRING), missing, CAST(payload.x > 0 AS STRING)
FROM events
UNION ALL
SELECT 'raw', CHAR_LENGTH(line), line, SPLIT_INDEX(line, ' ', 0), SPLIT_INDEX(line, ' ', 2), CAST(NULL AS STRING), CAST(line = '' AS STRING)
FROM raw_lines;
