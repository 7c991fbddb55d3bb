use ferroflink_sql::parse_statement;
#[test]
fn show() {
    for sql in [
        "SELECT window_start, window_end, auction, COUNT(*) FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(dateTime), INTERVAL '10' SECOND)) GROUP BY window_start, window_end, auction",
        "SELECT * FROM TABLE(HOP(DATA => TABLE bid, TIMECOL => DESCRIPTOR(dateTime), SLIDE => INTERVAL '2' SECOND, SIZE => INTERVAL '10' SECOND))",
        "SELECT * FROM TABLE(SESSION(TABLE bid PARTITION BY auction, DESCRIPTOR(dateTime), INTERVAL '10' SECOND))",
    ] {
        match parse_statement(sql) {
            Ok(s) => println!("{sql}\n  => {:?}\n", s.statement),
            Err(err) => println!("{sql}\n  => ERR {err}\n"),
        }
    }
}
