//! Flink's SQL dialect: sqlparser tokenizes and parses expressions and queries; the statements of
//! Flink's SQL client (its DDL with watermarks, computed and metadata columns, `SET`, statement
//! sets, ...) and Flink's data types are parsed here, on sqlparser's tokens.

use crate::ast::{
    Column, ColumnKind, CreateTable, DataType, DropKind, Field, Insert, Located, MAX_LENGTH, Statement, Type, Watermark,
};
use crate::error::SqlError;
use sqlparser::ast::{Expr, Ident, ObjectName};
use sqlparser::dialect::Dialect;
use sqlparser::keywords::Keyword;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::{Location, Span, Token, TokenWithSpan};

/// Flink's lexical rules: backtick-quoted identifiers, `$` inside identifiers, `''` (not `\`) to
/// escape a quote, `agg(x) FILTER (WHERE ...)`, named arguments with `=>`.
#[derive(Debug, Default)]
pub struct FlinkDialect;

impl Dialect for FlinkDialect {
    fn is_delimited_identifier_start(&self, ch: char) -> bool {
        ch == '`'
    }

    fn is_identifier_start(&self, ch: char) -> bool {
        ch.is_alphabetic() || ch == '_'
    }

    fn is_identifier_part(&self, ch: char) -> bool {
        ch.is_alphanumeric() || ch == '_' || ch == '$'
    }

    fn supports_filter_during_aggregation(&self) -> bool {
        true
    }

    fn supports_named_fn_args_with_rarrow_operator(&self) -> bool {
        true
    }

    fn identifier_quote_style(&self, _identifier: &str) -> Option<char> {
        Some('`')
    }

    /// `TABLE name` as an argument of a table function, and `MAP[..]`.
    fn parse_prefix(&self, parser: &mut Parser) -> Option<Result<Expr, ParserError>> {
        table_argument(parser).or_else(|| map_constructor(parser))
    }
}

/// `TABLE name` as an argument of a table function (`TUMBLE(TABLE bid, ...)`): a
/// [`Expr::Prefixed`] with prefix `TABLE`, which prints back as written.
fn table_argument(parser: &mut Parser) -> Option<Result<Expr, ParserError>> {
    let is_table = matches!(&parser.peek_token_ref().token, Token::Word(w) if w.keyword == Keyword::TABLE);
    if !is_table || !matches!(parser.peek_nth_token_ref(1).token, Token::Word(_)) {
        return None;
    }
    let prefix = match parser.next_token().token {
        Token::Word(w) => w.to_ident(Span::empty()),
        _ => unreachable!("peeked a word"),
    };
    Some(parser.parse_object_name(false).map(|name| {
        let parts = name.0.into_iter().filter_map(|p| p.as_ident().cloned()).collect();
        Expr::Prefixed { prefix, value: Box::new(Expr::CompoundIdentifier(parts)) }
    }))
}

/// Flink's `MAP[k1, v1, k2, v2, ..]`, as a map of entries.
fn map_constructor(parser: &mut Parser) -> Option<Result<Expr, ParserError>> {
    let map = matches!(&parser.peek_token_ref().token, Token::Word(w) if w.value.eq_ignore_ascii_case("MAP"))
        && parser.peek_nth_token_ref(1).token == Token::LBracket;
    if !map {
        return None;
    }
    parser.next_token();
    parser.next_token();
    let entries = (|| {
        let items = parser.parse_comma_separated(Parser::parse_expr)?;
        parser.expect_token(&Token::RBracket)?;
        if items.len() % 2 != 0 {
            return Err(ParserError::ParserError(format!(
                "MAP[..] takes keys and values in pairs, and has {} items",
                items.len()
            )));
        }
        let mut items = items.into_iter();
        let mut entries = Vec::new();
        while let (Some(key), Some(value)) = (items.next(), items.next()) {
            entries.push(sqlparser::ast::MapEntry { key: Box::new(key), value: Box::new(value) });
        }
        Ok(Expr::Map(sqlparser::ast::Map { entries }))
    })();
    Some(entries)
}

/// How deep expressions may nest before the parser refuses them (rather than overflow the stack).
const RECURSION_LIMIT: usize = 64;

/// Stack of the thread a script is parsed on: deep enough for [`RECURSION_LIMIT`] levels of
/// sqlparser's recursive descent in a debug build (reserved, not committed, until used).
const PARSER_STACK: usize = 64 << 20;

