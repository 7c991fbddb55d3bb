//! The statements of a Flink SQL script and Flink's data types, as parsed. Expressions and queries
//! are sqlparser's ([`Expr`], [`Query`]); the statements around them are Flink's own.

use sqlparser::ast::{Expr, Ident, ObjectName, Query};
use std::fmt;

/// One statement of a script and where it starts.
#[derive(Clone, Debug, PartialEq)]
pub struct Located {
    /// Line of its first token, from 1.
    pub line: u64,
    /// Column of its first token, from 1.
    pub column: u64,
    /// The statement.
    pub statement: Statement,
}

/// A statement of Flink's SQL client.
#[derive(Clone, Debug, PartialEq)]
pub enum Statement {
    /// `CREATE [TEMPORARY] TABLE`.
    CreateTable(Box<CreateTable>),
    /// `CREATE [TEMPORARY] VIEW [IF NOT EXISTS] name [(columns)] AS query`.
    CreateView {
        /// The view's name.
        name: ObjectName,
        /// `TEMPORARY`.
        temporary: bool,
        /// `IF NOT EXISTS`.
        if_not_exists: bool,
        /// Names given to the query's columns, if any.
        columns: Vec<Ident>,
        /// What it selects.
        query: Box<Query>,
    },
    /// `CREATE [TEMPORARY [SYSTEM]] FUNCTION [IF NOT EXISTS] name AS 'identifier' [LANGUAGE l]`:
    /// binds `name` to a function the binary registers under `identifier`.
    CreateFunction {
        /// The SQL name.
        name: ObjectName,
        /// `TEMPORARY` or `TEMPORARY SYSTEM`.
        temporary: bool,
        /// `TEMPORARY SYSTEM`.
        system: bool,
        /// `IF NOT EXISTS`.
        if_not_exists: bool,
        /// The registered name (Flink: the class name).
        identifier: String,
        /// `LANGUAGE`, upper case, if given.
        language: Option<String>,
    },
    /// `DROP [TEMPORARY] TABLE|VIEW|FUNCTION [IF EXISTS] name`.
    Drop {
        /// What is dropped.
        kind: DropKind,
        /// Its name.
        name: ObjectName,
        /// `IF EXISTS`.
        if_exists: bool,
    },
    /// `SET 'key' = 'value'`, or `SET` alone (lists the options set).
    Set(Option<(String, String)>),
    /// `RESET 'key'`, or `RESET` alone (all keys).
    Reset(Option<String>),
    /// `INSERT INTO|OVERWRITE`.
    Insert(Insert),
    /// `EXECUTE STATEMENT SET BEGIN ...; END` or `BEGIN STATEMENT SET; ...; END`: one job.
    StatementSet(Vec<Insert>),
    /// `EXPLAIN [PLAN FOR | detail, ...] statement`.
    Explain {
        /// `ESTIMATED_COST`, `CHANGELOG_MODE`, `JSON_EXECUTION_PLAN`, `PLAN_ADVICE`, upper case.
        details: Vec<String>,
        /// What is explained: a query, an insert or a statement set.
        statement: Box<Statement>,
    },
    /// A query whose rows the client prints.
    Query(Box<Query>),
}

/// What a `DROP` drops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropKind {
    /// A table.
    Table,
    /// A view.
    View,
    /// A function.
    Function,
}

/// `INSERT INTO|OVERWRITE table [(columns)] query`.
#[derive(Clone, Debug, PartialEq)]
pub struct Insert {
    /// The sink table.
    pub table: ObjectName,
    /// `OVERWRITE`.
    pub overwrite: bool,
    /// The columns written, if listed.
    pub columns: Vec<Ident>,
    /// The rows.
    pub query: Box<Query>,
}

/// `CREATE [TEMPORARY] TABLE [IF NOT EXISTS] name (...) [COMMENT] [PARTITIONED BY (...)] WITH (...)`.
#[derive(Clone, Debug, PartialEq)]
pub struct CreateTable {
    /// The table's name.
    pub name: ObjectName,
    /// `TEMPORARY`.
    pub temporary: bool,
    /// `IF NOT EXISTS`.
    pub if_not_exists: bool,
    /// Its columns, in order.
    pub columns: Vec<Column>,
    /// `WATERMARK FOR column AS expression`.
    pub watermark: Option<Watermark>,
    /// `PRIMARY KEY (...) NOT ENFORCED`, on a column or the table.
    pub primary_key: Option<Vec<Ident>>,
    /// `PARTITIONED BY (...)`.
    pub partitioned_by: Vec<Ident>,
    /// `COMMENT '...'`.
    pub comment: Option<String>,
    /// `WITH ('key' = 'value', ...)`, in order.
    pub options: Vec<(String, String)>,
}

/// A column of a table.
#[derive(Clone, Debug, PartialEq)]
pub struct Column {
    /// Its name.
    pub name: Ident,
    /// What it is.
    pub kind: ColumnKind,
    /// `COMMENT '...'`.
    pub comment: Option<String>,
}

/// Physical, computed or metadata.
#[derive(Clone, Debug, PartialEq)]
pub enum ColumnKind {
    /// `name type`: read from and written to the connector.
    Physical(Type),
    /// `name AS expression`: computed on read, not written.
    Computed(Box<Expr>),
    /// `name type METADATA [FROM 'key'] [VIRTUAL]`: the connector's metadata.
    Metadata {
        /// Its type.
        ty: Type,
        /// The metadata key, if not the column's name.
        key: Option<String>,
        /// `VIRTUAL`: read only.
        virtual_: bool,
    },
}

