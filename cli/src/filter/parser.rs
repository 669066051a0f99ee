//! Parsing tokens into a filter expression.
//!
//! ```text
//! expr    := and ( OR and )*
//! and     := unary ( AND unary )*
//! unary   := ( NOT | '!' ) unary | primary
//! primary := '(' expr ')' | service '(' STRING ')'
//!          | error | fault | throttle | ok
//!          | (duration | responsetime | http.status) CMP NUMBER
//!          | (http.url | http.method | http.useragent | http.clientip | user) TEXTOP STRING
//!          | annotation.KEY [ CMP (STRING | NUMBER | true | false) | TEXTOP STRING ]
//! CMP     := = | != | < | <= | > | >=        TEXTOP := = | != | CONTAINS | BEGINSWITH | ENDSWITH
//! ```
//! `AND`, `OR`, `NOT` and the text operators are case-insensitive.

use super::lexer::{Tok, Token};
use super::FilterError;

/// Comparison of numbers (and of booleans, `=`/`!=` only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// Comparison of text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextOp {
    Eq,
    Ne,
    Contains,
    BeginsWith,
    EndsWith,
}

/// Trace-wide flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flag {
    Error,
    Fault,
    Throttle,
    /// None of error, fault, throttle.
    Ok,
}

/// Numeric fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumField {
    /// The whole trace, first start to last end, in seconds.
    Duration,
    /// The root entity's duration, in seconds.
    ResponseTime,
    HttpStatus,
}

/// Text fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextField {
    HttpUrl,
    HttpMethod,
    HttpUserAgent,
    HttpClientIp,
    User,
}

/// What an annotation is compared with.
#[derive(Debug, Clone, PartialEq)]
pub enum AnnotationTest {
    /// Bare `annotation.KEY`: the annotation is the boolean true.
    IsTrue,
    Number(Cmp, f64),
    Bool(Cmp, bool),
    Text(TextOp, String),
}

/// A parsed filter expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Flag(Flag),
    Number(NumField, Cmp, f64),
    Text(TextField, TextOp, String),
    Annotation(String, AnnotationTest),
    Service(String),
}

const KEYWORDS: &str = "error, fault, throttle, ok, duration, responsetime, http.status, http.url, http.method, http.useragent, http.clientip, user, annotation.KEY, service(\"name\")";

/// Deepest nesting of parentheses and NOTs accepted. Parsing and evaluating recurse once per
/// level, so without a bound a long enough expression overflows the stack and aborts.
pub const MAX_NESTING: usize = 100;
/// Most conditions in one expression: AND/OR chains make trees as deep as they are long.
pub const MAX_CONDITIONS: usize = 1000;

struct Parser<'a> {
    tokens: &'a [Token],
    next: usize,
    /// Length of the text: the position reported for "end of expression".
    end: usize,
    /// Parentheses and NOTs open around the current token.
    nesting: usize,
    conditions: usize,
}

/// Parses a whole expression.
pub fn parse(tokens: &[Token], text_len: usize) -> Result<Expr, FilterError> {
    if tokens.is_empty() {
        return Err(FilterError::new(0, "the filter expression is empty"));
    }
    let mut p = Parser {
        tokens,
        next: 0,
        end: text_len,
        nesting: 0,
        conditions: 0,
    };
    let expr = p.or()?;
    if let Some(t) = p.peek() {
        let message = match &t.tok {
            Tok::RParen => "this ')' has no matching '('".to_string(),
            other => format!("expected AND or OR before {}", other.describe()),
        };
        return Err(FilterError::new(t.start, message));
    }
    Ok(expr)
}