/// Parses a script: statements separated by `;`, with `--` and `/* */` comments. Runs on a thread
/// of its own with a deep stack, so nesting is refused by the recursion limit and not by the
/// caller's stack size.
pub fn parse_script(sql: &str) -> Result<Vec<Located>, SqlError> {
    let start = Location { line: 1, column: 1 };
    std::thread::scope(|scope| {
        let parser = std::thread::Builder::new().name("sql-parser".into()).stack_size(PARSER_STACK);
        match parser.spawn_scoped(scope, || parse_on_this_thread(sql)) {
            Ok(handle) => handle.join().unwrap_or_else(|_| {
                Err(SqlError::at(start, "the SQL parser failed on this script (a bug in ferroflink: please report it)"))
            }),
            Err(e) => Err(SqlError::at(start, format!("cannot start the SQL parser's thread: {e}"))),
        }
    })
}

fn parse_on_this_thread(sql: &str) -> Result<Vec<Located>, SqlError> {
    let dialect = FlinkDialect;
    let mut p = ScriptParser::new(&dialect, sql)?;
    let mut out = Vec::new();
    loop {
        while p.p.consume_token(&Token::SemiColon) {}
        let first = p.p.peek_token();
        if first.token == Token::EOF {
            return Ok(out);
        }
        let statement = p.statement()?;
        out.push(Located { line: first.span.start.line, column: first.span.start.column, statement });
        let next = p.p.peek_token();
        if !matches!(next.token, Token::SemiColon | Token::EOF) {
            return Err(p.error_at(&next, format!("expected ';' after the statement, found {}", next.token)));
        }
    }
}

/// Parses one statement (a trailing `;` is allowed).
pub fn parse_statement(sql: &str) -> Result<Located, SqlError> {
    let mut statements = parse_script(sql)?;
    match statements.len() {
        1 => Ok(statements.remove(0)),
        0 => Err(SqlError::at(end_of(sql), "expected a statement, found none")),
        _ => {
            let second = &statements[1];
            Err(SqlError {
                line: second.line,
                column: second.column,
                message: "expected one statement, found more".into(),
            })
        }
    }
}

/// Where the text ends (for errors at the end of input).
fn end_of(sql: &str) -> Location {
    let line = sql.lines().count().max(1) as u64;
    let last = if sql.ends_with('\n') { "" } else { sql.lines().last().unwrap_or("") };
    Location { line: if sql.ends_with('\n') { line + 1 } else { line }, column: last.chars().count() as u64 + 1 }
}

struct ScriptParser<'a> {
    p: Parser<'a>,
    end: Location,
    /// How deep the type being parsed nests.
    depth: usize,
}

/// Statements Flink's client has and this one does not (yet): named, so the error says so.
const UNSUPPORTED: &[&str] = &[
    "ALTER", "ANALYZE", "CALL", "DELETE", "DESC", "DESCRIBE", "LOAD", "SHOW", "TRUNCATE", "UNLOAD", "UPDATE", "USE",
    "ADD", "REMOVE", "COMPILE", "STOP",
];