/// `WATERMARK FOR column AS expression`.
#[derive(Clone, Debug, PartialEq)]
pub struct Watermark {
    /// The rowtime column.
    pub column: Ident,
    /// The watermark of a row.
    pub expr: Expr,
}

/// A type with its nullability.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Type {
    /// The type.
    pub data: DataType,
    /// Whether NULL is a value of it (`NOT NULL` makes it false).
    pub nullable: bool,
}

/// Length of `STRING` (`VARCHAR(2147483647)`) and `BYTES` (`VARBINARY(2147483647)`).
pub const MAX_LENGTH: u32 = i32::MAX as u32;

/// Flink's data types.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum DataType {
    /// `BOOLEAN`.
    Boolean,
    /// `TINYINT`: 1 byte.
    TinyInt,
    /// `SMALLINT`: 2 bytes.
    SmallInt,
    /// `INT`, `INTEGER`: 4 bytes.
    Int,
    /// `BIGINT`: 8 bytes.
    BigInt,
    /// `FLOAT`, `REAL`: 4-byte floating point.
    Float,
    /// `DOUBLE [PRECISION]`: 8-byte floating point.
    Double,
    /// `DECIMAL(p, s)`, `DEC`, `NUMERIC`; 1 ≤ p ≤ 38, 0 ≤ s ≤ p.
    Decimal {
        /// Digits in all.
        precision: u8,
        /// Digits after the point.
        scale: u8,
    },
    /// `CHAR(n)`.
    Char(u32),
    /// `VARCHAR(n)`; `STRING` is `VARCHAR(2147483647)`.
    VarChar(u32),
    /// `BINARY(n)`.
    Binary(u32),
    /// `VARBINARY(n)`; `BYTES` is `VARBINARY(2147483647)`.
    VarBinary(u32),
    /// `DATE`.
    Date,
    /// `TIME(p)`.
    Time(u8),
    /// `TIMESTAMP(p) [WITHOUT TIME ZONE]`.
    Timestamp(u8),
    /// `TIMESTAMP_LTZ(p)`, `TIMESTAMP(p) WITH LOCAL TIME ZONE`.
    TimestampLtz(u8),
    /// `INTERVAL YEAR TO MONTH` and the intervals of years or months.
    IntervalYearMonth,
    /// `INTERVAL DAY TO SECOND(p)` and the intervals of days to seconds.
    IntervalDayTime,
    /// `ARRAY<t>`, `t ARRAY`.
    Array(Box<Type>),
    /// `MULTISET<t>`, `t MULTISET`.
    Multiset(Box<Type>),
    /// `MAP<k, v>`.
    Map(Box<Type>, Box<Type>),
    /// `ROW<name type, ...>`, `ROW(name type, ...)`.
    Row(Vec<Field>),
    /// The type of an untyped `NULL` literal, until the context gives it one.
    Null,
}

impl DataType {
    /// Whether values of this type are numbers (exact or approximate).
    pub fn is_numeric(&self) -> bool {
        matches!(
            self,
            DataType::TinyInt
                | DataType::SmallInt
                | DataType::Int
                | DataType::BigInt
                | DataType::Float
                | DataType::Double
                | DataType::Decimal { .. }
        )
    }
}

/// A field of a `ROW`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Field {
    /// Its name.
    pub name: String,
    /// Its type.
    pub ty: Type,
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.data)?;
        if !self.nullable {
            write!(f, " NOT NULL")?;
        }
        Ok(())
    }
}

/// Flink's summary form (`STRING`, `TIMESTAMP(3)`, `ARRAY<INT>`, ``ROW<`a` INT>``).
impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataType::Boolean => write!(f, "BOOLEAN"),
            DataType::TinyInt => write!(f, "TINYINT"),
            DataType::SmallInt => write!(f, "SMALLINT"),
            DataType::Int => write!(f, "INT"),
            DataType::BigInt => write!(f, "BIGINT"),
            DataType::Float => write!(f, "FLOAT"),
            DataType::Double => write!(f, "DOUBLE"),
            DataType::Decimal { precision, scale } => write!(f, "DECIMAL({precision}, {scale})"),
            DataType::Char(n) => write!(f, "CHAR({n})"),
            DataType::VarChar(MAX_LENGTH) => write!(f, "STRING"),
            DataType::VarChar(n) => write!(f, "VARCHAR({n})"),
            DataType::Binary(n) => write!(f, "BINARY({n})"),
            DataType::VarBinary(MAX_LENGTH) => write!(f, "BYTES"),
            DataType::VarBinary(n) => write!(f, "VARBINARY({n})"),
            DataType::Date => write!(f, "DATE"),
            DataType::Time(p) => write!(f, "TIME({p})"),
            DataType::Timestamp(p) => write!(f, "TIMESTAMP({p})"),
            DataType::TimestampLtz(p) => write!(f, "TIMESTAMP_LTZ({p})"),
            DataType::IntervalYearMonth => write!(f, "INTERVAL YEAR TO MONTH"),
            DataType::IntervalDayTime => write!(f, "INTERVAL DAY TO SECOND"),
            DataType::Array(t) => write!(f, "ARRAY<{t}>"),
            DataType::Multiset(t) => write!(f, "MULTISET<{t}>"),
            DataType::Map(k, v) => write!(f, "MAP<{k}, {v}>"),
            DataType::Null => write!(f, "NULL"),
            DataType::Row(fields) => {
                write!(f, "ROW<")?;
                for (i, field) in fields.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "`{}` {}", field.name.replace('`', "``"), field.ty)?;
                }
                write!(f, ">")
            }
        }
    }
}
