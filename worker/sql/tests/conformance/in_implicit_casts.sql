-- IN between text and numbers: the text side is cast to the number's type, as Flink casts it.
CREATE TABLE t (id INT, s AS CAST(id AS STRING)) WITH ('connector'='datagen', 'number-of-rows' = '6','fields.id.kind'='sequence','fields.id.start'='1','fields.id.end'='6');
SELECT id, s IN (2, 4) AS even_small, id IN ('3', '5') AS odd_text FROM t;