fn is_word(tok: &Tok, word: &str) -> bool {
    matches!(tok, Tok::Word(w) if w.eq_ignore_ascii_case(word))
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.next)
    }

    fn bump(&mut self) -> Option<&Token> {
        let t = self.tokens.get(self.next);
        self.next += 1;
        t
    }

    fn here(&self) -> usize {
        self.peek().map_or(self.end, |t| t.start)
    }

    fn found(&self) -> String {
        self.peek()
            .map_or("the end of the expression".to_string(), |t| {
                t.tok.describe()
            })
    }

    fn or(&mut self) -> Result<Expr, FilterError> {
        let mut left = self.and()?;
        while self.peek().is_some_and(|t| is_word(&t.tok, "OR")) {
            self.bump();
            let right = self.and()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, FilterError> {
        let mut left = self.unary()?;
        while self.peek().is_some_and(|t| is_word(&t.tok, "AND")) {
            self.bump();
            let right = self.unary()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, FilterError> {
        match self.peek().map(|t| &t.tok) {
            Some(Tok::Bang) => self.nested(|p| Ok(Expr::Not(Box::new(p.unary()?)))),
            Some(t) if is_word(t, "NOT") => self.nested(|p| Ok(Expr::Not(Box::new(p.unary()?)))),
            _ => self.primary(),
        }
    }

    /// Consumes the current token (a NOT or a '(') and parses what it opens, one level deeper.
    fn nested(
        &mut self,
        inner: impl FnOnce(&mut Self) -> Result<Expr, FilterError>,
    ) -> Result<Expr, FilterError> {
        if self.nesting == MAX_NESTING {
            return Err(FilterError::new(
                self.here(),
                format!("the expression nests deeper than {MAX_NESTING} levels"),
            ));
        }
        self.bump();
        self.nesting += 1;
        let expr = inner(self);
        self.nesting -= 1;
        expr
    }

    fn primary(&mut self) -> Result<Expr, FilterError> {
        let Some(token) = self.peek().cloned() else {
            return Err(FilterError::new(
                self.end,
                "expected a condition, found the end of the expression",
            ));
        };
        match &token.tok {
            Tok::LParen => self.nested(|p| p.parenthesized(&token)),
            Tok::Word(word) => {
                if self.conditions == MAX_CONDITIONS {
                    return Err(FilterError::new(
                        token.start,
                        format!("the expression has more than {MAX_CONDITIONS} conditions"),
                    ));
                }
                self.conditions += 1;
                self.bump();
                self.keyword(word, token.start)
            }
            other => Err(FilterError::new(
                token.start,
                format!("expected a condition, found {}", other.describe()),
            )),
        }
    }

    /// The inside of parentheses opened by `open`, and the closing ')'.
    fn parenthesized(&mut self, open: &Token) -> Result<Expr, FilterError> {
        let inner = self.or()?;
        match self.peek() {
            Some(Token {
                tok: Tok::RParen, ..
            }) => {
                self.bump();
                Ok(inner)
            }
            _ => Err(FilterError::new(
                self.here(),
                format!(
                    "expected ')' to close the '(' at position {}, found {}",
                    open.start + 1,
                    self.found()
                ),
            )),
        }
    }

    fn keyword(&mut self, word: &str, start: usize) -> Result<Expr, FilterError> {
        let lower = word.to_ascii_lowercase();
        if lower.starts_with("annotation.") {
            let key = &word["annotation.".len()..];
            if key.is_empty() {
                return Err(FilterError::new(
                    start,
                    "annotation. needs a key, e.g. annotation.order_id",
                ));
            }
            return self.annotation(key.to_string());
        }
        let expr = match lower.as_str() {
            "error" => Expr::Flag(Flag::Error),
            "fault" => Expr::Flag(Flag::Fault),
            "throttle" => Expr::Flag(Flag::Throttle),
            "ok" => Expr::Flag(Flag::Ok),
            "duration" => self.number(NumField::Duration, word)?,
            "responsetime" => self.number(NumField::ResponseTime, word)?,
            "http.status" => self.number(NumField::HttpStatus, word)?,
            "http.url" => self.text(TextField::HttpUrl, word)?,
            "http.method" => self.text(TextField::HttpMethod, word)?,
            "http.useragent" => self.text(TextField::HttpUserAgent, word)?,
            "http.clientip" => self.text(TextField::HttpClientIp, word)?,
            "user" => self.text(TextField::User, word)?,
            "service" => self.service()?,
            "and" | "or" => {
                return Err(FilterError::new(
                    start,
                    format!("expected a condition before {word}"),
                ))
            }
            "true" | "false" => {
                return Err(FilterError::new(
                    start,
                    format!("{word} needs a field to compare with, e.g. annotation.paid = {word}"),
                ))
            }
            _ => {
                return Err(FilterError::new(
                    start,
                    format!("unknown keyword '{word}' (known: {KEYWORDS})"),
                ))
            }
        };
        Ok(expr)
    }

    fn cmp(&mut self, field: &str) -> Result<Cmp, FilterError> {
        let op = match self.peek().map(|t| &t.tok) {
            Some(Tok::Op(op)) => *op,
            _ => {
                return Err(FilterError::new(
                    self.here(),
                    format!(
                        "expected a comparison (=, !=, <, <=, >, >=) after {field}, found {}",
                        self.found()
                    ),
                ))
            }
        };
        self.bump();
        Ok(match op {
            "=" => Cmp::Eq,
            "!=" => Cmp::Ne,
            "<" => Cmp::Lt,
            "<=" => Cmp::Le,
            ">" => Cmp::Gt,
            _ => Cmp::Ge,
        })
    }

    fn number(&mut self, field: NumField, word: &str) -> Result<Expr, FilterError> {
        let cmp = self.cmp(word)?;
        match self.peek().map(|t| &t.tok) {
            Some(Tok::Num(n)) => {
                let n = *n;
                self.bump();
                Ok(Expr::Number(field, cmp, n))
            }
            _ => Err(FilterError::new(
                self.here(),
                format!("{word} compares with a number, found {}", self.found()),
            )),
        }
    }

    /// A text operator, if the next token is one.
    fn text_op(&mut self) -> Option<TextOp> {
        let op = match self.peek().map(|t| &t.tok) {
            Some(Tok::Op("=")) => TextOp::Eq,
            Some(Tok::Op("!=")) => TextOp::Ne,
            Some(t) if is_word(t, "CONTAINS") => TextOp::Contains,
            Some(t) if is_word(t, "BEGINSWITH") => TextOp::BeginsWith,
            Some(t) if is_word(t, "ENDSWITH") => TextOp::EndsWith,
            _ => return None,
        };
        self.bump();
        Some(op)
    }

    fn string(&mut self, after: &str) -> Result<String, FilterError> {
        match self.peek().map(|t| &t.tok) {
            Some(Tok::Str(s)) => {
                let s = s.clone();
                self.bump();
                Ok(s)
            }
            _ => Err(FilterError::new(
                self.here(),
                format!(
                    "{after} compares with a quoted string, found {}",
                    self.found()
                ),
            )),
        }
    }

    fn text(&mut self, field: TextField, word: &str) -> Result<Expr, FilterError> {
        let Some(op) = self.text_op() else {
            return Err(FilterError::new(
                self.here(),
                format!(
                    "expected =, !=, CONTAINS, BEGINSWITH or ENDSWITH after {word}, found {}",
                    self.found()
                ),
            ));
        };
        let value = self.string(word)?;
        Ok(Expr::Text(field, op, value))
    }

    fn annotation(&mut self, key: String) -> Result<Expr, FilterError> {
        let field = format!("annotation.{key}");
        let test = match self.peek().map(|t| &t.tok) {
            Some(Tok::Op(op)) if !matches!(*op, "=" | "!=") => {
                let cmp = self.cmp(&field)?;
                match self.peek().map(|t| &t.tok) {
                    Some(Tok::Num(n)) => {
                        let n = *n;
                        self.bump();
                        AnnotationTest::Number(cmp, n)
                    }
                    _ => {
                        return Err(FilterError::new(
                            self.here(),
                            format!(
                                "{field} {} needs a number, found {}",
                                op_text(cmp),
                                self.found()
                            ),
                        ))
                    }
                }
            }
            Some(Tok::Op(_)) => {
                let cmp = self.cmp(&field)?;
                let token = self.peek().map(|t| t.tok.clone());
                match token {
                    Some(Tok::Num(n)) => {
                        self.bump();
                        AnnotationTest::Number(cmp, n)
                    }
                    Some(Tok::Str(s)) => {
                        self.bump();
                        let op = if cmp == Cmp::Eq { TextOp::Eq } else { TextOp::Ne };
                        AnnotationTest::Text(op, s)
                    }
                    Some(Tok::Word(w)) if w == "true" || w == "false" => {
                        self.bump();
                        AnnotationTest::Bool(cmp, w == "true")
                    }
                    _ => {
                        return Err(FilterError::new(
                            self.here(),
                            format!(
                                "{field} compares with a quoted string, a number, true or false, found {}",
                                self.found()
                            ),
                        ))
                    }
                }
            }
            _ => match self.text_op() {
                Some(op) => AnnotationTest::Text(op, self.string(&field)?),
                None => AnnotationTest::IsTrue,
            },
        };
        Ok(Expr::Annotation(key, test))
    }

    fn service(&mut self) -> Result<Expr, FilterError> {
        match self.peek().map(|t| &t.tok) {
            Some(Tok::LParen) => {
                self.bump();
            }
            _ => {
                return Err(FilterError::new(
                    self.here(),
                    format!(
                        "expected '(' after service, as in service(\"name\"), found {}",
                        self.found()
                    ),
                ))
            }
        }
        let name = self.string("service(")?;
        match self.peek().map(|t| &t.tok) {
            Some(Tok::RParen) => {
                self.bump();
            }
            _ => {
                return Err(FilterError::new(
                    self.here(),
                    format!(
                        "expected ')' after the service name, found {}",
                        self.found()
                    ),
                ))
            }
        }
        if let Some(Token {
            tok: Tok::LBrace,
            start,
            ..
        }) = self.peek()
        {
            return Err(FilterError::new(
                *start,
                "service(\"name\") { … } filters are not supported; combine with AND instead",
            ));
        }
        Ok(Expr::Service(name))
    }
}

fn op_text(cmp: Cmp) -> &'static str {
    match cmp {
        Cmp::Eq => "=",
        Cmp::Ne => "!=",
        Cmp::Lt => "<",
        Cmp::Le => "<=",
        Cmp::Gt => ">",
        Cmp::Ge => ">=",
    }
}