impl<'a> ScriptParser<'a> {
    /// A parser over `sql`'s tokens.
    fn new(dialect: &'a FlinkDialect, sql: &str) -> Result<ScriptParser<'a>, SqlError> {
        let end = end_of(sql);
        let p = Parser::new(dialect)
            .with_recursion_limit(RECURSION_LIMIT)
            .try_with_sql(sql)
            .map_err(|e| SqlError::from_parser(e, end))?;
        Ok(ScriptParser { p, end, depth: 0 })
    }

    fn location(&self, t: &TokenWithSpan) -> Location {
        if t.token == Token::EOF || t.span.start.line == 0 { self.end } else { t.span.start }
    }

    fn error_at(&self, t: &TokenWithSpan, message: impl Into<String>) -> SqlError {
        SqlError::at(self.location(t), message)
    }

    /// An error at the next token.
    fn error(&self, message: impl Into<String>) -> SqlError {
        self.error_at(&self.p.peek_token(), message)
    }

    /// Converts sqlparser's error (located by it, or at the next token).
    fn lift<T>(&self, r: Result<T, ParserError>) -> Result<T, SqlError> {
        r.map_err(|e| SqlError::from_parser(e, self.location(&self.p.peek_token())))
    }

    /// Whether the `n`th next token is the unquoted word `w` (keyword or not), in any case.
    fn peek_nth_is(&self, n: usize, w: &str) -> bool {
        matches!(&self.p.peek_nth_token_ref(n).token, Token::Word(x) if x.quote_style.is_none() && x.value.eq_ignore_ascii_case(w))
    }

    fn peek_is(&self, w: &str) -> bool {
        self.peek_nth_is(0, w)
    }

    /// Consumes the words `ws` if they all come next.
    fn eat(&mut self, ws: &[&str]) -> bool {
        if !ws.iter().enumerate().all(|(i, w)| self.peek_nth_is(i, w)) {
            return false;
        }
        for _ in ws {
            self.p.next_token();
        }
        true
    }

    fn expect(&mut self, ws: &[&str]) -> Result<(), SqlError> {
        if self.eat(ws) {
            return Ok(());
        }
        let found = self.p.peek_token();
        Err(self.error_at(&found, format!("expected {}, found {}", ws.join(" "), found.token)))
    }

    fn expect_token(&mut self, t: &Token) -> Result<(), SqlError> {
        let r = self.p.expect_token(t).map(|_| ());
        self.lift(r)
    }

    fn string(&mut self, what: &str) -> Result<String, SqlError> {
        let t = self.p.next_token();
        match &t.token {
            Token::SingleQuotedString(s) => Ok(s.clone()),
            other => Err(self.error_at(&t, format!("expected {what} as a string literal ('...'), found {other}"))),
        }
    }

    fn ident(&mut self) -> Result<Ident, SqlError> {
        let r = self.p.parse_identifier();
        self.lift(r)
    }

    fn object_name(&mut self) -> Result<ObjectName, SqlError> {
        let r = self.p.parse_object_name(false);
        self.lift(r)
    }

    fn expr(&mut self) -> Result<Expr, SqlError> {
        let r = self.p.parse_expr();
        self.lift(r)
    }

    fn query(&mut self) -> Result<Box<sqlparser::ast::Query>, SqlError> {
        let r = self.p.parse_query();
        self.lift(r)
    }

    /// `( ident, ... )`.
    fn ident_list(&mut self) -> Result<Vec<Ident>, SqlError> {
        self.expect_token(&Token::LParen)?;
        let mut out = vec![self.ident()?];
        while self.p.consume_token(&Token::Comma) {
            out.push(self.ident()?);
        }
        self.expect_token(&Token::RParen)?;
        Ok(out)
    }

    fn if_not_exists(&mut self) -> bool {
        self.eat(&["IF", "NOT", "EXISTS"])
    }

    fn statement(&mut self) -> Result<Statement, SqlError> {
        let first = self.p.peek_token();
        if self.eat(&["EXECUTE", "STATEMENT", "SET"]) {
            self.expect(&["BEGIN"])?;
            return self.statement_set();
        }
        if self.eat(&["BEGIN", "STATEMENT", "SET"]) {
            self.expect_token(&Token::SemiColon)?;
            return self.statement_set();
        }
        if self.eat(&["EXPLAIN"]) {
            return self.explain();
        }
        if self.eat(&["CREATE"]) {
            return self.create();
        }
        if self.eat(&["DROP"]) {
            return self.drop();
        }
        if self.eat(&["SET"]) {
            return self.set();
        }
        if self.eat(&["RESET"]) {
            let key = if matches!(self.p.peek_token().token, Token::SemiColon | Token::EOF) {
                None
            } else {
                Some(self.option_key()?)
            };
            return Ok(Statement::Reset(key));
        }
        if self.peek_is("INSERT") {
            return Ok(Statement::Insert(self.insert()?));
        }
        if self.peek_is("SELECT") || self.peek_is("WITH") || self.peek_is("VALUES") || first.token == Token::LParen {
            return Ok(Statement::Query(self.query()?));
        }
        if let Some(word) = UNSUPPORTED.iter().find(|w| self.peek_is(w)) {
            return Err(self.error_at(&first, format!("{word} statements are not supported (yet) by ferroflink")));
        }
        Err(self.error_at(
            &first,
            format!(
                "expected a statement (CREATE, DROP, SET, RESET, INSERT, EXECUTE STATEMENT SET, EXPLAIN or a query), \
                 found {}",
                first.token
            ),
        ))
    }

    /// The inserts of a statement set up to `END`.
    fn statement_set(&mut self) -> Result<Statement, SqlError> {
        let mut inserts = Vec::new();
        loop {
            while self.p.consume_token(&Token::SemiColon) {}
            if self.eat(&["END"]) {
                break;
            }
            if self.p.peek_token().token == Token::EOF {
                return Err(self.error("the statement set has no END"));
            }
            if !self.peek_is("INSERT") {
                return Err(self.error(format!(
                    "a statement set holds INSERT statements only, found {}",
                    self.p.peek_token().token
                )));
            }
            inserts.push(self.insert()?);
            let next = self.p.peek_token();
            if next.token != Token::SemiColon && !self.peek_is("END") {
                return Err(self.error_at(&next, format!("expected ';' after the INSERT, found {}", next.token)));
            }
        }
        if inserts.is_empty() {
            return Err(self.error("the statement set is empty: put INSERT statements between BEGIN and END"));
        }
        Ok(Statement::StatementSet(inserts))
    }

    fn explain(&mut self) -> Result<Statement, SqlError> {
        let mut details = Vec::new();
        if !self.eat(&["PLAN", "FOR"]) {
            const DETAILS: &[&str] = &["ESTIMATED_COST", "CHANGELOG_MODE", "JSON_EXECUTION_PLAN", "PLAN_ADVICE"];
            while let Some(d) = DETAILS.iter().find(|d| self.peek_is(d)) {
                self.p.next_token();
                details.push(d.to_string());
                if !self.p.consume_token(&Token::Comma) {
                    break;
                }
            }
        }
        let inner = self.statement()?;
        match inner {
            Statement::Query(_) | Statement::Insert(_) | Statement::StatementSet(_) => {
                Ok(Statement::Explain { details, statement: Box::new(inner) })
            }
            _ => Err(self.error("EXPLAIN takes a query, an INSERT or a statement set")),
        }
    }

    fn create(&mut self) -> Result<Statement, SqlError> {
        let temporary = self.eat(&["TEMPORARY"]);
        let system = temporary && self.eat(&["SYSTEM"]);
        if self.eat(&["FUNCTION"]) {
            let if_not_exists = self.if_not_exists();
            let name = self.object_name()?;
            self.expect(&["AS"])?;
            let identifier = self.string("the function's registered name")?;
            let language = if self.eat(&["LANGUAGE"]) { Some(self.ident()?.value.to_uppercase()) } else { None };
            if self.eat(&["USING"]) {
                return Err(self
                    .error("CREATE FUNCTION ... USING JAR is not supported: functions are registered by the binary"));
            }
            return Ok(Statement::CreateFunction { name, temporary, system, if_not_exists, identifier, language });
        }
        if system {
            return Err(self.error("TEMPORARY SYSTEM is for functions: CREATE TEMPORARY SYSTEM FUNCTION"));
        }
        if self.eat(&["TABLE"]) {
            return self.create_table(temporary);
        }
        if self.eat(&["VIEW"]) {
            let if_not_exists = self.if_not_exists();
            let name = self.object_name()?;
            let columns = if self.p.peek_token().token == Token::LParen { self.ident_list()? } else { Vec::new() };
            if self.eat(&["COMMENT"]) {
                self.string("the comment")?;
            }
            self.expect(&["AS"])?;
            let query = self.query()?;
            return Ok(Statement::CreateView { name, temporary, if_not_exists, columns, query });
        }
        for what in ["CATALOG", "DATABASE", "MATERIALIZED", "MODEL"] {
            if self.peek_is(what) {
                return Err(self.error(format!("CREATE {what} is not supported (yet) by ferroflink")));
            }
        }
        Err(self.error(format!("expected TABLE, VIEW or FUNCTION after CREATE, found {}", self.p.peek_token().token)))
    }

    fn create_table(&mut self, temporary: bool) -> Result<Statement, SqlError> {
        let if_not_exists = self.if_not_exists();
        let name = self.object_name()?;
        if self.peek_is("AS") || self.peek_is("LIKE") {
            return Err(self.error("CREATE TABLE ... AS and ... LIKE are not supported (yet): declare the columns"));
        }
        let mut t = CreateTable {
            name,
            temporary,
            if_not_exists,
            columns: Vec::new(),
            watermark: None,
            primary_key: None,
            partitioned_by: Vec::new(),
            comment: None,
            options: Vec::new(),
        };
        self.expect_token(&Token::LParen)?;
        loop {
            self.table_element(&mut t)?;
            if !self.p.consume_token(&Token::Comma) {
                break;
            }
        }
        self.expect_token(&Token::RParen)?;
        if self.eat(&["COMMENT"]) {
            t.comment = Some(self.string("the comment")?);
        }
        if self.eat(&["PARTITIONED", "BY"]) {
            t.partitioned_by = self.ident_list()?;
        }
        if self.eat(&["WITH"]) {
            t.options = self.options()?;
        }
        if self.peek_is("LIKE") {
            return Err(self.error("CREATE TABLE ... LIKE is not supported (yet): declare the columns and options"));
        }
        Ok(Statement::CreateTable(Box::new(t)))
    }

    fn table_element(&mut self, t: &mut CreateTable) -> Result<(), SqlError> {
        let at = self.p.peek_token();
        if self.eat(&["WATERMARK", "FOR"]) {
            if t.watermark.is_some() {
                return Err(self.error_at(&at, "a table has one WATERMARK"));
            }
            let column = self.ident()?;
            self.expect(&["AS"])?;
            t.watermark = Some(Watermark { column, expr: self.expr()? });
            return Ok(());
        }
        if self.eat(&["CONSTRAINT"]) {
            self.ident()?;
            if !self.peek_is("PRIMARY") {
                return Err(self.error("expected PRIMARY KEY after CONSTRAINT name (the only constraint Flink has)"));
            }
        }
        if self.eat(&["PRIMARY", "KEY"]) {
            let columns = self.ident_list()?;
            self.not_enforced()?;
            return self.set_primary_key(t, &at, columns);
        }
        if self.peek_is("UNIQUE") || self.peek_is("CHECK") || self.peek_is("FOREIGN") {
            return Err(self.error("Flink tables have no UNIQUE, CHECK or FOREIGN KEY constraints; PRIMARY KEY (...) NOT ENFORCED is the one"));
        }
        let name = self.ident()?;
        if t.columns.iter().any(|c| c.name.value == name.value) {
            return Err(self.error_at(&at, format!("column `{}` is declared twice", name.value)));
        }
        let kind = if self.eat(&["AS"]) {
            ColumnKind::Computed(Box::new(self.expr()?))
        } else {
            let ty = self.data_type()?;
            if self.eat(&["METADATA"]) {
                let key = if self.eat(&["FROM"]) { Some(self.string("the metadata key")?) } else { None };
                ColumnKind::Metadata { ty, key, virtual_: self.eat(&["VIRTUAL"]) }
            } else {
                ColumnKind::Physical(ty)
            }
        };
        if self.eat(&["PRIMARY", "KEY"]) {
            self.not_enforced()?;
            self.set_primary_key(t, &at, vec![name.clone()])?;
        }
        let comment = if self.eat(&["COMMENT"]) { Some(self.string("the comment")?) } else { None };
        t.columns.push(Column { name, kind, comment });
        Ok(())
    }

    fn not_enforced(&mut self) -> Result<(), SqlError> {
        if self.eat(&["NOT", "ENFORCED"]) {
            return Ok(());
        }
        Err(self.error(
            "a primary key must be declared NOT ENFORCED: Flink does not own the data, so it checks no constraint \
             (write PRIMARY KEY (...) NOT ENFORCED)",
        ))
    }

    fn set_primary_key(&self, t: &mut CreateTable, at: &TokenWithSpan, columns: Vec<Ident>) -> Result<(), SqlError> {
        if t.primary_key.is_some() {
            return Err(self.error_at(at, "a table has one PRIMARY KEY"));
        }
        t.primary_key = Some(columns);
        Ok(())
    }

    /// `( 'key' = 'value', ... )`.
    fn options(&mut self) -> Result<Vec<(String, String)>, SqlError> {
        self.expect_token(&Token::LParen)?;
        let mut out: Vec<(String, String)> = Vec::new();
        if self.p.consume_token(&Token::RParen) {
            return Ok(out);
        }
        loop {
            let at = self.p.peek_token();
            let key = self.string("the option's key")?;
            self.expect_token(&Token::Eq)?;
            let value = self.string("the option's value")?;
            if out.iter().any(|(k, _)| *k == key) {
                return Err(self.error_at(&at, format!("option '{key}' is given twice")));
            }
            out.push((key, value));
            if !self.p.consume_token(&Token::Comma) {
                break;
            }
        }
        self.expect_token(&Token::RParen)?;
        Ok(out)
    }

    fn drop(&mut self) -> Result<Statement, SqlError> {
        self.eat(&["TEMPORARY"]);
        self.eat(&["SYSTEM"]);
        let kind = if self.eat(&["TABLE"]) {
            DropKind::Table
        } else if self.eat(&["VIEW"]) {
            DropKind::View
        } else if self.eat(&["FUNCTION"]) {
            DropKind::Function
        } else {
            return Err(
                self.error(format!("expected TABLE, VIEW or FUNCTION after DROP, found {}", self.p.peek_token().token))
            );
        };
        let if_exists = self.eat(&["IF", "EXISTS"]);
        Ok(Statement::Drop { kind, name: self.object_name()?, if_exists })
    }

    /// An option key: `'a.b'` or, unquoted, `a.b-c`.
    fn option_key(&mut self) -> Result<String, SqlError> {
        let t = self.p.peek_token();
        if let Token::SingleQuotedString(s) = t.token {
            self.p.next_token();
            return Ok(s);
        }
        let mut key = String::new();
        loop {
            let t = self.p.next_token();
            match &t.token {
                Token::Word(w) => key.push_str(&w.value),
                Token::Period => key.push('.'),
                Token::Minus => key.push('-'),
                Token::Number(n, _) => key.push_str(n),
                other => return Err(self.error_at(&t, format!("expected an option key, found {other}"))),
            }
            if matches!(self.p.peek_token().token, Token::Eq | Token::SemiColon | Token::EOF) {
                return Ok(key);
            }
        }
    }

    fn set(&mut self) -> Result<Statement, SqlError> {
        if matches!(self.p.peek_token().token, Token::SemiColon | Token::EOF) {
            return Ok(Statement::Set(None));
        }
        let key = self.option_key()?;
        self.expect_token(&Token::Eq)?;
        let t = self.p.next_token();
        let value = match &t.token {
            Token::SingleQuotedString(s) | Token::Number(s, _) => s.clone(),
            Token::Word(w) => w.value.clone(),
            other => return Err(self.error_at(&t, format!("expected the value of '{key}' ('...'), found {other}"))),
        };
        Ok(Statement::Set(Some((key, value))))
    }

    fn insert(&mut self) -> Result<Insert, SqlError> {
        self.expect(&["INSERT"])?;
        let overwrite = if self.eat(&["OVERWRITE"]) {
            true
        } else {
            self.expect(&["INTO"])?;
            false
        };
        let table = self.object_name()?;
        if self.peek_is("PARTITION") {
            return Err(self.error("INSERT ... PARTITION (...) is not supported (yet): write the partition columns"));
        }
        // `(a, b) SELECT ...` lists columns; `(SELECT ...)` is the query.
        let columns = if self.p.peek_token().token == Token::LParen
            && !(self.peek_nth_is(1, "SELECT") || self.peek_nth_is(1, "WITH") || self.peek_nth_is(1, "VALUES"))
        {
            self.ident_list()?
        } else {
            Vec::new()
        };
        Ok(Insert { table, overwrite, columns, query: self.query()? })
    }

    /// A Flink data type with its nullability.
    fn data_type(&mut self) -> Result<Type, SqlError> {
        let mut ty = self.base_type()?;
        // `t ARRAY`, `t MULTISET` (suffix forms), then NULL / NOT NULL.
        loop {
            if self.eat(&["ARRAY"]) {
                ty = Type { data: DataType::Array(Box::new(ty)), nullable: true };
            } else if self.eat(&["MULTISET"]) {
                ty = Type { data: DataType::Multiset(Box::new(ty)), nullable: true };
            } else {
                break;
            }
        }
        if self.eat(&["NOT", "NULL"]) {
            ty.nullable = false;
        } else {
            self.eat(&["NULL"]);
        }
        Ok(ty)
    }

    /// `(n)`, if there.
    fn length(&mut self, what: &str) -> Result<Option<u64>, SqlError> {
        if !self.p.consume_token(&Token::LParen) {
            return Ok(None);
        }
        let n = self.number(what)?;
        self.expect_token(&Token::RParen)?;
        Ok(Some(n))
    }

    fn number(&mut self, what: &str) -> Result<u64, SqlError> {
        let t = self.p.next_token();
        match &t.token {
            Token::Number(n, _) => {
                n.parse().map_err(|_| self.error_at(&t, format!("{what} must be a whole number, found {n}")))
            }
            other => Err(self.error_at(&t, format!("expected {what}, found {other}"))),
        }
    }

    fn precision(&mut self, what: &str, default: u8, max: u8) -> Result<u8, SqlError> {
        let at = self.p.peek_token();
        let p = self.length(what)?.unwrap_or(default as u64);
        if p > max as u64 {
            return Err(self.error_at(&at, format!("{what} must be between 0 and {max}, found {p}")));
        }
        Ok(p as u8)
    }

    fn char_length(&mut self, kind: &str) -> Result<u32, SqlError> {
        let at = self.p.peek_token();
        let n = self.length("the length")?.unwrap_or(1);
        if n == 0 || n > MAX_LENGTH as u64 {
            return Err(
                self.error_at(&at, format!("the length of {kind} must be between 1 and {MAX_LENGTH}, found {n}"))
            );
        }
        Ok(n as u32)
    }

    /// `>`, also when the tokenizer read `>>` (closing two nested types at once).
    fn close_angle(&mut self, pending: &mut bool) -> Result<(), SqlError> {
        if *pending {
            *pending = false;
            return Ok(());
        }
        let t = self.p.next_token();
        match &t.token {
            Token::Gt => Ok(()),
            Token::ShiftRight => {
                *pending = true;
                Ok(())
            }
            other => Err(self.error_at(&t, format!("expected '>', found {other}"))),
        }
    }

    fn base_type(&mut self) -> Result<Type, SqlError> {
        let mut pending = false;
        let ty = self.type_with_angles(&mut pending)?;
        if pending {
            return Err(self.error("unbalanced '>' in the type"));
        }
        Ok(ty)
    }

    /// A type whose closing `>` may be half of a `>>` shared with the enclosing type.
    fn type_with_angles(&mut self, pending: &mut bool) -> Result<Type, SqlError> {
        if self.depth >= RECURSION_LIMIT {
            return Err(self.error(format!("the type nests more than {RECURSION_LIMIT} levels deep")));
        }
        self.depth += 1;
        let ty = self.nested_type(pending);
        self.depth -= 1;
        ty
    }

    fn nested_type(&mut self, pending: &mut bool) -> Result<Type, SqlError> {
        let t = self.p.next_token();
        let Token::Word(w) = &t.token else {
            return Err(self.error_at(&t, format!("expected a data type, found {}", t.token)));
        };
        let name = w.value.to_uppercase();
        let data = match name.as_str() {
            "BOOLEAN" | "BOOL" => DataType::Boolean,
            "TINYINT" => DataType::TinyInt,
            "SMALLINT" => DataType::SmallInt,
            "INT" | "INTEGER" => DataType::Int,
            "BIGINT" => DataType::BigInt,
            "FLOAT" | "REAL" => DataType::Float,
            "DOUBLE" => {
                self.eat(&["PRECISION"]);
                DataType::Double
            }
            "DECIMAL" | "DEC" | "NUMERIC" => {
                let at = self.p.peek_token();
                let (precision, scale) = if self.p.consume_token(&Token::LParen) {
                    let p = self.number("the precision")?;
                    let s = if self.p.consume_token(&Token::Comma) { self.number("the scale")? } else { 0 };
                    self.expect_token(&Token::RParen)?;
                    (p, s)
                } else {
                    (10, 0)
                };
                if !(1..=38).contains(&precision) || scale > precision {
                    return Err(self.error_at(
                        &at,
                        format!("DECIMAL({precision}, {scale}): the precision must be 1 to 38 and the scale 0 to the precision"),
                    ));
                }
                DataType::Decimal { precision: precision as u8, scale: scale as u8 }
            }
            "CHAR" | "CHARACTER" => {
                if self.eat(&["VARYING"]) {
                    DataType::VarChar(self.char_length("VARCHAR")?)
                } else {
                    DataType::Char(self.char_length("CHAR")?)
                }
            }
            "VARCHAR" => DataType::VarChar(self.char_length("VARCHAR")?),
            "STRING" => DataType::VarChar(MAX_LENGTH),
            "BINARY" => DataType::Binary(self.char_length("BINARY")?),
            "VARBINARY" => DataType::VarBinary(self.char_length("VARBINARY")?),
            "BYTES" => DataType::VarBinary(MAX_LENGTH),
            "DATE" => DataType::Date,
            "TIME" => {
                let p = self.precision("the precision of TIME", 0, 9)?;
                self.eat(&["WITHOUT", "TIME", "ZONE"]);
                DataType::Time(p)
            }
            "TIMESTAMP" => {
                let p = self.precision("the precision of TIMESTAMP", 6, 9)?;
                if self.eat(&["WITH", "LOCAL", "TIME", "ZONE"]) {
                    DataType::TimestampLtz(p)
                } else if self.peek_is("WITH") && self.peek_nth_is(1, "TIME") {
                    return Err(self.error(
                        "TIMESTAMP WITH TIME ZONE is not a Flink type: use TIMESTAMP_LTZ (WITH LOCAL TIME ZONE)",
                    ));
                } else {
                    self.eat(&["WITHOUT", "TIME", "ZONE"]);
                    DataType::Timestamp(p)
                }
            }
            "TIMESTAMP_LTZ" => DataType::TimestampLtz(self.precision("the precision of TIMESTAMP_LTZ", 6, 9)?),
            "INTERVAL" => self.interval_type()?,
            "ARRAY" | "MULTISET" => {
                self.expect_token(&Token::Lt)?;
                let element = self.type_with_angles(pending)?;
                let element = self.nullability(element)?;
                self.close_angle(pending)?;
                if name == "ARRAY" { DataType::Array(Box::new(element)) } else { DataType::Multiset(Box::new(element)) }
            }
            "MAP" => {
                self.expect_token(&Token::Lt)?;
                let key = self.type_with_angles(pending)?;
                let key = self.nullability(key)?;
                self.expect_token(&Token::Comma)?;
                let value = self.type_with_angles(pending)?;
                let value = self.nullability(value)?;
                self.close_angle(pending)?;
                DataType::Map(Box::new(key), Box::new(value))
            }
            "ROW" => self.row_type(pending)?,
            "RAW" | "STRUCTURED" | "SYMBOL" | "VARIANT" | "DESCRIPTOR" => {
                return Err(self.error_at(&t, format!("the data type {name} is not supported (yet) by ferroflink")));
            }
            _ => {
                return Err(self.error_at(&t, format!(
                    "unknown data type {}: Flink's types are BOOLEAN, TINYINT, SMALLINT, INT, BIGINT, FLOAT, DOUBLE, \
                     DECIMAL, CHAR, VARCHAR, STRING, BINARY, VARBINARY, BYTES, DATE, TIME, TIMESTAMP, TIMESTAMP_LTZ, \
                     INTERVAL, ARRAY, MULTISET, MAP and ROW",
                    w.value
                )));
            }
        };
        Ok(Type { data, nullable: true })
    }

    /// `NOT NULL` / `NULL` after a nested type.
    fn nullability(&mut self, mut ty: Type) -> Result<Type, SqlError> {
        if self.eat(&["NOT", "NULL"]) {
            ty.nullable = false;
        } else {
            self.eat(&["NULL"]);
        }
        Ok(ty)
    }

    /// `ROW<name type [COMMENT '...'], ...>` or `ROW(name type, ...)`.
    fn row_type(&mut self, pending: &mut bool) -> Result<DataType, SqlError> {
        let angle = if self.p.consume_token(&Token::Lt) {
            true
        } else if self.p.consume_token(&Token::LParen) {
            false
        } else {
            return Err(self.error("expected ROW<name type, ...> or ROW(name type, ...)"));
        };
        let mut fields: Vec<Field> = Vec::new();
        let empty =
            if angle { self.p.peek_token().token == Token::Gt } else { self.p.peek_token().token == Token::RParen };
        if !empty {
            loop {
                let at = self.p.peek_token();
                let name = self.ident()?.value;
                if fields.iter().any(|f| f.name == name) {
                    return Err(self.error_at(&at, format!("field `{name}` appears twice in the ROW")));
                }
                let ty = self.type_with_angles(pending)?;
                let ty = self.nullability(ty)?;
                if self.eat(&["COMMENT"]) {
                    self.string("the comment")?;
                }
                fields.push(Field { name, ty });
                if *pending || !self.p.consume_token(&Token::Comma) {
                    break;
                }
            }
        }
        if angle {
            self.close_angle(pending)?;
        } else {
            if *pending {
                return Err(self.error("unbalanced '>' in the type"));
            }
            self.expect_token(&Token::RParen)?;
        }
        Ok(DataType::Row(fields))
    }

    /// `INTERVAL unit[(p)] [TO unit[(p)]]`.
    fn interval_type(&mut self) -> Result<DataType, SqlError> {
        const UNITS: &[&str] = &["YEAR", "MONTH", "DAY", "HOUR", "MINUTE", "SECOND"];
        let mut units = Vec::new();
        loop {
            let Some(unit) = UNITS.iter().find(|u| self.peek_is(u)) else {
                return Err(self.error("expected an interval unit (YEAR, MONTH, DAY, HOUR, MINUTE or SECOND)"));
            };
            self.p.next_token();
            self.length("the interval's precision")?;
            units.push(*unit);
            if units.len() == 2 || !self.eat(&["TO"]) {
                break;
            }
        }
        let year_month = units.iter().all(|u| *u == "YEAR" || *u == "MONTH");
        let day_time = units.iter().all(|u| *u != "YEAR" && *u != "MONTH");
        match (year_month, day_time) {
            (true, _) => Ok(DataType::IntervalYearMonth),
            (_, true) => Ok(DataType::IntervalDayTime),
            _ => Err(self.error("an interval is of years and months or of days to seconds, not both")),
        }
    }
}

/// Parses a Flink data type, such as `ROW<a INT NOT NULL, b ARRAY<STRING>>`.
pub fn parse_type(sql: &str) -> Result<Type, SqlError> {
    let dialect = FlinkDialect;
    let mut p = ScriptParser::new(&dialect, sql)?;
    let ty = p.data_type()?;
    let next = p.p.peek_token();
    if next.token != Token::EOF {
        return Err(p.error_at(&next, format!("unexpected {} after the type", next.token)));
    }
    Ok(ty)
}
