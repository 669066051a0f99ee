//! A useful subset of X-Ray filter expressions, for `oxray show --filter` and `oxray map
//! --filter`: `service("name")`, `duration`, `responsetime`, `annotation.KEY` comparisons,
//! `error`, `fault`, `throttle`, `ok`, `http.status`, `http.url`/`http.method`/`http.useragent`/
//! `http.clientip`/`user` text tests (`=`, `!=`, `CONTAINS`, `BEGINSWITH`, `ENDSWITH`), combined
//! with `AND`, `OR`, `NOT` (or `!`) and parentheses. Errors carry the byte position of the
//! offending token; [`FilterError::render`] draws a caret under it.

mod eval;
mod lexer;
mod parser;

pub use parser::{AnnotationTest, Cmp, Expr, Flag, NumField, TextField, TextOp};

use crate::assemble::TraceTree;

/// Why an expression was refused, and where (a byte offset into the expression).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError {
    pub position: usize,
    pub message: String,
}

impl FilterError {
    pub(crate) fn new(position: usize, message: impl Into<String>) -> FilterError {
        FilterError {
            position,
            message: message.into(),
        }
    }

    /// The message, the expression, and a caret under the offending position.
    pub fn render(&self, text: &str) -> String {
        let cut = self.position.min(text.len());
        let column = text.get(..cut).map_or(cut, |before| before.chars().count());
        format!(
            "invalid filter at column {}: {}\n  {}\n  {}^",
            column + 1,
            self.message,
            text,
            " ".repeat(column)
        )
    }
}

impl std::fmt::Display for FilterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "at position {}: {}", self.position, self.message)
    }
}

impl std::error::Error for FilterError {}

/// A parsed filter expression.
#[derive(Debug, Clone)]
pub struct Filter {
    expr: Expr,
}

impl Filter {
    /// Parses an expression.
    pub fn parse(text: &str) -> Result<Filter, FilterError> {
        let tokens = lexer::lex(text)?;
        Ok(Filter {
            expr: parser::parse(&tokens, text.len())?,
        })
    }

    pub fn expr(&self) -> &Expr {
        &self.expr
    }

    /// True when `tree` matches.
    pub fn matches(&self, tree: &TraceTree) -> bool {
        eval::matches(&self.expr, tree)
    }
}

#[cfg(test)]
mod tests;
